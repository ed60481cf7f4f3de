/*
 * The identity a token is signed for: user@domain, as the XMPP server asks
 * about it (Prosody has nodeprep'd the user: "Alice" arrives as "alice").
 * The signature binds exactly these bytes, so they travel as one value.
 *
 * A part is valid when it is 1 to JID_MAX_PART bytes and holds no '@', ':',
 * '/', white space or control character (none can be carried by the helper
 * protocol, whose fields are split at ':'); a domain also holds no '[' or
 * ']', which a config section header could not name.
 */
#ifndef JID_H
#define JID_H

#include <stddef.h>

#define JID_MAX_PART 1023 /* XMPP's limit for a localpart or domainpart */
#define JID_MAX_LEN  (2 * JID_MAX_PART + 1)

struct jid {
	const char *user, *domain; /* not NUL-terminated */
	size_t userlen, domainlen;
};

/* 1 if s[0..len) may be the user part, or the domain part, else 0. */
int jid_valid_user(const char *s, size_t len);
int jid_valid_domain(const char *s, size_t len);

/* Points j at user and domain if both are valid. Returns 0, or -1. */
int jid_set(struct jid *j, const char *user, size_t userlen,
    const char *domain, size_t domainlen);

/* Splits text[0..len) at its '@' into j (pointing into text). 0 or -1. */
int jid_split(struct jid *j, const char *text, size_t len);

#endif
