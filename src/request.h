/*
 * The requests of the helper protocol, split into their fields:
 *
 *   auth:USER:DOMAIN:PASSWORD   (the password may itself contain ':')
 *   isuser:USER:DOMAIN
 *   setpass:...  tryregister:...  removeuser:...  removeuser3:...  certauth:...
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stddef.h>

#include "jid.h"

enum request_command {
	REQUEST_AUTH,
	REQUEST_ISUSER,
	REQUEST_REFUSED, /* a known command this helper always answers 0 */
};

struct request {
	enum request_command command;
	struct jid jid;	      /* for auth and isuser */
	const char *password; /* for auth; not NUL-terminated */
	size_t passwordlen;
};

/*
 * Splits text[0..len), pointing into it. Returns 0, or -1 if the request is
 * malformed: an unknown command, a missing field, or a user or domain that
 * is not valid (see jid.h).
 */
int request_parse(const char *text, size_t len, struct request *);

#endif
