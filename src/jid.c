#include <string.h>

#include "jid.h"

/* Bytes that cannot be in either part, whatever its length. */
static int
forbidden(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '@' || c == ':' || c == '/';
}

int
jid_valid_user(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > JID_MAX_PART)
		return 0;
	for (i = 0; i < len; i++)
		if (forbidden((unsigned char)s[i]))
			return 0;
	return 1;
}

int
jid_valid_domain(const char *s, size_t len)
{
	return jid_valid_user(s, len) && memchr(s, '[', len) == NULL &&
	    memchr(s, ']', len) == NULL;
}

int
jid_set(struct jid *j, const char *user, size_t userlen, const char *domain,
    size_t domainlen)
{
	if (!jid_valid_user(user, userlen) ||
	    !jid_valid_domain(domain, domainlen))
		return -1;
	j->user = user;
	j->userlen = userlen;
	j->domain = domain;
	j->domainlen = domainlen;
	return 0;
}

int
jid_split(struct jid *j, const char *text, size_t len)
{
	const char *at = memchr(text, '@', len);

	if (at == NULL)
		return -1;
	return jid_set(j, text, (size_t)(at - text), at + 1,
	    len - (size_t)(at - text) - 1);
}
