/*
 * Security rules for this file:
 * 1. Fail closed: a token is accepted only if it parses, its OTP and its
 *    signature verify, and its nonce is newly recorded in the replay store;
 *    any error on the way is a refusal.
 * 2. Single use: only tokens that passed every check are recorded.
 * 3. The verdict of token_verify is only looked at once it is complete, and
 *    turned into a reason without a branch on which check failed: a branch
 *    there made refusing a few cycles slower or faster depending on it.
 * 4. The log names the user, the domain and the reason, never the token.
 */
#include <string.h>

#include "auth.h"
#include "log.h"

static const char *const reasons[] = {
	[AUTH_ACCEPTED] = "accepted",
	[AUTH_MALFORMED] = "malformed token",
	[AUTH_UNKNOWN_DOMAIN] = "unknown domain",
	[AUTH_BAD_OTP] = "OTP outside the time window",
	[AUTH_BAD_SIGNATURE] = "bad signature",
	[AUTH_BAD_OTP_AND_SIGNATURE] =
	    "bad signature and OTP outside the time window",
	[AUTH_REPLAY] = "replayed token (nonce already used)",
	[AUTH_STORE_FAILED] = "replay store failed",
	[AUTH_INTERNAL_ERROR] = "internal error",
};

const char *
auth_reason(enum auth_verdict v)
{
	return reasons[v];
}

enum auth_verdict
auth_check(const struct config *c, const char *user, size_t userlen,
    const char *domain, size_t domainlen, const char *password,
    size_t passwordlen, time_t now, struct token *t)
{
	const struct token_keys *keys;
	unsigned bad, otp, sig;

	if ((keys = config_keys(c, domain, domainlen)) == NULL)
		return AUTH_UNKNOWN_DOMAIN;
	if (token_parse(password, passwordlen, &c->params, t) == -1)
		return AUTH_MALFORMED;
	bad = token_verify(t, user, userlen, domain, domainlen, keys,
	    &c->params, now);
	if (bad & TOKEN_FAILURE)
		return AUTH_INTERNAL_ERROR;
	/* Masks, not branches: all ones where the case holds. */
	otp = 0U - (unsigned)((bad & TOKEN_BAD_OTP) != 0);
	sig = 0U - (unsigned)((bad & TOKEN_BAD_SIG) != 0);
	return (enum auth_verdict)((otp & ~sig & AUTH_BAD_OTP) |
	    (~otp & sig & AUTH_BAD_SIGNATURE) |
	    (otp & sig & AUTH_BAD_OTP_AND_SIGNATURE) |
	    (~otp & ~sig & AUTH_ACCEPTED));
}

static enum auth_verdict
record_nonce(struct auth *a, const struct token *t, const struct request *r,
    time_t now)
{
	uint8_t key[TOKEN_REPLAY_KEY_LEN];
	char err[REPLAY_ERR_LEN];
	enum replay_result res;

	if (token_replay_key(t, &a->config->params, r->user, r->userlen,
		r->domain, r->domainlen, key) == -1)
		return AUTH_INTERNAL_ERROR;
	if (a->store == NULL &&
	    (a->store = replay_open(a->config->replay_store,
		 a->config->replay_capacity, err)) == NULL) {
		log_msg(LOG_ERR, "replay store %s: %s",
		    a->config->replay_store, err);
		return AUTH_STORE_FAILED;
	}
	res = replay_record(a->store, key,
	    token_expiry(&a->config->params, now), now, err);
	if (res == REPLAY_ERROR) {
		log_msg(LOG_ERR, "replay store %s: %s",
		    a->config->replay_store, err);
		replay_close(a->store);
		a->store = NULL;
		return AUTH_STORE_FAILED;
	}
	return res == REPLAY_SEEN ? AUTH_REPLAY : AUTH_ACCEPTED;
}

static int
answer_auth(struct auth *a, const struct request *r)
{
	char user[4 * LOG_SAFE_MAX + 1], domain[4 * LOG_SAFE_MAX + 1];
	time_t now = time(NULL);
	enum auth_verdict v;
	struct token t;

	v = auth_check(a->config, r->user, r->userlen, r->domain,
	    r->domainlen, r->password, r->passwordlen, now, &t);
	if (v == AUTH_ACCEPTED)
		v = record_nonce(a, &t, r, now);
	explicit_bzero(&t, sizeof(t));
	log_msg(v == AUTH_ACCEPTED ? LOG_INFO : LOG_NOTICE, "auth %s@%s: %s%s",
	    log_safe(user, r->user, r->userlen),
	    log_safe(domain, r->domain, r->domainlen),
	    v == AUTH_ACCEPTED ? "" : "refused: ", auth_reason(v));
	return v == AUTH_ACCEPTED;
}

int
auth_answer(struct auth *a, const char *text, size_t len)
{
	struct request r;

	if (request_parse(text, len, &r) == -1) {
		log_msg(LOG_NOTICE, "refused a malformed request");
		return 0;
	}
	switch (r.command) {
	case REQUEST_AUTH:
		return answer_auth(a, &r);
	case REQUEST_ISUSER:
		return config_keys(a->config, r.domain, r.domainlen) != NULL;
	default:
		return 0;
	}
}

void
auth_close(struct auth *a)
{
	replay_close(a->store);
	a->store = NULL;
}
