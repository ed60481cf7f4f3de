/*
 * Token formats: what the helper accepts as the password of a login. Each
 * format lives in its own files and is one struct format, listed in
 * format.c's table; auth.c chooses one by the token's shape alone and
 * dispatches to it, knowing no format by name. A format owns everything
 * about its tokens: their shape, parsing and verifying them in constant
 * time where a secret is involved, their entry in the replay store and how
 * long it must be kept, and the explanation of a refusal for people.
 */
#ifndef FORMAT_H
#define FORMAT_H

#include <stddef.h>
#include <time.h>

#include "jid.h"
#include "mac.h"
#include "replay.h"

/* Room for any format's parsed token: each format asserts its own fits. */
#define FORMAT_TOKEN_MAX 384

struct token_params;
struct token_keys;
struct jwt_domain;

/* The decision on one login, whatever its format. */
enum auth_verdict {
	AUTH_ACCEPTED,
	AUTH_MALFORMED,
	AUTH_UNKNOWN_DOMAIN,
	AUTH_BAD_OTP,
	AUTH_BAD_SIGNATURE,
	AUTH_BAD_OTP_AND_SIGNATURE,
	AUTH_REPLAY,
	AUTH_STORE_FAILED,
	AUTH_INTERNAL_ERROR,
	AUTH_USER_LIMIT,
	AUTH_STORE_FULL,
	AUTH_UNKNOWN_KEY,    /* JWT: no key of the set is the token's */
	AUTH_EXPIRED,	     /* JWT: exp (and the leeway) is past */
	AUTH_NOT_YET_VALID,  /* JWT: nbf or iat ahead beyond the leeway */
	AUTH_TOO_LONG,	     /* JWT: a lifetime over jwt_max_lifetime */
	AUTH_BAD_CLAIMS,     /* JWT: sub, aud, iss or jti not as required */
	AUTH_BEHIND_MARK,    /* its step ends at or before the store's mark */
	AUTH_NOT_SEEN,	     /* isuser = seen: no login in isuser_seen_days */
};

#define AUTH_VERDICTS (AUTH_NOT_SEEN + 1)

/*
 * What a domain has for each format: NULL for a format it does not
 * accept. config.c makes one per section.
 */
struct format_keys {
	const struct token_params *params; /* every domain's */
	const struct token_keys *converse;
	const struct jwt_domain *jwt;
};

/* A token once parsed, of whichever format. */
struct format_token {
	const struct format *format;
	/*
	 * The end of the token's time step, which the replay store's
	 * high-water mark is kept in (replay.h): set by check, made without
	 * a branch, and secret until the token is accepted.
	 */
	time_t step_end;
	/* The format's own parsed token, which only that format reads. */
	union {
		max_align_t align;
		unsigned char bytes[FORMAT_TOKEN_MAX];
	} parsed;
};

struct format {
	const char *name; /* for people: "collective.converse" */

	/* Whether text has this format's shape; looks at nothing else. */
	int (*shaped)(const char *text, size_t len);
	/* Whether the domain's keys let it accept this format. */
	int (*accepted)(const struct format_keys *);
	/*
	 * Parses and verifies text for the JID at now into t: constant
	 * time in everything a secret takes part in, the verdict made
	 * without a branch on which secret check failed.
	 */
	enum auth_verdict (*check)(const struct format_keys *,
	    const struct jid *, const char *text, size_t len, time_t now,
	    struct format_token *t);
	/*
	 * The keys of the replay store's entry of a token check accepted
	 * (nothing in clear; keyed with store_key, the config's
	 * store_secret, if not NULL), and the last moment at which it could
	 * still be valid, so that its entry is kept until then. entry
	 * returns 0, or -1 if the library failed.
	 */
	int (*entry)(const struct format_token *, const struct format_keys *,
	    const struct jid *, struct mac *store_key, struct replay_entry *);
	time_t (*expiry)(const struct format_token *,
	    const struct format_keys *, time_t now);
	/*
	 * For people (verify), never for the helper's answers and not in
	 * constant time: why check refused text with v, in one or more
	 * lines, each starting with two spaces and ending with '\n'.
	 */
	void (*explain)(const struct format_keys *, const struct jid *,
	    const char *text, size_t len, enum auth_verdict v, time_t now,
	    char *out, size_t outlen);
};

/* The formats (format.c's table lists them). */
extern const struct format format_jwt;	    /* format_jwt.c */
extern const struct format format_converse; /* format_converse.c */

/*
 * The format whose shape text has (the formats' shapes do not overlap:
 * the last of the table takes whatever the others do not).
 */
const struct format *format_of(const char *text, size_t len);

/*
 * The keys of a replay entry, which show neither id nor JID: the entry's
 * own, HMAC-SHA256(store_key, id || NUL || user@domain), and the JID's,
 * the first REPLAY_USER_LEN bytes of HMAC-SHA256(store_key, "jid" || NUL ||
 * user@domain). Without a store_key (NULL), SHA-256 instead of HMAC, as
 * 2.0 made them: anyone who can read the store can then tell whether a
 * given JID logged in, and when. Returns 0, or -1 if the library failed.
 */
int format_replay_entry(const void *id, size_t idlen, const struct jid *,
    struct mac *store_key, struct replay_entry *);

/*
 * The JID's key alone, the same as format_replay_entry makes an entry's
 * user for any id: what the store keeps of a JID without a token (its seen
 * mark, isuser = seen). Returns 0, or -1 if the library failed.
 */
int format_replay_user(const struct jid *, struct mac *store_key,
    uint8_t user[REPLAY_USER_LEN]);

#endif
