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
 * 5. A yes only after the nonce is recorded: the logins of a batch are
 *    answered once the one commit that records all their nonces is done.
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

/* A login of the batch: its request, and its verdict so far. */
struct login {
	struct request r;
	enum auth_verdict v;
	size_t answer; /* its place in the batch */
	size_t key;    /* its nonce's place in the keys, once accepted */
};

_Static_assert(TOKEN_REPLAY_KEY_LEN == REPLAY_KEY_LEN, "replay key length");

/* Checks a login's token; for a valid one, its nonce's key goes to key. */
static enum auth_verdict
check_login(struct auth *a, const struct request *r, time_t now,
    uint8_t key[TOKEN_REPLAY_KEY_LEN])
{
	enum auth_verdict v;
	struct token t;

	v = auth_check(a->config, r->user, r->userlen, r->domain, r->domainlen,
	    r->password, r->passwordlen, now, &t);
	if (v == AUTH_ACCEPTED &&
	    token_replay_key(&t, &a->config->params, r->user, r->userlen,
		r->domain, r->domainlen, key) == -1)
		v = AUTH_INTERNAL_ERROR;
	explicit_bzero(&t, sizeof(t));
	return v;
}

static enum auth_verdict
recorded(enum replay_result res)
{
	switch (res) {
	case REPLAY_FRESH:
		return AUTH_ACCEPTED;
	case REPLAY_SEEN:
		return AUTH_REPLAY;
	default:
		return AUTH_STORE_FAILED;
	}
}

/*
 * Records the nonces of the accepted logins, all in one commit, and turns
 * those already used into replays; if the store fails, every one of them
 * is refused.
 */
static void
record_nonces(struct auth *a, struct login *logins, size_t n,
    const uint8_t keys[][REPLAY_KEY_LEN], size_t nkeys, time_t now)
{
	const struct token_params *p = &a->config->params;
	struct replay_time when = { now, token_expiry(p, now),
		p->otp_interval };
	enum replay_result results[HELPER_BATCH_MAX];
	char err[REPLAY_ERR_LEN];
	size_t i;

	if (nkeys == 0)
		return;
	if (a->store == NULL &&
	    (a->store = replay_open(a->config->replay_store,
		 a->config->replay_capacity, err)) == NULL) {
		log_msg(LOG_ERR, "replay store %s: %s",
		    a->config->replay_store, err);
		for (i = 0; i < nkeys; i++)
			results[i] = REPLAY_ERROR;
	} else if (replay_record(a->store, keys, nkeys, &when, results,
		       err) == -1) {
		log_msg(LOG_ERR, "replay store %s: %s",
		    a->config->replay_store, err);
		replay_close(a->store);
		a->store = NULL;
	}
	for (i = 0; i < n; i++)
		if (logins[i].v == AUTH_ACCEPTED)
			logins[i].v = recorded(results[logins[i].key]);
}

static void
log_login(const struct login *l)
{
	char user[4 * LOG_SAFE_MAX + 1], domain[4 * LOG_SAFE_MAX + 1];

	log_msg(l->v == AUTH_ACCEPTED ? LOG_INFO : LOG_NOTICE,
	    "auth %s@%s: %s%s", log_safe(user, l->r.user, l->r.userlen),
	    log_safe(domain, l->r.domain, l->r.domainlen),
	    l->v == AUTH_ACCEPTED ? "" : "refused: ", auth_reason(l->v));
}

void
auth_answer(struct auth *a, const struct helper_request *reqs, size_t n,
    int answers[])
{
	struct login logins[HELPER_BATCH_MAX];
	uint8_t keys[HELPER_BATCH_MAX][REPLAY_KEY_LEN];
	size_t i, nlogins = 0, nkeys = 0;
	time_t now = time(NULL);
	struct login *l;
	struct request r;

	for (i = 0; i < n; i++) {
		answers[i] = 0;
		if (reqs[i].text == NULL)
			continue;
		if (request_parse(reqs[i].text, reqs[i].len, &r) == -1) {
			log_msg(LOG_NOTICE, "refused a malformed request");
			continue;
		}
		if (r.command == REQUEST_ISUSER)
			answers[i] = config_keys(a->config, r.domain,
			    r.domainlen) != NULL;
		if (r.command != REQUEST_AUTH)
			continue;
		l = &logins[nlogins++];
		l->r = r;
		l->answer = i;
		if ((l->v = check_login(a, &r, now, keys[nkeys])) ==
		    AUTH_ACCEPTED)
			l->key = nkeys++;
	}
	record_nonces(a, logins, nlogins, keys, nkeys, now);
	for (i = 0; i < nlogins; i++) {
		log_login(&logins[i]);
		answers[logins[i].answer] = logins[i].v == AUTH_ACCEPTED;
	}
	explicit_bzero(keys, sizeof(keys));
}

void
auth_close(struct auth *a)
{
	replay_close(a->store);
	a->store = NULL;
}
