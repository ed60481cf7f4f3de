/*
 * The collective.converse token: parsing and verification. No I/O, no clock,
 * no replay store: the caller passes the time and records the nonce.
 *
 *   token = otp || nonce || " " || base64(HMAC-SHA256(token_secret,
 *                                         otp || nonce || user@domain))
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "jid.h"
#include "mac.h"
#include "replay.h"
#include "totp.h"

#define TOKEN_SIG_LEN	    32
#define TOKEN_SIG_B64_LEN   44
#define TOKEN_MIN_NONCE	    8
#define TOKEN_MAX_NONCE	    64
#define TOKEN_MAX_LEN	    (TOTP_MAX_DIGITS + TOKEN_MAX_NONCE + 1 + TOKEN_SIG_B64_LEN)

struct token_params {
	unsigned otp_digits;   /* TOTP_MIN_DIGITS .. TOTP_MAX_DIGITS */
	unsigned otp_interval; /* seconds */
	unsigned otp_window;   /* steps accepted either side of now */
	unsigned nonce_digits; /* TOKEN_MIN_NONCE .. TOKEN_MAX_NONCE */
};

/* A pair of secrets, as keyed HMAC contexts. */
struct token_pair {
	struct mac *otp; /* HMAC-SHA1 keyed with the decoded otp_seed */
	struct mac *sig; /* HMAC-SHA256 keyed with token_secret as written */
	/* otp's codes for the window around now, computed once per time
	 * step; NULL: computed for every token. */
	struct totp_window *window;
};

/*
 * The secrets of one domain: the current pair and, during a rotation, the
 * previous one, which tokens may still be signed with until previous_until.
 */
struct token_keys {
	struct token_pair current;
	struct token_pair previous; /* NULLs without a rotation */
	time_t previous_until;
};

struct token {
	char otp[TOTP_MAX_DIGITS];
	char nonce[TOKEN_MAX_NONCE];
	uint8_t sig[TOKEN_SIG_LEN];
};

/* Why token_verify refused; 0 means valid. */
#define TOKEN_BAD_OTP	0x1 /* OTP outside the time window */
#define TOKEN_BAD_SIG	0x2 /* signature does not match */
#define TOKEN_FAILURE	0x4 /* the crypto library failed */

/*
 * Parses text[0..len), anchored at both ends: exactly otp_digits digits,
 * exactly nonce_digits digits, one space, canonical base64 of 32 bytes.
 * Returns 0, or -1 if it is malformed.
 */
int token_parse(const char *text, size_t len, const struct token_params *,
    struct token *);

/*
 * Checks the OTP against every step of the window around now and the
 * signature for the JID, always all of them, in constant time. While a
 * previous pair is in force (now before previous_until), both pairs are
 * checked, always, and the token is valid if its OTP and its signature are
 * both right under one of them. Returns 0, or a mask of TOKEN_BAD_OTP and
 * TOKEN_BAD_SIG (as the current pair sees it) and TOKEN_FAILURE.
 */
unsigned token_verify(const struct token *, const struct jid *,
    const struct token_keys *, const struct token_params *, time_t now);

/*
 * The same, with the time step whose OTP the token carries in *step (the
 * lowest of the window that matches, under the pair that verified it),
 * found without a branch: meaningful only for a valid token, and public
 * once it is accepted (its holder made it at that time).
 */
unsigned token_verify_step(const struct token *, const struct jid *,
    const struct token_keys *, const struct token_params *, time_t now,
    uint64_t *step);

/*
 * Writes the token for the JID at time now with the given nonce and pair
 * (nonce_digits digits) into out, NUL-terminated (room for TOKEN_MAX_LEN + 1).
 * Returns 0, or -1 if the library failed.
 */
int token_format(const char *nonce, const struct jid *,
    const struct token_pair *, const struct token_params *, time_t now,
    char *out);

/*
 * The token's entry for the replay store, whose keys show neither the nonce
 * nor the JID: the nonce's, HMAC-SHA256(store_key, nonce || NUL ||
 * user@domain), and the JID's own, the first REPLAY_USER_LEN bytes of
 * HMAC-SHA256(store_key, "jid" || NUL || user@domain). Returns 0, or -1 if
 * the library failed.
 */
int token_replay_entry_keyed(const struct token *, const struct token_params *,
    const struct jid *, struct mac *store_key, struct replay_entry *);

/*
 * The JID's own key alone, as token_replay_entry_keyed makes it (store_key
 * required), for what the store keeps of a JID without a token (isuser =
 * seen). Returns 0, or -1 if the library failed or store_key is NULL.
 */
int token_replay_user(const struct jid *, struct mac *store_key,
    uint8_t user[REPLAY_USER_LEN]);

/*
 * The same without a store_key (token_replay_entry_keyed with NULL), as
 * 2.0 made them: SHA-256 instead of HMAC. Anyone who can read the store
 * can then tell whether a given JID logged in, and when.
 */
int token_replay_entry(const struct token *, const struct token_params *,
    const struct jid *, struct replay_entry *);

/*
 * For people (verify), never for the helper's answers: what is wrong with
 * text that token_parse refuses, in one phrase (which part, what was
 * expected, what was found).
 */
void token_explain(const char *text, size_t len, const struct token_params *,
    char *out, size_t outlen);

/*
 * For people too, and not in constant time: the step, from the one of now,
 * whose OTP under pair the token carries, searched up to max_steps either
 * side. Returns 0 with *steps set, or -1 if none matches.
 */
int token_otp_offset(const struct token *, const struct token_pair *,
    const struct token_params *, time_t now, long max_steps, long *steps);

/* The last moment at which a token accepted at now could still be valid. */
time_t token_expiry(const struct token_params *, time_t now);

#endif
