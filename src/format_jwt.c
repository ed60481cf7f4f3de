/*
 * Security rules for this file:
 * 1. jwt_verify's result becomes a verdict by masks over every case, never
 *    a branch or a table indexed by it (it may depend on an HS256 secret).
 * 2. The replay entry holds the jti, its key and the JID hashed, never in
 *    clear; its id cannot meet a collective.converse nonce (digits only).
 */
#include <string.h>

#include "format_jwt.h"

/*
 * A JWT's "time step" for the replay store's high-water mark (replay.h)
 * ends at its exp, and its config's leeway is the keep after it, as a
 * collective.converse token's step ends where its OTP's does and its
 * window is the keep. exp is the token's own, whatever the config: so once
 * its entry is purged (at exp, plus the longest keep any config of the
 * store has had, plus a margin), the mark is at or past exp and the token
 * is refused even if the clock went back or jwt_leeway grew; and since the
 * mark stays that keep and the margin behind now, a token within exp +
 * jwt_leeway is never refused by it. Taking exp + jwt_leeway as the step's end instead
 * would let a used token back after a wider leeway. A step end may lie up
 * to jwt_max_lifetime and the leeway ahead of now: the store must know it.
 */
_Static_assert((long long)JWT_MAX_LIFETIME + JWT_MAX_LEEWAY <=
    REPLAY_MAX_AHEAD, "a JWT's exp is beyond what the store takes as known");

_Static_assert(sizeof(struct jwt) <= FORMAT_TOKEN_MAX, "format_token");

/* The token a check parsed into the format_token. */
static const struct jwt *
jwt_of(const struct format_token *t)
{
	return (const struct jwt *)t->parsed.bytes;
}

static const enum auth_verdict verdicts[] = {
	[JWT_VALID] = AUTH_ACCEPTED,
	[JWT_MALFORMED] = AUTH_MALFORMED,
	[JWT_UNKNOWN_KEY] = AUTH_UNKNOWN_KEY,
	[JWT_BAD_SIGNATURE] = AUTH_BAD_SIGNATURE,
	[JWT_EXPIRED] = AUTH_EXPIRED,
	[JWT_NOT_YET_VALID] = AUTH_NOT_YET_VALID,
	[JWT_TOO_LONG] = AUTH_TOO_LONG,
	[JWT_BAD_CLAIMS] = AUTH_BAD_CLAIMS,
	[JWT_FAILURE] = AUTH_INTERNAL_ERROR,
};

#define NVERDICTS (sizeof(verdicts) / sizeof(verdicts[0]))

static int
jwt_format_accepted(const struct format_keys *f)
{
	return f->jwt != NULL;
}

static enum auth_verdict
verdict_of(enum jwt_result r)
{
	unsigned v = 0, i;

	for (i = 0; i < NVERDICTS; i++)
		v |= (0U - (unsigned)((unsigned)r == i)) & (unsigned)verdicts[i];
	return (enum auth_verdict)v;
}

static enum auth_verdict
jwt_check(const struct format_keys *f, const struct jid *j, const char *text,
    size_t len, time_t now, struct format_token *t)
{
	struct jwt *parsed = (struct jwt *)t->parsed.bytes;
	enum jwt_result r;

	t->format = &format_jwt;
	r = jwt_verify(text, len, j, f->jwt, now, parsed, NULL, 0);
	t->step_end = (time_t)parsed->exp;
	return verdict_of(r);
}

int
jwt_replay_entry(const struct jwt *t, const struct jid *j,
    struct mac *store_key, struct replay_entry *e)
{
	char id[4 + JWKS_MAX_KID + 1 + JWT_MAX_JTI];
	size_t kidlen = strlen(t->kid);
	int rc;

	memcpy(id, "jwt", 4); /* with its NUL */
	memcpy(id + 4, t->kid, kidlen + 1);
	memcpy(id + 4 + kidlen + 1, t->jti, t->jtilen);
	rc = format_replay_entry(id, 4 + kidlen + 1 + t->jtilen, j, store_key,
	    e);
	explicit_bzero(id, sizeof(id));
	return rc;
}

static int
jwt_entry(const struct format_token *t, const struct format_keys *f,
    const struct jid *j, struct mac *store_key, struct replay_entry *e)
{
	(void)f;
	return jwt_replay_entry(jwt_of(t), j, store_key, e);
}

static time_t
jwt_expiry(const struct format_token *t, const struct format_keys *f,
    time_t now)
{
	time_t until = (time_t)jwt_of(t)->exp + (time_t)f->jwt->leeway;

	return until > now ? until : now + 1;
}

static void
jwt_explain(const struct format_keys *f, const struct jid *j,
    const char *text, size_t len, enum auth_verdict v, time_t now, char *out,
    size_t outlen)
{
	char why[768] = "";
	struct jwt t;

	if (v == AUTH_REPLAY) {
		snprintf(out, outlen, "  its jti was used before: each token "
		    "logs in once\n");
		return;
	}
	jwt_verify(text, len, j, f->jwt, now, &t, why, sizeof(why));
	explicit_bzero(&t, sizeof(t));
	if (why[0] != '\0')
		snprintf(out, outlen, "  %s\n", why);
	else
		out[0] = '\0';
}

const struct format format_jwt = {
	.name = "JWT",
	.shaped = jwt_shaped,
	.accepted = jwt_format_accepted,
	.check = jwt_check,
	.entry = jwt_entry,
	.expiry = jwt_expiry,
	.explain = jwt_explain,
};
