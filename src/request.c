#include <string.h>

#include "request.h"

static const char *const refused[] = {
	"setpass", "tryregister", "removeuser", "removeuser3", "certauth",
};

/* Cuts the field before the next ':' off *s; -1 if there is no ':'. */
static int
field(const char **s, const char *end, const char **f, size_t *flen)
{
	const char *colon = memchr(*s, ':', (size_t)(end - *s));

	if (colon == NULL)
		return -1;
	*f = *s;
	*flen = (size_t)(colon - *s);
	*s = colon + 1;
	return 0;
}

static int
is_refused(const char *cmd, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strlen(refused[i]) == len && memcmp(refused[i], cmd, len) == 0)
			return 1;
	return 0;
}

int
request_parse(const char *text, size_t len, struct request *r)
{
	const char *s = text, *end = text + len, *cmd, *user, *domain;
	size_t cmdlen, userlen, domainlen;

	memset(r, 0, sizeof(*r));
	if (field(&s, end, &cmd, &cmdlen) == -1)
		return -1;
	if (cmdlen == 4 && memcmp(cmd, "auth", 4) == 0)
		r->command = REQUEST_AUTH;
	else if (cmdlen == 6 && memcmp(cmd, "isuser", 6) == 0)
		r->command = REQUEST_ISUSER;
	else if (is_refused(cmd, cmdlen))
		r->command = REQUEST_REFUSED;
	else
		return -1;
	if (r->command == REQUEST_REFUSED)
		return 0;
	if (field(&s, end, &user, &userlen) == -1)
		return -1;
	if (r->command == REQUEST_ISUSER)
		return jid_set(&r->jid, user, userlen, s, (size_t)(end - s));
	if (field(&s, end, &domain, &domainlen) == -1 ||
	    jid_set(&r->jid, user, userlen, domain, domainlen) == -1)
		return -1;
	r->password = s;
	r->passwordlen = (size_t)(end - s);
	return 0;
}
