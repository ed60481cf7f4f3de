/*
 * Security rules for this file:
 * 1. Fail closed: a token is accepted only if it parses, its OTP and its
 *    signature verify, and its nonce is newly recorded in the replay store;
 *    any error on the way is a refusal.
 * 2. Single use: only tokens that passed every check are recorded.
 * 3. The verdict of a format's check is only looked at once it is
 *    complete, and made without a branch on which check failed. Before
 *    the answers are written, the only thing made public is yes or no;
 *    which check failed is looked at only as the answers are written (for
 *    a client that asked for reasons: our own Prosody provider) or after
 *    (to log it), never while deciding.
 * 4. The log names the user, the domain and the reason, never the token,
 *    its nonce or its signature.
 * 5. A yes only after the nonce is recorded: the logins of a batch are
 *    answered once the one commit that records all their nonces is done.
 * 6. The end of a token's time step, which its entry carries for the
 *    store's high-water mark, is made public only once it is accepted.
 * 7. isuser on a domain with isuser = seen is a yes only when the store
 *    says the JID logged in within isuser_seen_days; a store that cannot
 *    tell is a no. Only accepted logins mark a JID seen.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "replay.h"
#include "request.h"

/*
 * Where a value made from the secrets becomes public (PUBLIC): the yes or
 * no of an answer, and, once the answers are written, the reason logged.
 * The constant-time test builds with CT_TRACK, so that valgrind, which
 * tracks the secrets, is told; otherwise it is nothing.
 */
#ifdef CT_TRACK
#include <valgrind/memcheck.h>
#define PUBLIC(x) VALGRIND_MAKE_MEM_DEFINED(&(x), sizeof(x))
#else
#define PUBLIC(x) ((void)0)
#endif


/* What became of one request of a batch. */
struct decision {
	enum {
		D_REFUSED_FRAME, /* oversized or cut short */
		D_MALFORMED,	 /* not a request */
		D_QUIET,	 /* isuser of isuser = any, or a command
				  * always refused */
		D_ISUSER,	 /* isuser of isuser = seen: v says */
		D_LOGIN,	 /* auth: the verdict says */
	} kind;
	struct jid jid;
	enum auth_verdict v;
	int accepted; /* v == AUTH_ACCEPTED, made public */
	size_t entry; /* its nonce's place in the batch's, once accepted */
	time_t expiry; /* until when its entry must be kept */
};

struct auth {
	const struct config *config;
	enum auth_mode mode;
	struct replay *store; /* opened at start, again after a failure */
	struct decision batch[SERVE_BATCH_MAX];
	size_t nbatch;
	long decided_us; /* the batch's time to decide, in microseconds */
};

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
	[AUTH_USER_LIMIT] = "too many live tokens for this JID",
	[AUTH_STORE_FULL] = "replay store full",
	[AUTH_UNKNOWN_KEY] = "unknown key",
	[AUTH_EXPIRED] = "expired",
	[AUTH_NOT_YET_VALID] = "not yet valid",
	[AUTH_TOO_LONG] = "lifetime over the maximum",
	[AUTH_BAD_CLAIMS] = "claims not as required",
	[AUTH_BEHIND_MARK] = "a time step the replay store may forget",
	[AUTH_NOT_SEEN] = "not seen within isuser_seen_days",
};

/*
 * The same, one word each, for machines: the reason= of the log, and the
 * reason a client that asked for it gets with its answer (frame.h).
 */
static const char *const words[] = {
	[AUTH_ACCEPTED] = "none",
	[AUTH_MALFORMED] = "malformed",
	[AUTH_UNKNOWN_DOMAIN] = "unknown_domain",
	[AUTH_BAD_OTP] = "outside_window",
	[AUTH_BAD_SIGNATURE] = "bad_signature",
	[AUTH_BAD_OTP_AND_SIGNATURE] = "bad_signature_outside_window",
	[AUTH_REPLAY] = "replayed",
	[AUTH_STORE_FAILED] = "store_failed",
	[AUTH_INTERNAL_ERROR] = "internal_error",
	[AUTH_USER_LIMIT] = "user_limit",
	[AUTH_STORE_FULL] = "store_full",
	[AUTH_UNKNOWN_KEY] = "unknown_key",
	[AUTH_EXPIRED] = "expired",
	[AUTH_NOT_YET_VALID] = "not_yet_valid",
	[AUTH_TOO_LONG] = "lifetime_too_long",
	[AUTH_BAD_CLAIMS] = "bad_claims",
	[AUTH_BEHIND_MARK] = "before_mark",
	[AUTH_NOT_SEEN] = "not_seen",
};

_Static_assert(sizeof(reasons) / sizeof(reasons[0]) == AUTH_VERDICTS &&
    sizeof(words) / sizeof(words[0]) == AUTH_VERDICTS, "a verdict unnamed");

/* Why a request that was not a login at all was refused. */
#define WORD_OVERSIZED	       "oversized"
#define WORD_MALFORMED_REQUEST "malformed_request"

const char *
auth_reason(enum auth_verdict v)
{
	return reasons[v];
}

/* The store, opened if it is not; NULL with why in err. */
static struct replay *
store(struct auth *a, char err[REPLAY_ERR_LEN])
{
	if (a->store == NULL)
		a->store = replay_open(&a->config->replay,
		    a->mode == AUTH_SERVE ? REPLAY_WRITE : REPLAY_READ, err);
	return a->store;
}

struct auth *
auth_open(const struct config *c, enum auth_mode mode)
{
	char err[REPLAY_ERR_LEN];
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->config = c;
	a->mode = mode;
	if (mode == AUTH_SERVE && store(a, err) == NULL)
		log_msg(LOG_ERR, "replay store %s: %s (tried again at the next "
		    "login)", c->replay.store, err);
	return a;
}

void
auth_use_config(struct auth *a, const struct config *c)
{
	char err[REPLAY_ERR_LEN];
	int same_store = memcmp(&a->config->replay, &c->replay,
	    sizeof(c->replay)) == 0;

	a->config = c;
	if (same_store)
		return;
	if (a->mode != AUTH_SERVE) {
		replay_close(a->store);
		a->store = NULL;
	} else if ((a->store = replay_reopen(a->store, &c->replay,
			REPLAY_WRITE, err)) == NULL) {
		log_msg(LOG_ERR, "replay store %s: %s (tried again at the next "
		    "login)", c->replay.store, err);
	}
}

void
auth_close(struct auth *a)
{
	if (a == NULL)
		return;
	replay_close(a->store);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

enum auth_verdict
auth_check(const struct config *c, const struct jid *j, const char *password,
    size_t passwordlen, time_t now, struct format_token *t)
{
	const struct format_keys *keys;
	const struct format *f;

	t->format = NULL;
	t->step_end = 0;
	if ((keys = config_formats(c, j->domain, j->domainlen)) == NULL)
		return AUTH_UNKNOWN_DOMAIN;
	/* The shape and the domain's formats are public. A format the
	 * domain does not accept is malformed there (verify says why). */
	f = format_of(password, passwordlen);
	if (!f->accepted(keys))
		return AUTH_MALFORMED;
	return f->check(keys, j, password, passwordlen, now, t);
}

/*
 * A valid token's entry for the store: its keys (the format's, under
 * store_secret), the end of its time step, public once it is accepted, and
 * the config's keep; and until when it must be kept. Returns 0, or -1 if
 * the library failed.
 */
static int
entry_of(const struct config *c, const struct format_token *t,
    const struct jid *j, time_t now, struct replay_entry *e, time_t *expiry)
{
	const struct format_keys *keys = config_formats(c, j->domain,
	    j->domainlen);
	const struct config_isuser *who = config_isuser(c, j->domain,
	    j->domainlen);

	e->step_end = t->step_end;
	PUBLIC(e->step_end);
	e->keep = c->store_keep;
	e->seen_days = who != NULL && who->seen ? who->days : 0;
	e->key_id = c->store_key_id;
	*expiry = t->format->expiry(t, keys, now);
	return t->format->entry(t, keys, j, c->store_key, e);
}

/*
 * Checks a login's token; for a valid one, its keys go to e. Returns
 * whether it is valid, the one fact made public before answering.
 */
static int
check_login(struct auth *a, struct decision *d, const struct request *r,
    time_t now, struct replay_entry *e)
{
	struct format_token t;

	d->v = auth_check(a->config, &r->jid, r->password, r->passwordlen, now,
	    &t);
	d->accepted = d->v == AUTH_ACCEPTED;
	PUBLIC(d->accepted);
	if (d->accepted && entry_of(a->config, &t, &r->jid, now, e,
	    &d->expiry) == -1) {
		d->v = AUTH_INTERNAL_ERROR;
		d->accepted = 0;
	}
	explicit_bzero(&t, sizeof(t));
	return d->accepted;
}

/* Whether the store itself failed (then it is opened afresh). */
static int
failed_store(const enum replay_result results[], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (results[i] == REPLAY_ERROR)
			return 1;
	return 0;
}

static enum auth_verdict
verdict_of(enum replay_result res)
{
	switch (res) {
	case REPLAY_FRESH:
		return AUTH_ACCEPTED;
	case REPLAY_SEEN:
		return AUTH_REPLAY;
	case REPLAY_USER_FULL:
		return AUTH_USER_LIMIT;
	case REPLAY_FULL:
		return AUTH_STORE_FULL;
	case REPLAY_BEHIND_MARK:
		return AUTH_BEHIND_MARK;
	default:
		return AUTH_STORE_FAILED;
	}
}

/*
 * When the accepted logins of the batch are recorded, and until when they
 * are kept: the latest any of them may need (a store keeps one lifetime
 * per batch; keeping one longer costs room, never single use).
 */
static struct replay_time
batch_time(const struct auth *a, time_t now)
{
	struct replay_time when = { now, now + 1, a->config->store_lifetime };
	const struct decision *d;

	for (d = a->batch; d < a->batch + a->nbatch; d++)
		if (d->kind == D_LOGIN && d->accepted && d->expiry > when.expiry)
			when.expiry = d->expiry;
	return when;
}

/*
 * Records the nonces of the accepted logins, all in one commit, and turns
 * those already used into replays; if the store fails, every one of them
 * is refused.
 */
static void
record_nonces(struct auth *a, const struct replay_entry entries[],
    size_t nentries, time_t now)
{
	struct replay_time when = batch_time(a, now);
	enum replay_result results[SERVE_BATCH_MAX];
	char err[REPLAY_ERR_LEN];
	struct decision *d;
	size_t i;

	if (nentries == 0)
		return;
	if (store(a, err) == NULL) {
		log_msg(LOG_ERR, "replay store %s: %s", a->config->replay.store,
		    err);
		for (i = 0; i < nentries; i++)
			results[i] = REPLAY_ERROR;
	} else if (replay_record(a->store, entries, nentries, &when, results,
		       err) == -1) {
		log_msg(LOG_ERR, "replay store %s: %s", a->config->replay.store,
		    err);
		/* (If that fails too, the next login tries again.) */
		if (failed_store(results, nentries))
			a->store = replay_reopen(a->store, &a->config->replay,
			    REPLAY_WRITE, err);
	}
	for (d = a->batch; d < a->batch + a->nbatch; d++) {
		if (d->kind == D_LOGIN && d->accepted) {
			d->v = verdict_of(results[d->entry]);
			d->accepted = d->v == AUTH_ACCEPTED;
		}
	}
}

/*
 * Whether the JID exists: if its domain has isuser = seen, decided once
 * the batch's nonces are recorded (seen_after_record), so that a login
 * counts for an isuser behind it; else if its domain is configured.
 */
static int
isuser(struct auth *a, const struct jid *j, struct decision *d)
{
	const struct config_isuser *who = config_isuser(a->config, j->domain,
	    j->domainlen);

	if (who == NULL || !who->seen)
		return who != NULL;
	d->kind = D_ISUSER;
	d->v = AUTH_STORE_FAILED;
	d->accepted = 0;
	return 0;
}

/* Whether the store marked the JID of an isuser seen (rule 7). */
static void
seen_after_record(struct auth *a, struct decision *d, time_t now)
{
	uint8_t user[REPLAY_USER_LEN];
	char err[REPLAY_ERR_LEN];

	if (format_replay_user(&d->jid, a->config->store_key, user) == -1)
		d->v = AUTH_INTERNAL_ERROR;
	else if (store(a, err) == NULL)
		log_msg(LOG_ERR, "replay store %s: %s", a->config->replay.store,
		    err);
	else {
		switch (replay_seen(a->store, user, now, err)) {
		case REPLAY_SEEN:
			d->v = AUTH_ACCEPTED;
			break;
		case REPLAY_FRESH:
			d->v = AUTH_NOT_SEEN;
			break;
		default:
			log_msg(LOG_ERR, "replay store %s: %s",
			    a->config->replay.store, err);
		}
	}
	explicit_bzero(user, sizeof(user));
	d->accepted = d->v == AUTH_ACCEPTED;
}

/* Decides one request of the batch; a valid token's keys go to entries. */
static int
decide(struct auth *a, const struct serve_request *req, struct decision *d,
    time_t now, struct replay_entry entries[], size_t *nentries)
{
	struct request r;

	d->kind = D_QUIET;
	if (req->text == NULL) {
		d->kind = D_REFUSED_FRAME;
		return 0;
	}
	if (request_parse(req->text, req->len, &r) == -1) {
		d->kind = D_MALFORMED;
		return 0;
	}
	d->jid = r.jid;
	if (r.command == REQUEST_ISUSER)
		return isuser(a, &r.jid, d);
	if (r.command != REQUEST_AUTH)
		return 0;
	d->kind = D_LOGIN;
	if (!check_login(a, d, &r, now, &entries[*nentries]))
		return 0;
	d->entry = (*nentries)++;
	return 1;
}

void
auth_answer(struct auth *a, const struct serve_request *reqs, size_t n,
    int answers[])
{
	struct replay_entry entries[SERVE_BATCH_MAX];
	size_t i, nentries = 0;
	struct timespec began, ended;
	time_t now;

	clock_gettime(CLOCK_MONOTONIC, &began);
	now = time(NULL);
	a->nbatch = 0;
	if (n > SERVE_BATCH_MAX) {
		/* The serve loop promises never to; fail closed if so. */
		for (i = 0; i < n; i++)
			answers[i] = 0;
		log_msg(LOG_ERR, "internal error: %zu requests in one batch, "
		    "at most %d expected; all refused", n, SERVE_BATCH_MAX);
		return;
	}
	for (i = 0; i < n; i++)
		answers[i] = decide(a, &reqs[i], &a->batch[i], now, entries,
		    &nentries);
	a->nbatch = n;
	record_nonces(a, entries, nentries, now);
	for (i = 0; i < n; i++) {
		if (a->batch[i].kind == D_ISUSER)
			seen_after_record(a, &a->batch[i], now);
		if (a->batch[i].kind == D_LOGIN || a->batch[i].kind == D_ISUSER)
			answers[i] = a->batch[i].accepted;
	}
	/* Request i writes at most entry i: the rest was never touched. */
	explicit_bzero(entries, n * sizeof(entries[0]));
	clock_gettime(CLOCK_MONOTONIC, &ended);
	a->decided_us = (long)(ended.tv_sec - began.tv_sec) * 1000000L +
	    (ended.tv_nsec - began.tv_nsec) / 1000L;
}

const char *
auth_answer_reason(struct auth *a, size_t i)
{
	const struct decision *d;

	if (i >= a->nbatch)
		return NULL;
	d = &a->batch[i];
	switch (d->kind) {
	case D_REFUSED_FRAME:
		return WORD_OVERSIZED;
	case D_MALFORMED:
		return WORD_MALFORMED_REQUEST;
	case D_LOGIN:
		if (d->accepted)
			return NULL;
		PUBLIC(d->v); /* the client asked: its answer is being written */
		return words[d->v];
	default:
		return NULL;
	}
}

/*
 * A login's or an isuser's line: key=yes or key=no by v, then the reason,
 * the JID and domain, the store and the batch's time to decide.
 */
static void
log_jid_line(const struct decision *d, const char *key, const char *yes,
    const char *no, const char *store, long us)
{
	char user[4 * LOG_SAFE_MAX + 1], domain[4 * LOG_SAFE_MAX + 1];
	enum auth_verdict v = d->v;

	log_safe(user, d->jid.user, d->jid.userlen);
	log_safe(domain, d->jid.domain, d->jid.domainlen);
	log_msg(v == AUTH_ACCEPTED ? LOG_INFO : LOG_NOTICE,
	    "%s=%s reason=%s jid=%s@%s domain=%s store=%s time_us=%ld", key,
	    v == AUTH_ACCEPTED ? yes : no, words[v], user, domain, domain,
	    store, us);
}

/*
 * One line per decision, key=value for machines (doc/operating.md):
 * decision, reason, then for a login jid and domain, then store and the
 * batch's time to decide.
 */
static void
log_decision(const struct decision *d, const char *store, long us)
{
	switch (d->kind) {
	case D_REFUSED_FRAME:
	case D_MALFORMED:
		log_msg(LOG_NOTICE, "decision=refused reason=%s store=%s "
		    "time_us=%ld", d->kind == D_MALFORMED ?
		    WORD_MALFORMED_REQUEST : WORD_OVERSIZED, store, us);
		break;
	case D_LOGIN:
		PUBLIC(d->v); /* the answer is written: why may be told */
		log_jid_line(d, "decision", "accepted", "refused", store, us);
		break;
	case D_ISUSER:
		log_jid_line(d, "isuser", "found", "unknown", store, us);
		break;
	case D_QUIET:
		break;
	}
}

void
auth_log_answered(struct auth *a)
{
	size_t i;

	log_batch_begin();
	for (i = 0; i < a->nbatch; i++)
		log_decision(&a->batch[i], replay_kind(&a->config->replay),
		    a->decided_us);
	log_batch_end();
	a->nbatch = 0;
}

enum auth_verdict
auth_lookup(struct auth *a, const struct jid *j, const char *password,
    size_t passwordlen, time_t now, char err[AUTH_ERR_LEN])
{
	struct replay_time when = { now, now + 1, a->config->store_lifetime };
	struct replay_entry e;
	enum auth_verdict v;
	struct format_token t;

	v = auth_check(a->config, j, password, passwordlen, now, &t);
	if (v == AUTH_ACCEPTED && entry_of(a->config, &t, j, now, &e,
	    &when.expiry) == -1)
		v = AUTH_INTERNAL_ERROR;
	explicit_bzero(&t, sizeof(t));
	if (v != AUTH_ACCEPTED)
		return v;
	if (store(a, err) == NULL)
		return AUTH_STORE_FAILED;
	switch (replay_lookup(a->store, &e, &when, err)) {
	case REPLAY_FRESH:
		return AUTH_ACCEPTED;
	case REPLAY_SEEN:
		return AUTH_REPLAY;
	case REPLAY_BEHIND_MARK:
		return AUTH_BEHIND_MARK;
	default:
		return AUTH_STORE_FAILED;
	}
}
