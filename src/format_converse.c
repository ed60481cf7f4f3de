/*
 * Security rules for this file:
 * 1. The verdict of token_verify is turned into a reason without a branch
 *    on which check failed (masks, all ones where a case holds).
 * 2. The replay entry holds the nonce and the JID hashed, never in clear.
 * 3. The step whose OTP matched is found without a branch (token.h); it
 *    only leaves here as the end of that step, made public by auth.c once
 *    the token is accepted.
 */
#include <string.h>

#include "format_converse.h"
#include "token_explain.h"

/* Anything that is not another format's shape is this one's. */
static int
converse_shaped(const char *text, size_t len)
{
	(void)text;
	(void)len;
	return 1;
}

_Static_assert(sizeof(struct token) <= FORMAT_TOKEN_MAX, "format_token");

/* The token a check parsed into the format_token. */
static const struct token *
token_of(const struct format_token *ft)
{
	return (const struct token *)ft->parsed.bytes;
}

static int
converse_accepted(const struct format_keys *f)
{
	return f->converse != NULL;
}

static enum auth_verdict
converse_check(const struct format_keys *f, const struct jid *j,
    const char *text, size_t len, time_t now, struct format_token *ft)
{
	struct token *t = (struct token *)ft->parsed.bytes;
	unsigned bad, otp, sig;
	uint64_t step;

	ft->format = &format_converse;
	ft->step_end = 0;
	if (token_parse(text, len, f->params, t) == -1)
		return AUTH_MALFORMED;
	bad = token_verify_step(t, j, f->converse, f->params, now, &step);
	ft->step_end = (time_t)((step + 1) * f->params->otp_interval);
	otp = 0U - (unsigned)((bad & TOKEN_BAD_OTP) != 0);
	sig = 0U - (unsigned)((bad & TOKEN_BAD_SIG) != 0);
	bad = 0U - (unsigned)((bad & TOKEN_FAILURE) != 0);
	return (enum auth_verdict)((bad & AUTH_INTERNAL_ERROR) |
	    (~bad & otp & ~sig & AUTH_BAD_OTP) |
	    (~bad & ~otp & sig & AUTH_BAD_SIGNATURE) |
	    (~bad & otp & sig & AUTH_BAD_OTP_AND_SIGNATURE) |
	    (~bad & ~otp & ~sig & AUTH_ACCEPTED));
}

int
token_replay_entry_keyed(const struct token *t, const struct token_params *p,
    const struct jid *j, struct mac *store_key, struct replay_entry *e)
{
	return format_replay_entry(t->nonce, p->nonce_digits, j, store_key, e);
}

int
token_replay_entry(const struct token *t, const struct token_params *p,
    const struct jid *j, struct replay_entry *e)
{
	return token_replay_entry_keyed(t, p, j, NULL, e);
}

time_t
token_expiry(const struct token_params *p, time_t now)
{
	uint64_t last_step = totp_step(now, p->otp_interval) +
	    2 * p->otp_window;

	return (time_t)((last_step + 1) * p->otp_interval);
}

static int
converse_entry(const struct format_token *t, const struct format_keys *f,
    const struct jid *j, struct mac *store_key, struct replay_entry *e)
{
	return token_replay_entry_keyed(token_of(t), f->params, j,
	    store_key, e);
}

static time_t
converse_expiry(const struct format_token *t, const struct format_keys *f,
    time_t now)
{
	(void)t;
	return token_expiry(f->params, now);
}

const struct format format_converse = {
	.name = "collective.converse",
	.shaped = converse_shaped,
	.accepted = converse_accepted,
	.check = converse_check,
	.entry = converse_entry,
	.expiry = converse_expiry,
	.explain = token_explain_refusal,
};
