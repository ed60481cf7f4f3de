/*
 * One exchange of a Redis store with its server: a list of commands,
 * encoded in Redis's protocol and written at once (pipelined), a lead
 * command ahead of them and WAIT after them if asked, and every reply read
 * before any is used; once more, on a new connection, if the one used was
 * found closed while idle. redis_link.c makes the connection and does each
 * write and read; the stores (redis_single.c, redis_sharded.c) say what is
 * asked and what the replies mean.
 *
 * Rules (kept in redis_batch.c):
 * 1. One deadline for the whole exchange: the connection's timeouts are
 *    what is left of it, each write and read after the first is given only
 *    the time left, and WAIT asks for half of it, so that no server holds a
 *    helper past it. A greeting on a new connection is part of connecting:
 *    the exchange after it has a deadline of its own.
 * 2. Bounded: at most REDIS_EXCHANGE_MAX bytes of replies are read
 *    (redis_next_reply), at most REDIS_BATCH_OUT_MAX bytes of commands
 *    written, and no more replies kept than the store has room for.
 * 3. Fail closed: an exchange that fails hands back no reply (those read
 *    are freed) and says why. A connection that failed, or whose server
 *    is unfit, is dropped, and the link backs off, unless it was found
 *    closed while idle: then the exchange is sent once more, on a new
 *    connection, within the same deadline.
 */
#ifndef REDIS_BATCH_H
#define REDIS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis_link.h"
#include "replay.h"

#define REDIS_ARGS_MAX	    14		/* words of one command */
#define REDIS_BATCH_OUT_MAX (128 * 1024) /* an exchange's commands, encoded */

/* One command: its words (not copied: they must outlive the exchange). */
struct redis_command {
	int argc;
	const char *argv[REDIS_ARGS_MAX];
	size_t len[REDIS_ARGS_MAX];
};

/* Sets c to argc words (at most REDIS_ARGS_MAX), their lengths measured. */
void redis_command_set(struct redis_command *c, int argc,
    const char *const argv[]);

struct redis_batch;

/* What a store's prepare step found; see redis_batch_init. */
enum redis_prepared {
	REDIS_READY,	  /* the commands may go */
	REDIS_GREETED,	  /* a round trip was made: x->deadline is anew */
	REDIS_IO_FAILED,  /* a write or read failed (*saved: its errno) */
	REDIS_UNFIT	  /* err says why the server will not do */
};

typedef enum redis_prepared redis_prepare_fn(struct redis_batch *,
    redisContext *, struct redis_exchange *, int *saved,
    char err[REPLAY_ERR_LEN]);

struct redis_batch {
	/* The store's: where the next exchange goes, set before each. */
	struct redis_link *link;
	void *ctx;			 /* the store, for prepare */

	/* The exchange's, read by the store once it is done. */
	struct redis_conn_state *conn;	 /* the link's connection's */
	const struct redis_command *lead; /* sent ahead (prepare sets it) */
	size_t first;			 /* 1: replies[0] is lead's */
	redisReply **replies;		 /* lead's, the commands', WAIT's */
	size_t nreplies;
	char wait_ms[24];		 /* WAIT's timeout, as sent */
	int retried;			 /* sent twice: see redis_batch_exchange */

	/* Its own. */
	redis_prepare_fn *prepare;
	size_t room;			 /* of replies */
	size_t outlen;
	char out[REDIS_BATCH_OUT_MAX];
};

/*
 * replies: the store's room for room replies. prepare (NULL: none) is
 * called on the connection once it is made and its timeouts set, before
 * the commands are written: it may set b->lead, a command written ahead of
 * them (lead is NULL before it is called), and may make a round trip of
 * its own first (redis_batch_round), after which it sets x->deadline anew
 * and returns REDIS_GREETED.
 */
void redis_batch_init(struct redis_batch *, redisReply **replies,
    size_t room, redis_prepare_fn *prepare, void *ctx);

/*
 * The commands cmds[0..n), after b->lead if prepare set it and before
 * WAIT wait TIMEOUT if wait > 0 (replicas to acknowledge; TIMEOUT half the
 * time left), on b->link before deadline: written, and every reply read
 * into b->replies (b->first + n + (wait > 0) of them). Replies read before
 * are freed first. Returns 0, or -1 with err and no reply kept;
 * b->retried says whether it was sent twice.
 */
int redis_batch_exchange(struct redis_batch *, const struct redis_command
    cmds[], size_t n, unsigned wait, uint64_t deadline,
    char err[REPLAY_ERR_LEN]);

/*
 * The same in two steps, so that several connections' exchanges are under
 * way at once: written (connecting first if need be) with x's deadline,
 * then its replies read. Either returns 0, or -1 with err; *again if the
 * connection was found closed while idle, worth one more try on a new one
 * (then redis_batch_write again). reused: from redis_batch_write, for
 * redis_batch_read.
 */
int redis_batch_write(struct redis_batch *, const struct redis_command
    cmds[], size_t n, unsigned wait, struct redis_exchange *x, int *reused,
    int *again, char err[REPLAY_ERR_LEN]);
int redis_batch_read(struct redis_batch *, struct redis_exchange *x,
    size_t nreplies, int reused, int *again, char err[REPLAY_ERR_LEN]);

/*
 * For prepare: cmds[0..n) written on c and their replies read into
 * b->replies. Returns 0, or -1 with *saved the failure's errno.
 */
int redis_batch_round(struct redis_batch *, redisContext *c,
    struct redis_exchange *x, const struct redis_command cmds[], size_t n,
    int *saved);

/* Frees the replies read. */
void redis_batch_free(struct redis_batch *);

/*
 * Why a reply to what is not what was expected, in err for the log: an
 * error reply (with a hint where Redis's words call for one), or another
 * kind. Returns 1 if it makes the server unfit (its connection is of no
 * more use: a replica, a refused login), else 0.
 */
int redis_batch_refused(const struct redis_link *, const redisReply *,
    const char *what, char err[REPLAY_ERR_LEN]);

/*
 * A batch of n logins as a store is handed it: every result REPLAY_ERROR
 * until it is answered. Returns 1 if there is something to record, 0 if n
 * is 0, -1 with err if n is more than max or t's times are out of order.
 */
int redis_batch_begin(size_t n, size_t max, const struct replay_time *,
    enum replay_result results[], char err[REPLAY_ERR_LEN]);

/*
 * The seen marks' replies (isuser = seen), either layout's. GET's: 1 with
 * the string in out (one that fits), 0 if there is none; SET's: 0 for OK.
 * Either returns -1 with err and *unfit as redis_batch_refused says.
 */
int redis_batch_got(const struct redis_link *, const redisReply *,
    char *out, size_t outsize, int *unfit, char err[REPLAY_ERR_LEN]);
int redis_batch_set(const struct redis_link *, const redisReply *,
    int *unfit, char err[REPLAY_ERR_LEN]);

/*
 * WAIT's reply to b's last exchange: 0 if wait replicas acknowledged it,
 * or if fresh = 0 (only what was recorded now waits for them); else -1
 * with err, saying that fresh logins are refused, and *unfit as
 * redis_batch_refused says.
 */
int redis_batch_waited(const struct redis_batch *, const redisReply *,
    unsigned wait, size_t fresh, int *unfit, char err[REPLAY_ERR_LEN]);

#endif
