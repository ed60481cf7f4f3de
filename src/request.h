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

#define REQUEST_MAX_PART 1023 /* XMPP's limit for a localpart or domainpart */

enum request_command {
	REQUEST_AUTH,
	REQUEST_ISUSER,
	REQUEST_REFUSED, /* a known command this helper always answers 0 */
};

struct request {
	enum request_command command;
	const char *user, *domain, *password; /* not NUL-terminated */
	size_t userlen, domainlen, passwordlen;
};

/*
 * Splits text[0..len). Returns 0, or -1 if the request is malformed: an
 * unknown command, a missing field, a user that is empty or holds '@', ':',
 * '/', white space or a control character, or a domain likewise.
 */
int request_parse(const char *text, size_t len, struct request *);

/* 1 if s[0..len) is acceptable as a user or a domain, else 0. */
int request_valid_part(const char *s, size_t len);

#endif
