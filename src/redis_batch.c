/*
 * One exchange of a Redis store with its server (redis_batch.h).
 *
 * Security rules for this file: redis_batch.h's 1 to 3 (one deadline for
 * the whole exchange, bounded, fail closed), which it keeps.
 *
 * For the sandbox: no system call of its own but clock_gettime; the
 * connection's are redis_link.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "redis_batch.h"

void
redis_command_set(struct redis_command *c, int argc, const char *const argv[])
{
	int i;

	c->argc = argc;
	for (i = 0; i < argc; i++) {
		c->argv[i] = argv[i];
		c->len[i] = strlen(argv[i]);
	}
}

void
redis_batch_init(struct redis_batch *b, redisReply **replies, size_t room,
    redis_prepare_fn *prepare, void *ctx)
{
	b->replies = replies;
	b->room = room;
	b->nreplies = 0;
	b->prepare = prepare;
	b->ctx = ctx;
}

void
redis_batch_free(struct redis_batch *b)
{
	size_t i;

	for (i = 0; i < b->nreplies; i++)
		freeReplyObject(b->replies[i]);
	b->nreplies = 0;
}

/* --- writing ------------------------------------------------------------- */

/* n in decimal at p; returns its length. */
static size_t
decimal(char *p, size_t n)
{
	char digits[24];
	size_t len = 0, i;

	do
		digits[len++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	for (i = 0; i < len; i++)
		p[i] = digits[len - 1 - i];
	return len;
}

/*
 * A command in Redis's protocol, at the end of b->out (hiredis's own
 * formatting, a format string parsed per word, cost more than the rest
 * of a batch's preparing). Returns 0, or -1 if it would not fit.
 */
static int
encode(struct redis_batch *b, const struct redis_command *cmd)
{
	char *p = b->out + b->outlen;
	const char *end = b->out + sizeof(b->out);
	int i;

	/* (each word: a $, its length, two CRLFs; 32 is room for those) */
	if ((size_t)(end - p) < 32)
		return -1;
	*p++ = '*';
	p += decimal(p, (size_t)cmd->argc);
	*p++ = '\r', *p++ = '\n';
	for (i = 0; i < cmd->argc; i++) {
		if ((size_t)(end - p) < cmd->len[i] + 32)
			return -1;
		*p++ = '$';
		p += decimal(p, cmd->len[i]);
		*p++ = '\r', *p++ = '\n';
		memcpy(p, cmd->argv[i], cmd->len[i]);
		p += cmd->len[i];
		*p++ = '\r', *p++ = '\n';
	}
	b->outlen = (size_t)(p - b->out);
	return 0;
}

/*
 * The lead if any, the commands, WAIT if asked, appended to c's output at
 * once. Returns 0, or -1 if they do not fit.
 */
static int
append_all(struct redis_batch *b, redisContext *c,
    const struct redis_command cmds[], size_t n, unsigned wait,
    uint64_t deadline)
{
	char replicas[16];
	const char *argv[3] = { "WAIT", replicas, b->wait_ms };
	struct redis_command w;
	uint64_t left, now = redis_now_ms();
	size_t i;

	b->outlen = 0;
	if (b->lead != NULL && encode(b, b->lead) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (encode(b, &cmds[i]) == -1)
			return -1;
	if (wait > 0) {
		/* WAIT answers with what it has well before the read times
		 * out: half the time left (never 0, which would wait for
		 * ever). */
		left = deadline > now ? deadline - now : 1;
		snprintf(replicas, sizeof(replicas), "%u", wait);
		snprintf(b->wait_ms, sizeof(b->wait_ms), "%llu",
		    (unsigned long long)(left / 2 > 0 ? left / 2 : 1));
		redis_command_set(&w, 3, argv);
		if (encode(b, &w) == -1)
			return -1;
	}
	return redisAppendFormattedCommand(c, b->out, b->outlen) == REDIS_OK ?
	    0 : -1;
}

/* --- failing ------------------------------------------------------------- */

/*
 * Whether a connection failed as one the server closed while it was idle
 * (it restarted, or closed idle clients): then the exchange may be sent
 * once more on a new one. A timeout is not that: the server is slow or
 * gone.
 */
static int
found_closed(const redisContext *c, int saved_errno)
{
	return c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO &&
	    (saved_errno == ECONNRESET || saved_errno == EPIPE));
}

static void
io_error(const struct redis_batch *b, const redisContext *c,
    uint64_t deadline, char err[REPLAY_ERR_LEN])
{
	char where[160];

	snprintf(where, sizeof(where), "Redis at %s",
	    redis_link_where(b->link));
	redis_io_error(c, where, deadline, err);
}

/* Nothing was written, or what was cannot be read back: the link failed. */
static int
link_failed(struct redis_batch *b, const redisContext *c, uint64_t deadline,
    char err[REPLAY_ERR_LEN])
{
	io_error(b, c, deadline, err);
	redis_batch_free(b);
	redis_link_failed(b->link, err);
	return -1;
}

/*
 * A write or read failed (saved: its errno): the connection is dropped,
 * to be tried once more on a new one (*again) if it was found closed while
 * idle, or the link failed.
 */
static int
exchange_failed(struct redis_batch *b, const redisContext *c,
    const struct redis_exchange *x, int saved, int reused, int *again,
    char err[REPLAY_ERR_LEN])
{
	b->conn->timeout_ms = 0;
	*again = reused && found_closed(c, saved);
	errno = saved;
	io_error(b, c, x->deadline, err);
	redis_batch_free(b);
	if (*again)
		redis_link_drop(b->link);
	else
		redis_link_failed(b->link, err);
	return -1;
}

static const struct {
	const char *prefix;
	const char *hint;
	int unfit; /* the connection is of no more use */
} refusals[] = {
	{ "OOM", " (maxmemory reached, with noeviction: raise maxmemory; "
	    "nonces expire within a token's lifetime)", 0 },
	{ "READONLY", " (a replica: the primary is looked for again)", 1 },
	{ "NOSCRIPT", " (the script cache was flushed: the script is loaded "
	    "again for the next logins)", 0 },
	{ "NOPERM", " (the ACL user lacks a permission: see the minimal "
	    "ACL in prosody-token-auth(1))", 0 },
	{ "NOAUTH", " (Redis wants a password: put it in replay_store)", 1 },
	{ "WRONGPASS", " (check the user and password of replay_store)", 1 },
	{ "LOADING", " (Redis is loading its data set)", 0 },
	{ "MASTERDOWN", " (the replica lost its primary)", 1 },
};

#define NREFUSALS (sizeof(refusals) / sizeof(refusals[0]))

int
redis_batch_refused(const struct redis_link *link, const redisReply *rep,
    const char *what, char err[REPLAY_ERR_LEN])
{
	const char *hint = "";
	char text[160];
	size_t i;
	int unfit = 0;

	redis_reply_text(rep, text, sizeof(text));
	if (rep->type != REDIS_REPLY_ERROR) {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: unexpected reply to "
		    "%s: %s", redis_link_where(link), what, text);
		return 0;
	}
	for (i = 0; i < NREFUSALS; i++) {
		if (strncmp(text, refusals[i].prefix,
			strlen(refusals[i].prefix)) == 0) {
			hint = refusals[i].hint;
			unfit |= refusals[i].unfit;
		}
	}
	snprintf(err, REPLAY_ERR_LEN, "Redis at %s refused %s: %s%s",
	    redis_link_where(link), what, text, hint);
	return unfit;
}

int
redis_batch_begin(size_t n, size_t max, const struct replay_time *t,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	size_t i;

	for (i = 0; i < n; i++)
		results[i] = REPLAY_ERROR;
	if (n == 0)
		return 0;
	if (n > max || t->now < 0 || t->expiry <= t->now || t->lifetime < 0) {
		snprintf(err, REPLAY_ERR_LEN, "record: %zu entries, or a time "
		    "out of order", n);
		return -1;
	}
	return 1;
}

int
redis_batch_got(const struct redis_link *link, const redisReply *rep,
    char *out, size_t outsize, int *unfit, char err[REPLAY_ERR_LEN])
{
	if (rep->type == REDIS_REPLY_NIL)
		return 0;
	if (rep->type == REDIS_REPLY_STRING && rep->len < outsize) {
		memcpy(out, rep->str, rep->len);
		out[rep->len] = '\0';
		return 1;
	}
	*unfit |= redis_batch_refused(link, rep, "GET of a seen mark", err);
	return -1;
}

int
redis_batch_set(const struct redis_link *link, const redisReply *rep,
    int *unfit, char err[REPLAY_ERR_LEN])
{
	if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0)
		return 0;
	*unfit |= redis_batch_refused(link, rep, "SET of a seen mark", err);
	return -1;
}

int
redis_batch_waited(const struct redis_batch *b, const redisReply *rep,
    unsigned wait, size_t fresh, int *unfit, char err[REPLAY_ERR_LEN])
{
	if (fresh == 0 || (rep->type == REDIS_REPLY_INTEGER &&
	    rep->integer >= (long long)wait))
		return 0;
	if (rep->type != REDIS_REPLY_INTEGER)
		*unfit |= redis_batch_refused(b->link, rep, "WAIT", err);
	else
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %lld of %u replicas "
		    "acknowledged within %s ms (replay_redis_wait_replicas): "
		    "%zu login%s refused", redis_link_where(b->link),
		    rep->integer, wait, b->wait_ms, fresh,
		    fresh == 1 ? "" : "s");
	return -1;
}

/* --- the exchange -------------------------------------------------------- */

/*
 * The connection's read and write timeouts: what is left until deadline
 * (rule 1). Set only when that differs from what it has, which it rarely
 * does (each exchange has the whole timeout): two system calls saved per
 * batch.
 */
static int
set_timeout(redisContext *c, struct redis_conn_state *st, uint64_t deadline)
{
	uint64_t now = redis_now_ms(), left;

	if (now >= deadline)
		return -1;
	/* (a few milliseconds either way are no matter) */
	left = deadline - now;
	if (left + REDIS_RETIME_SLACK_MS >= st->timeout_ms &&
	    st->timeout_ms + REDIS_RETIME_SLACK_MS >= left)
		return 0;
	if (redis_link_timeout(c, deadline) == -1)
		return -1;
	st->timeout_ms = left;
	return 0;
}

/* Reads n replies into b->replies. Returns 0, or -1 with *saved. */
static int
read_replies(struct redis_batch *b, redisContext *c, struct redis_exchange *x,
    size_t n, int *saved)
{
	void *reply;
	size_t i;

	for (i = 0; i < n; i++) {
		if (redis_next_reply(c, x, &reply) != REDIS_OK) {
			*saved = errno;
			return -1;
		}
		b->replies[b->nreplies++] = reply;
	}
	return 0;
}

int
redis_batch_round(struct redis_batch *b, redisContext *c,
    struct redis_exchange *x, const struct redis_command cmds[], size_t n,
    int *saved)
{
	size_t i;

	*saved = 0;
	if (b->nreplies + n > b->room)
		return -1;
	b->outlen = 0;
	for (i = 0; i < n; i++)
		if (encode(b, &cmds[i]) == -1)
			return -1;
	if (redisAppendFormattedCommand(c, b->out, b->outlen) != REDIS_OK)
		return -1;
	return read_replies(b, c, x, n, saved);
}

/* The store's step before the commands: see redis_batch_init. */
static int
prepare(struct redis_batch *b, redisContext *c, struct redis_exchange *x,
    int reused, int *again, char err[REPLAY_ERR_LEN])
{
	int saved = 0;

	switch (b->prepare != NULL ? b->prepare(b, c, x, &saved, err) :
	    REDIS_READY) {
	case REDIS_READY:
		return 0;
	case REDIS_IO_FAILED:
		return exchange_failed(b, c, x, saved, reused, again, err);
	case REDIS_UNFIT:
		redis_batch_free(b);
		redis_link_failed(b->link, err);
		return -1;
	case REDIS_GREETED:
		break;
	}
	/* Greeting is part of connecting: the exchange has its own time
	 * (x->deadline, set anew), as after a connection made. */
	if (x->retimed)
		b->conn->timeout_ms = x->timeout_ms;
	if (set_timeout(c, b->conn, x->deadline) == -1)
		return link_failed(b, c, x->deadline, err);
	x->timeout_ms = b->conn->timeout_ms;
	return 0;
}

int
redis_batch_write(struct redis_batch *b, const struct redis_command cmds[],
    size_t n, unsigned wait, struct redis_exchange *x, int *reused,
    int *again, char err[REPLAY_ERR_LEN])
{
	redisContext *c;

	*again = 0;
	b->lead = NULL;
	b->first = 0;
	if ((c = redis_link_get(b->link, x->deadline, err)) == NULL)
		return -1;
	b->conn = redis_link_state(b->link);
	*reused = b->conn->used;
	b->conn->used = 1;
	if (set_timeout(c, b->conn, x->deadline) == -1)
		return link_failed(b, c, x->deadline, err);
	x->timeout_ms = b->conn->timeout_ms;
	if (prepare(b, c, x, *reused, again, err) == -1)
		return -1;
	b->first = b->lead != NULL;
	if (b->nreplies + b->first + n + (wait > 0) > b->room) {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %zu commands, more "
		    "than an exchange holds", redis_link_where(b->link), n);
		redis_batch_free(b);
		return -1;
	}
	if (append_all(b, c, cmds, n, wait, x->deadline) == -1)
		return link_failed(b, c, x->deadline, err);
	if (redis_send(c, x) != REDIS_OK)
		return exchange_failed(b, c, x, errno, *reused, again, err);
	return 0;
}

int
redis_batch_read(struct redis_batch *b, struct redis_exchange *x,
    size_t nreplies, int reused, int *again, char err[REPLAY_ERR_LEN])
{
	redisContext *c;
	int saved;

	*again = 0;
	if ((c = redis_link_get(b->link, x->deadline, err)) == NULL) {
		redis_batch_free(b);
		return -1;
	}
	b->conn = redis_link_state(b->link);
	if (b->nreplies + nreplies > b->room) {
		/* (what was written cannot be read: the connection goes) */
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %zu replies, more "
		    "than an exchange holds", redis_link_where(b->link),
		    nreplies);
		redis_batch_free(b);
		redis_link_failed(b->link, err);
		return -1;
	}
	if (read_replies(b, c, x, nreplies, &saved) == -1)
		return exchange_failed(b, c, x, saved, reused, again, err);
	if (x->retimed) /* (what the socket has now) */
		b->conn->timeout_ms = x->timeout_ms;
	redis_link_ok(b->link);
	return 0;
}

static int
exchange_once(struct redis_batch *b, const struct redis_command cmds[],
    size_t n, unsigned wait, uint64_t deadline, int *again,
    char err[REPLAY_ERR_LEN])
{
	struct redis_exchange x = { deadline, 0, 0, 0, 0 };
	int reused;

	if (redis_batch_write(b, cmds, n, wait, &x, &reused, again, err) == -1)
		return -1;
	return redis_batch_read(b, &x, b->first + n + (wait > 0), reused,
	    again, err);
}

int
redis_batch_exchange(struct redis_batch *b, const struct redis_command
    cmds[], size_t n, unsigned wait, uint64_t deadline,
    char err[REPLAY_ERR_LEN])
{
	int again;

	redis_batch_free(b);
	b->retried = 0;
	if (exchange_once(b, cmds, n, wait, deadline, &again, err) == 0)
		return 0;
	if (!again)
		return -1;
	b->retried = 1;
	return exchange_once(b, cmds, n, wait, deadline, &again, err);
}
