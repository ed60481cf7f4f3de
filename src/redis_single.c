/*
 * The Redis store on one server or Sentinel's primary (replay_redis.c
 * parses its settings and hands it every call; a cluster's is
 * redis_sharded.c's).
 *
 * Security rules for this file:
 * 1. Single use across every helper of every server sharing the Redis: a
 *    nonce's key is written with SET NX, so exactly one caller ever gets
 *    REPLAY_FRESH for it; helpers of the first layout, whose script SETs
 *    the same key NX, share that key until they are shut out (rule 8).
 * 2. Fail closed: a result is REPLAY_FRESH only when its reply says the
 *    nonce was recorded now, in a batch whose read of the mark, after the
 *    records, found the store complete (rule 6) and the clocks in step
 *    (rule 7), and, with
 *    replay_redis_wait_replicas, when that many replicas acknowledged the
 *    batch; a missing, late, refused or unexpected reply is REPLAY_ERROR.
 * 3. Keys show neither a JID nor a nonce: only their hashes, in hex.
 * 4. Bounded: a JID's live records are at most per_user: it is counted per
 *    period of one record lifetime, and a nonce is kept only while its
 *    period and the one before hold at most per_user (a record lives at
 *    most one period, so every live one is in those two). Redis's own
 *    maxmemory, with noeviction, bounds the rest (check-config warns of
 *    any other policy: an evicted nonce could be replayed).
 * 5. Never hang, never storm: each call has replay_redis_timeout_ms for
 *    connecting (with the identity check on a new connection) and for the
 *    round trip; redis_link backs off after failures.
 * 6. A Redis that lost nonces cannot bring them back unnoticed. PREFIXmeta
 *    says from when ("since") the store holds every nonce recorded, and
 *    every batch reads it after its records, on the same connection: a
 *    flush before a record is seen by the read after it, and a record
 *    before a flush found its nonce if it was there. A batch that finds
 *    it missing (flushed, evicted, a new Redis) is refused, and "since"
 *    becomes the end of one record lifetime. On each connection the
 *    server's identity (INFO: run_id, master_replid) is checked against
 *    the one recorded beside the mark, PREFIXid: another server (restarted,
 *    restored from a snapshot, a replica promoted without WAIT) may have
 *    lost what was recorded after its last save, so "since" moves on by
 *    one record lifetime. A replica promoted from the recorded primary's
 *    history is trusted only with replay_redis_wait_replicas.
 * 7. No clock brings a record back. Each record is kept for the longest
 *    lifetime any helper of the store has used ("life", the greatest
 *    written; a helper that raises it moves "since" on, as records made
 *    before may be too short) plus twice SKEW_S. Every batch compares the
 *    helper's clock with Redis's (TIME: at most SKEW_S apart, as records
 *    expire by Redis's clock) and with the latest time any helper recorded
 *    at ("hw", only ever raised): a clock set back refuses until it
 *    catches up, or until reset-store.
 * 8. The first layout (a script per login, PREFIXsince) is converted on the
 *    first connection, in the identity check's atomic step: its mark is
 *    set to SHUT_OUT, which its helpers read as a record not complete for
 *    centuries, so they refuse every login from then on; its nonce keys
 *    are this layout's, so nothing either accepted is accepted again. Its
 *    mark is not trusted (a snapshot of it may be what was restored): the
 *    new record begins, refusing for one record lifetime.
 * 9. No change of keys brings a record back. The keys are MACs under
 *    store_secret: under another one (or none) the nonces recorded before
 *    cannot be found. Every batch raises, in the mark, its keys' member
 *    "k:ID" (ID the keys' id, config.h: a MAC under the store's key, never
 *    the key) to until when a token accepted now may be valid, and its
 *    read of the mark refuses while another ID's tokens may still be
 *    (plus MARGIN_MS): a changed store_secret refuses for one record
 *    lifetime, and helpers with different keys refuse each other.
 *
 * Keys, PREFIX being replay_redis_key_prefix, U the JID's key and K the
 * nonce's, in hex:
 *	PREFIX{U}:n:K	"1", expiring with its record (PX)
 *	PREFIX{U}:c:N	how many nonces the JID recorded in period N (of one
 *			record lifetime, in ms since the epoch), expiring
 *			at the end of period N + 1
 *	PREFIXmeta	a sorted set: "since" (Unix seconds), "hw" and "life"
 *			(ms), the latter two raised with ZADD GT, and "k:ID"
 *			for each keys' id used (rule 9; ms), which the next
 *			helper to connect drops once long past; no expiry
 *	PREFIXid	"RUN_ID REPLID" of the server the store is on; no expiry
 *	PREFIXsince	the first layout's mark: SHUT_OUT once converted
 *	PREFIX{U}:s	the JID's seen mark (isuser = seen), which
 *			replay_redis.c names and reads, for both layouts
 * The braces are a hash tag: a login's keys share one cluster slot. The
 * mark is outside it: on a single server or Sentinel one connection
 * orders both. A Redis Cluster is not served here (redis_sharded.c keeps
 * the first layout there, with a mark per slot).
 *
 * A batch of logins is one round trip (redis_batch.c), no transaction and
 * no Lua: TIME, for each login SET NX PX, INCR, PEXPIREAT and GET (its
 * JID's count now and in the period before), then the mark raised and read
 * (ZADD GT, ZRANGE), and WAIT when replicas must acknowledge; every reply
 * read before anything is answered. A login not accepted is taken off its JID's
 * count (DECR; and DEL of its nonce if it was recorded now) in a second
 * round trip. A new connection first asks INFO, then runs the one script
 * (EVAL, the identity check and the conversion) ahead of its first batch.
 * What a store knows of a connection lives with the link, which a store
 * opened in its place takes over.
 *
 * For the sandbox: after start-up this file makes no system call of its
 * own but clock_gettime; its connections' are listed in redis_link.c
 * (socket, connect, poll, fcntl, getsockopt, setsockopt, read/recvfrom,
 * write/sendto, close; getrandom with TLS; and, where a host is named by
 * name, what resolving it again needs). A store opened again after a
 * failure takes over the link, so no file is read; only check-config,
 * which is not sandboxed, draws random bytes (getrandom).
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_batch.h"
#include "redis_describe.h"
#include "redis_keys.h"
#include "redis_link.h"
#include "redis_url.h"
#include "redis_single.h"

#define BATCH_MAX   64			/* entries recorded at once */
#define PER_ENTRY   4			/* commands per entry */
#define CMDS_MAX    (PER_ENTRY * BATCH_MAX + 16)
#define REPLIES_MAX (CMDS_MAX + 2)	/* and the script's, and WAIT's */
#define PROBE_TTL_MS 2000
#define DEFAULT_TIMEOUT_MS 250
#define DEFAULT_PREFIX	    "pta:"
/* How far apart the helpers' clocks and Redis's may be. */
#define SKEW_S	    2
#define SKEW_MS	    (SKEW_S * 1000)
/* Added to every record's lifetime: two clocks SKEW_S apart either way,
 * and a second for time(3)'s rounding down. */
#define MARGIN_MS   (2 * SKEW_MS + 1000)
/* How long (ms) after its "until" a keys' member of the mark (rule 9) is
 * dropped: no helper heeds it after MARGIN_MS by a clock a second and
 * SKEW_MS behind Redis's, from a batch in flight for at most the longest
 * replay_redis_timeout_ms. */
#define PAST_MS	    600000
#define PAST_TEXT   TEXT_OF(PAST_MS)
_Static_assert(PAST_MS > MARGIN_MS + SKEW_MS + 1000 + REDIS_TIMEOUT_MAX_MS,
    "PAST_MS");
/* The first layout's mark, once converted: 2286, as its helpers read it. */
#define SHUT_OUT    "9999999999"

/* What the identity check found on a connection. */
enum finding { SAME, BEGUN, REPLACED, LONGER };

/*
 * The identity check and the conversion, once per connection, atomic.
 * KEYS: the mark, the identity, the first layout's. ARGV: the server's identity
 * now, the replid it must have had to be trusted after a promotion ("":
 * none), "since" if the store must begin again (Unix seconds), SHUT_OUT,
 * the caller's record lifetime (ms). The same server is the same run_id
 * (its replid changes when a first replica comes: it is written again on
 * each connection, for the next promotion). A mark without an identity
 * is not trusted (a snapshot taken before any helper came); nor is the
 * first layout's mark (the same). The keys' members (rule 9) that no
 * helper heeds any more, past by PAST_MS by Redis's clock, are dropped (a
 * helper raising its own meanwhile cannot lose it: the script is atomic),
 * so that a change of keys leaves its member for a while only. Returns
 * { what was found, "life" }.
 */
static const char hello_script[] =
    "local id = redis.call('GET', KEYS[2])\n"
    "local since = redis.call('ZSCORE', KEYS[1], 'since')\n"
    "local life = tonumber(redis.call('ZSCORE', KEYS[1], 'life') or '0')\n"
    "local own = tonumber(ARGV[5])\n"
    "local same = id and string.match(id, '^%S+') ==\n"
    "  string.match(ARGV[1], '^%S+')\n"
    "local trusted = id and ARGV[2] ~= '' and\n"
    "  string.match(id, ' (%S+)$') == ARGV[2]\n"
    "local found = 0\n"
    "if not since then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[3], 'since')\n"
    "  found = 1\n"
    "elseif not same and not trusted then\n"
    "  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], 'since')\n"
    "  found = 2\n"
    "elseif life > 0 and life < own then\n"
    "  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], 'since')\n"
    "  found = 3\n"
    "end\n"
    "if life < own then\n"
    "  life = own\n"
    "  redis.call('ZADD', KEYS[1], 'GT', own, 'life')\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "redis.call('SET', KEYS[3], ARGV[4])\n"
    "local t = redis.call('TIME')\n"
    "local past = string.format('(%d', tonumber(t[1]) * 1000 +\n"
    "  math.floor(tonumber(t[2]) / 1000) - " PAST_TEXT ")\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', past,\n"
    "    'BYSCORE')) do\n"
    "  if string.sub(m, 1, 2) == 'k:' then\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "  end\n"
    "end\n"
    "return { found, life }\n";

/* Where a batch's own commands are: TIME, its entries from n on, the
 * mark's read. */
struct head {
	size_t time, n, read;
};

struct redis_single {
	struct redis_link *link;
	enum replay_access access;
	char prefix[REDIS_PREFIX_MAX];
	unsigned per_user, timeout_ms, wait_replicas;
	struct redis_conn_state *conn; /* its link's connection's */
	int broken;		    /* its server is unfit: drop it */

	/* One exchange: the commands asked for, the words they point to,
	 * and the replies: the script's first if it ran (io.first = 1),
	 * then one per command, then WAIT's if wait. */
	struct redis_batch io;
	struct redis_command cmds[CMDS_MAX];
	size_t ncmds;
	int hello, wait;
	struct redis_command script;
	/* A batch being recorded, built (again) once its connection is
	 * greeted: its lifetime and period are the store's. */
	const struct replay_entry *entries;
	size_t n;
	const struct replay_time *t;
	struct head head;
	int raise;
	char nkey[BATCH_MAX][REDIS_KEY_MAX], ckey[BATCH_MAX][REDIS_KEY_MAX],
	    pkey[BATCH_MAX][REDIS_KEY_MAX];
	char meta_key[REDIS_PREFIX_MAX + 8], id_key[REDIS_PREFIX_MAX + 8],
	    old_key[REDIS_PREFIX_MAX + 8];
	char ttl[24], at[24], now_ms[24], hw[24], life[24], since[24],
	    trusted[64];
	/* The store keys' member of the mark (rule 9), and until when a token
	 * accepted now may be valid, its score. */
	char key_member[24], key_until[24];
	redisReply *replies[REPLIES_MAX];
};

/* --- keys and commands -------------------------------------------------- */

/* The nonce's key, and its JID's counts' in period now and the one before. */
static void
make_keys(struct redis_single *r, const struct replay_entry *e, size_t i,
    unsigned long long period)
{
	char suffix[REDIS_KEY_SUFFIX_MAX];

	redis_nonce_key(r->nkey[i], r->prefix, e);
	snprintf(suffix, sizeof(suffix), ":c:%llu", period);
	redis_user_key(r->ckey[i], r->prefix, e->user, suffix);
	snprintf(suffix, sizeof(suffix), ":c:%llu", period - 1);
	redis_user_key(r->pkey[i], r->prefix, e->user, suffix);
}

/* Adds a command; returns its index. */
static size_t
add(struct redis_single *r, int argc, const char *const argv[])
{
	redis_command_set(&r->cmds[r->ncmds], argc, argv);
	return r->ncmds++;
}

/* --- a new connection ---------------------------------------------------- */

/*
 * The server's identity, from INFO server and INFO replication, to
 * conn->id, and the identity it had before a promotion to r->trusted
 * when promotions are trusted. Returns 0, or -1 with why.
 */
static int
read_identity(struct redis_single *r, char err[REPLAY_ERR_LEN])
{
	const redisReply *server = r->replies[0], *repl = r->replies[1];
	char run_id[48], replid[48], replid2[48];

	if (server->type != REDIS_REPLY_STRING ||
	    repl->type != REDIS_REPLY_STRING) {
		redis_reply_text(server->type != REDIS_REPLY_STRING ? server :
		    repl, run_id, sizeof(run_id));
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s refused INFO: %s "
		    "(the ACL user needs INFO: see the minimal ACL in "
		    "prosody-token-auth(1))", redis_link_where(r->link), run_id);
		return -1;
	}
	redis_info_field(server, "run_id", run_id, sizeof(run_id));
	redis_info_field(repl, "master_replid", replid, sizeof(replid));
	redis_info_field(repl, "master_replid2", replid2, sizeof(replid2));
	if (run_id[0] == '\0' || replid[0] == '\0') {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: INFO names no "
		    "run_id or master_replid", redis_link_where(r->link));
		return -1;
	}
	snprintf(r->conn->id, sizeof(r->conn->id), "%s %s", run_id, replid);
	/* A promoted replica keeps the history it shared with its primary
	 * as replid2; WAIT made every accepted nonce part of it. */
	snprintf(r->trusted, sizeof(r->trusted), "%s", r->wait_replicas > 0 &&
	    strspn(replid2, "0") != strlen(replid2) ? replid2 : "");
	return 0;
}

static void build_batch(struct redis_single *);

/*
 * On a connection new to the store, before a batch is written (the
 * exchange's prepare step): INFO and the store's lifetime, then the batch
 * built with it, and the identity check, whose script goes ahead of the
 * batch's commands (io.first = 1). Greeting is part of connecting: the
 * batch then has its own time, as after a connection made.
 */
static enum redis_prepared
greet(struct redis_batch *b, redisContext *c, struct redis_exchange *x,
    int *saved, char err[REPLAY_ERR_LEN])
{
	static const char *const server[] = { "INFO", "server" };
	static const char *const repl[] = { "INFO", "replication" };
	struct redis_single *r = b->ctx;
	const char *life[] = { "ZSCORE", r->meta_key, "life" };
	const char *argv[] = { "EVAL", hello_script, "3", r->meta_key,
		r->id_key, r->old_key, r->conn->id, r->trusted, r->since,
		SHUT_OUT, r->life };
	struct redis_command cmds[3];
	long long known;

	if (!r->hello || r->t == NULL || r->conn->greeted)
		return REDIS_READY;
	redis_command_set(&cmds[0], 2, server);
	redis_command_set(&cmds[1], 2, repl);
	redis_command_set(&cmds[2], 3, life);
	if (redis_batch_round(b, c, x, cmds, 3, saved) == -1)
		return REDIS_IO_FAILED;
	if (read_identity(r, err) == -1)
		return REDIS_UNFIT;
	/* The store's lifetime, for the batch's records and period. */
	if (r->replies[2]->type == REDIS_REPLY_STRING &&
	    (known = strtoll(r->replies[2]->str, NULL, 10)) > 0)
		r->conn->life_ms = (uint64_t)known;
	redis_batch_free(b);
	build_batch(r);
	redis_command_set(&r->script, 11, argv);
	b->lead = &r->script;
	x->deadline = redis_now_ms() + r->timeout_ms;
	return REDIS_GREETED;
}

/* The commands asked for, in one round trip (redis_batch.h). */
static int
exchange(struct redis_single *r, char err[REPLAY_ERR_LEN])
{
	r->broken = 0;
	return redis_batch_exchange(&r->io, r->cmds, r->ncmds,
	    r->wait ? r->wait_replicas : 0, redis_now_ms() + r->timeout_ms,
	    err);
}

/* --- replies --------------------------------------------------------------- */

/* Why a reply to what is not what was expected, for the log; a server
 * found unfit is dropped after the reply is used. */
static void
refused(struct redis_single *r, const redisReply *rep, const char *what,
    char err[REPLAY_ERR_LEN])
{
	r->broken |= redis_batch_refused(r->link, rep, what, err);
}

/* The script's reply, if it ran: what it found. Returns 0, or -1 with err. */
static int
greeted(struct redis_single *r, char err[REPLAY_ERR_LEN])
{
	const redisReply *rep = r->replies[0];

	if (r->io.first == 0)
		return 0;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[0]->integer >= SAME &&
	    rep->element[0]->integer <= LONGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->integer >= 0) {
		r->conn->greeted = 1;
		r->conn->finding = (int)rep->element[0]->integer;
		r->conn->life_ms = (uint64_t)rep->element[1]->integer;
		return 0;
	}
	refused(r, rep, "the identity check (EVAL)", err);
	return -1;
}

/* WAIT's reply: enough replicas, or no login of the batch is accepted. */
static int
replicas_acknowledged(struct redis_single *r, enum replay_result results[],
    size_t n, char err[REPLAY_ERR_LEN])
{
	const redisReply *rep = r->replies[r->io.first + r->ncmds];
	size_t i, fresh = 0;

	for (i = 0; i < n; i++)
		fresh += results[i] == REPLAY_FRESH;
	/* (only what was recorded now waits for the replicas) */
	if (redis_batch_waited(&r->io, rep, r->wait_replicas, fresh,
		&r->broken, err) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (results[i] == REPLAY_FRESH)
			results[i] = REPLAY_ERROR;
	return -1;
}

/* --- the mark and the clocks ---------------------------------------------- */

/* The member of the mark that says the store's keys were in use (rule 9):
 * "k:" and their id (config.h), a MAC under the store's key, never the key;
 * 0 is no store_secret. */
static void
key_member(struct redis_single *r, uint64_t key_id)
{
	snprintf(r->key_member, sizeof(r->key_member), "k:%016llx",
	    (unsigned long long)key_id);
}

/* The mark, as read: -1 where it has no such member; others: until when
 * (ms) tokens accepted under other keys may be valid, 0 if none. */
struct mark {
	double since, hw, life, others;
};

static int
read_mark(const redisReply *rep, const char *mine, struct mark *m)
{
	size_t i;
	double v;
	char *end;

	m->since = m->hw = m->life = -1;
	m->others = 0;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0)
		return -1;
	for (i = 0; i < rep->elements; i += 2) {
		if (rep->element[i]->type != REDIS_REPLY_STRING ||
		    rep->element[i + 1]->type != REDIS_REPLY_STRING)
			return -1;
		v = strtod(rep->element[i + 1]->str, &end);
		if (*end != '\0' || !(v >= 0))
			return -1;
		if (strcmp(rep->element[i]->str, "since") == 0)
			m->since = v;
		else if (strcmp(rep->element[i]->str, "hw") == 0)
			m->hw = v;
		else if (strcmp(rep->element[i]->str, "life") == 0)
			m->life = v;
		else if (strncmp(rep->element[i]->str, "k:", 2) == 0 &&
		    strcmp(rep->element[i]->str, mine) != 0 && v > m->others)
			m->others = v;
	}
	return 0;
}

/* Why the store is not complete yet, as the connection found it. */
static const char *
why_incomplete(const struct redis_single *r)
{
	switch (r->conn->finding) {
	case REPLACED:
		return "it is not the server the store was on (restarted, "
		       "restored, a replica promoted, or never recorded): "
		       "what was recorded after its last save may be lost";
	case LONGER:
		return "a helper with a longer token lifetime (otp_window, "
		       "otp_interval) began to use it: records made before may "
		       "expire too early";
	case BEGUN:
		return "it began a new record of nonces (a new Redis, or one "
		       "that lost its data)";
	default:
		return "a helper found it new, emptied, replaced, or used with "
		       "a longer token lifetime, and logged which";
	}
}

/*
 * The mark as read (rule 6): what the connection learns of it (missing,
 * the longest lifetime used), and whether it is there. Returns 0, or -1
 * with why.
 */
static int
mark_present(struct redis_single *r, const redisReply *mark, struct mark *m,
    char err[REPLAY_ERR_LEN])
{
	if (read_mark(mark, r->key_member, m) == -1) {
		refused(r, mark, "ZRANGE", err);
		return -1;
	}
	if ((r->conn->since_missing = m->since < 0))
		r->conn->finding = BEGUN;
	if (m->life > (double)r->conn->life_ms)
		r->conn->life_ms = (uint64_t)m->life;
	if (m->since >= 0)
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "Redis at %s holds no %s (a new "
	    "Redis, or one that lost its data): it began a new record "
	    "of nonces: a token accepted before may have been "
	    "forgotten, so logins are refused for one token lifetime "
	    "from now", redis_link_where(r->link), r->meta_key);
	return -1;
}

/*
 * The helper's clock and Redis's (TIME's reply) at most SKEW_MS apart
 * (rule 7), as Redis expires the records by its own. Returns 0, or -1
 * with why.
 */
static int
clocks_agree(struct redis_single *r, const redisReply *time_rep,
    long long now_ms, char err[REPLAY_ERR_LEN])
{
	long long redis_ms, diff;

	if (time_rep->type != REDIS_REPLY_ARRAY || time_rep->elements != 2 ||
	    time_rep->element[0]->type != REDIS_REPLY_STRING ||
	    time_rep->element[1]->type != REDIS_REPLY_STRING) {
		refused(r, time_rep, "TIME", err);
		return -1;
	}
	redis_ms = strtoll(time_rep->element[0]->str, NULL, 10) * 1000 +
	    strtoll(time_rep->element[1]->str, NULL, 10) / 1000;
	diff = redis_ms - now_ms;
	/* (now is rounded down to the second) */
	if (diff < -SKEW_MS || diff > SKEW_MS + 1000) {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: this helper's "
		    "clock is %lld ms %s Redis's (at most %d s apart: Redis "
		    "expires the records by its clock): logins are refused "
		    "until the clocks agree (NTP)", redis_link_where(r->link),
		    diff < 0 ? -diff : diff, diff < 0 ? "ahead of" : "behind",
		    SKEW_S);
		return -1;
	}
	r->conn->agreed_ms = (uint64_t)now_ms;
	return 0;
}

/*
 * The helper's clock not behind the latest time a helper recorded at (the
 * mark's hw, rule 7): records may have expired by the later clock.
 * Returns 0, or -1 with why.
 */
static int
clock_caught_up(const struct redis_single *r, const struct mark *m,
    long long now_ms, char err[REPLAY_ERR_LEN])
{
	/* (two helpers may each be SKEW_MS off Redis, either way) */
	if (m->hw <= (double)(now_ms + 2 * SKEW_MS + 1000))
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "Redis at %.80s: the clock is "
	    "%.0f s behind the latest time a helper recorded at "
	    "(%.70s hw): records may have expired by the later clock; "
	    "refused until it catches up (or reset-store)",
	    redis_link_where(r->link), (m->hw - (double)now_ms) / 1000,
	    r->meta_key);
	return -1;
}

/*
 * No token accepted under other keys may still be valid (rule 9): the
 * nonces recorded under them cannot be found. Returns 0, or -1 with why.
 */
static int
keys_unchanged(const struct redis_single *r, const struct mark *m,
    long long now_ms, char err[REPLAY_ERR_LEN])
{
	/* (another's "until" is when its tokens may still be valid, by
	 * its clock: MARGIN_MS covers the clocks' difference) */
	if (m->others + MARGIN_MS <= (double)now_ms)
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "Redis at %.80s: the store's keys "
	    "changed (store_secret set or changed, or helpers sharing "
	    "it with different ones, or some without: give them all the "
	    "same): nonces recorded under the other keys cannot be "
	    "found, so logins are refused for %.0f s more",
	    redis_link_where(r->link),
	    (m->others + MARGIN_MS - (double)now_ms) / 1000 + 1);
	return -1;
}

/*
 * Whether the store holds every record that may still matter (rule 6),
 * and the clocks agree (rule 7), from the mark and Redis's TIME (NULL:
 * not asked). Returns 0, or -1 with why.
 */
static int
store_complete(struct redis_single *r, const redisReply *mark,
    const redisReply *time_rep, time_t now, char err[REPLAY_ERR_LEN])
{
	long long now_ms = (long long)now * 1000;
	struct mark m;

	if (mark_present(r, mark, &m, err) == -1 ||
	    (time_rep != NULL &&
		clocks_agree(r, time_rep, now_ms, err) == -1) ||
	    clock_caught_up(r, &m, now_ms, err) == -1 ||
	    keys_unchanged(r, &m, now_ms, err) == -1)
		return -1;
	if ((double)now >= m.since) {
		r->conn->finding = SAME;
		return 0;
	}
	snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %s; so logins are refused "
	    "for %.0f s more, until every token accepted before has expired",
	    redis_link_where(r->link), why_incomplete(r),
	    m.since - (double)now);
	return -1;
}

/* --- the store -------------------------------------------------------------- */

/*
 * The batch's head: TIME, and, after the mark was found missing, the
 * identity and the first layout's mark written again.
 */
static struct head
add_head(struct redis_single *r)
{
	static const char *const time_argv[] = { "TIME" };
	const char *id[] = { "SET", r->id_key, r->conn->id };
	const char *old[] = { "SET", r->old_key, SHUT_OUT };
	struct head h;

	h.time = add(r, 1, time_argv);
	if (r->conn->since_missing) {
		add(r, 3, old);
		if (r->conn->id[0] != '\0')
			add(r, 3, id);
	}
	h.n = r->ncmds;
	return h;
}

/*
 * The batch's tail, after its records: the mark raised ("since" moved on
 * when this helper's lifetime is longer than the store's, or the mark was
 * found missing) and read. Read after the records, on the same connection,
 * it says whether they went into a complete store: a flush (or a longer
 * lifetime, a new server) before a record is seen by the read after it,
 * and one after it found the nonce there if it was.
 */
static void
add_tail(struct redis_single *r, struct head *h, int raise)
{
	const char *zadd[REDIS_ARGS_MAX] = { "ZADD", r->meta_key, "GT",
		r->life, "life", r->key_until, r->key_member };
	const char *zrange[] = { "ZRANGE", r->meta_key, "0", "-1",
		"WITHSCORES" };
	int n = 7;

	/* (hw: only a time Redis's clock agreed with, so that a clock far
	 * ahead cannot raise it and shut the others out) */
	if (r->conn->agreed_ms != 0)
		zadd[n++] = r->hw, zadd[n++] = "hw";
	if (raise)
		zadd[n++] = r->since, zadd[n++] = "since";
	add(r, n, zadd);
	h->read = add(r, 5, zrange);
}

/* The first error among the batch's own replies (not the entries'). */
static int
batch_refused(struct redis_single *r, const struct head *h,
    char err[REPLAY_ERR_LEN])
{
	size_t i;

	for (i = 0; i < r->ncmds; i++) {
		if (i >= h->n && i < h->read - 1)
			continue;
		if (r->replies[r->io.first + i]->type == REDIS_REPLY_ERROR) {
			refused(r, r->replies[r->io.first + i], "a batch", err);
			return -1;
		}
	}
	return 0;
}

/* An integer reply, or a string of one (GET); nil is 0. */
static int
count_of(const redisReply *rep, long long *n)
{
	char *end;

	if (rep->type == REDIS_REPLY_NIL) {
		*n = 0;
		return 0;
	}
	if (rep->type == REDIS_REPLY_INTEGER) {
		*n = rep->integer;
		return 0;
	}
	if (rep->type != REDIS_REPLY_STRING)
		return -1;
	*n = strtoll(rep->str, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/*
 * One entry's result from its four replies; *counted if its INCR went
 * through, *made if its SET did.
 */
static enum replay_result
entry_result(struct redis_single *r, const redisReply *const rep[PER_ENTRY],
    int *counted, int *made, int *errors, char err[REPLAY_ERR_LEN])
{
	long long now, before;

	*counted = rep[1]->type == REDIS_REPLY_INTEGER;
	*made = rep[0]->type == REDIS_REPLY_STATUS;
	if ((rep[0]->type == REDIS_REPLY_STATUS ||
		rep[0]->type == REDIS_REPLY_NIL) && *counted &&
	    rep[2]->type == REDIS_REPLY_INTEGER &&
	    count_of(rep[1], &now) == 0 && count_of(rep[3], &before) == 0) {
		if (!*made)
			return REPLAY_SEEN;
		return now + before <= (long long)r->per_user ?
		    REPLAY_FRESH : REPLAY_USER_FULL;
	}
	if ((*errors)++ == 0) {
		size_t i;

		for (i = 0; i < PER_ENTRY; i++)
			if (rep[i]->type == REDIS_REPLY_ERROR)
				break;
		refused(r, rep[i < PER_ENTRY ? i : 0], "a login's record", err);
	}
	return REPLAY_ERROR;
}

/*
 * Takes off its JID's count what was counted but not accepted, and drops
 * the nonces recorded now but refused (no room, or the batch refused), in
 * a round trip of its own, so that a count is what its JID holds. Nothing
 * answered depends on it: if it fails, a count stays as high as what is
 * recorded, until its period ends (the safe side).
 */
static void
uncount(struct redis_single *r, const enum replay_result results[],
    const int counted[], const int made[], size_t n)
{
	char err[REPLAY_ERR_LEN];
	size_t i;

	r->ncmds = 0;
	r->wait = 0;
	r->hello = 0;
	for (i = 0; i < n; i++) {
		const char *decr[] = { "DECR", r->ckey[i] };
		const char *del[] = { "DEL", r->nkey[i] };

		if (results[i] == REPLAY_FRESH)
			continue;
		/* (made now, and refused: no caller was told yes for it) */
		if (made[i])
			add(r, 2, del);
		if (counted[i])
			add(r, 2, decr);
	}
	if (r->ncmds > 0)
		(void)exchange(r, err);
	redis_batch_free(&r->io);
}

/* The numbers of a batch, as text: times, lifetime, TTL, the period. */
static unsigned long long
batch_numbers(struct redis_single *r, const struct replay_time *t,
    uint64_t own_life_ms)
{
	uint64_t life = own_life_ms > r->conn->life_ms ? own_life_ms :
	    r->conn->life_ms, ttl = life + MARGIN_MS,
		 now_ms = (uint64_t)t->now * 1000, period = now_ms / ttl;

	snprintf(r->now_ms, sizeof(r->now_ms), "%llu",
	    (unsigned long long)now_ms);
	snprintf(r->hw, sizeof(r->hw), "%llu",
	    (unsigned long long)r->conn->agreed_ms);
	snprintf(r->life, sizeof(r->life), "%llu",
	    (unsigned long long)own_life_ms);
	snprintf(r->ttl, sizeof(r->ttl), "%llu", (unsigned long long)ttl);
	snprintf(r->key_until, sizeof(r->key_until), "%llu",
	    (unsigned long long)(now_ms + life));
	snprintf(r->at, sizeof(r->at), "%llu",
	    (unsigned long long)((period + 2) * ttl));
	/* "since", if it must move: when what is accepted now has expired
	 * for every helper. */
	snprintf(r->since, sizeof(r->since), "%llu",
	    (unsigned long long)((now_ms + life + MARGIN_MS) / 1000 + 1));
	return (unsigned long long)period;
}

/* The batch's commands (again, once its connection is greeted). */
static void
build_batch(struct redis_single *r)
{
	const struct replay_time *t = r->t;
	uint64_t own_life_ms = (uint64_t)(t->lifetime > 0 ? t->lifetime :
	    t->expiry - t->now) * 1000;
	unsigned long long period;
	size_t i;

	period = batch_numbers(r, t, own_life_ms);
	r->ncmds = 0;
	r->raise = r->conn->since_missing || (r->conn->greeted &&
	    own_life_ms > r->conn->life_ms);
	r->head = add_head(r);
	for (i = 0; i < r->n; i++) {
		const char *set[] = { "SET", r->nkey[i], "1", "NX", "PX",
			r->ttl };
		const char *incr[] = { "INCR", r->ckey[i] };
		const char *expire[] = { "PEXPIREAT", r->ckey[i], r->at };
		const char *get[] = { "GET", r->pkey[i] };

		make_keys(r, &r->entries[i], i, period);
		add(r, 6, set);
		add(r, 2, incr);
		add(r, 3, expire);
		add(r, 2, get);
	}
	add_tail(r, &r->head, r->raise);
}

int
redis_single_record(struct redis_single *r,
    const struct replay_entry entries[], size_t n,
    const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	int counted[BATCH_MAX], made[BATCH_MAX], errors = 0, rc;
	const redisReply *rep[PER_ENTRY];
	size_t i, j, k;

	if ((rc = redis_batch_begin(n, BATCH_MAX, t, results, err)) < 1)
		return rc;
	r->entries = entries;
	r->n = n;
	r->t = t;
	key_member(r, entries[0].key_id);
	build_batch(r);
	r->wait = r->wait_replicas > 0;
	r->hello = r->access == REPLAY_WRITE;
	if (exchange(r, err) == -1) {
		r->t = NULL;
		return -1;
	}
	k = r->io.first + r->head.n;
	for (i = 0; i < n; i++) {
		for (j = 0; j < PER_ENTRY; j++)
			rep[j] = r->replies[k + PER_ENTRY * i + j];
		results[i] = entry_result(r, rep, &counted[i], &made[i],
		    &errors, err);
	}
	/* (A raise moved "since" on: say why.) */
	if (r->raise && !r->conn->since_missing)
		r->conn->finding = LONGER;
	if (greeted(r, err) == -1 || batch_refused(r, &r->head, err) == -1 ||
	    store_complete(r, r->replies[r->io.first + r->head.read],
		r->replies[r->io.first + r->head.time], t->now, err) == -1)
		errors++;
	if (r->wait && replicas_acknowledged(r, results, n, err) == -1)
		errors++;
	if (errors > 0)
		for (i = 0; i < n; i++)
			if (results[i] == REPLAY_FRESH)
				results[i] = REPLAY_ERROR;
	redis_batch_free(&r->io);
	r->t = NULL;
	if (r->broken)
		redis_link_failed(r->link, err);
	else
		uncount(r, results, counted, made, n);
	return errors == 0 ? 0 : -1;
}

enum replay_result
redis_single_lookup(struct redis_single *r, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	const char *zrange[] = { "ZRANGE", r->meta_key, "0", "-1",
		"WITHSCORES" };
	const char *exists[] = { "EXISTS", r->nkey[0] };
	static const char *const time_argv[] = { "TIME" };
	enum replay_result res = REPLAY_ERROR;
	const redisReply *rep;

	make_keys(r, e, 0, 1);
	key_member(r, e->key_id);
	r->ncmds = 0;
	add(r, 5, zrange);
	add(r, 1, time_argv);
	add(r, 2, exists);
	r->wait = 0;
	r->hello = 0;
	if (exchange(r, err) == -1)
		return REPLAY_ERROR;
	rep = r->replies[2];
	if (store_complete(r, r->replies[0], r->replies[1], t->now, err) == -1)
		res = REPLAY_ERROR;
	else if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1)
		res = REPLAY_SEEN;
	else if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
		res = REPLAY_FRESH;
	else
		refused(r, rep, "EXISTS", err);
	redis_batch_free(&r->io);
	if (r->broken)
		redis_link_failed(r->link, err);
	return res;
}

/* One command of its own, without the batch's head: its reply, or NULL
 * with err (the reply is kept until the next exchange). */
static const redisReply *
ask(struct redis_single *r, int argc, const char *const argv[],
    char err[REPLAY_ERR_LEN])
{
	r->ncmds = 0;
	r->wait = 0;
	r->hello = 0;
	add(r, argc, argv);
	if (exchange(r, err) == -1)
		return NULL;
	return r->replies[0];
}

/* After a reply is used: a server found unfit is dropped. */
static void
done_with(struct redis_single *r, char err[REPLAY_ERR_LEN])
{
	redis_batch_free(&r->io);
	if (r->broken)
		redis_link_failed(r->link, err);
}

int
redis_single_get(struct redis_single *r, const char *key, char *out,
    size_t outsize, char err[REPLAY_ERR_LEN])
{
	const char *get[] = { "GET", key };
	const redisReply *rep;
	int rc;

	if ((rep = ask(r, 2, get, err)) == NULL)
		return -1;
	rc = redis_batch_got(r->link, rep, out, outsize, &r->broken, err);
	done_with(r, err);
	return rc;
}

int
redis_single_set_until(struct redis_single *r, const char *key,
    const char *value, const char *until, char err[REPLAY_ERR_LEN])
{
	const char *set[] = { "SET", key, value, "EXAT", until };
	const redisReply *rep;
	int rc;

	if ((rep = ask(r, 5, set, err)) == NULL)
		return -1;
	rc = redis_batch_set(r->link, rep, &r->broken, err);
	done_with(r, err);
	return rc;
}

/* The settings' own part. */
static const struct redis_settings *
own(const struct replay_settings *s)
{
	return (const struct redis_settings *)s->own.bytes;
}

/* The store owns its link: closing the one closes the other. */
static void
free_store(struct redis_single *r)
{
	redis_batch_free(&r->io);
	redis_link_close(r->link);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

void
redis_single_close(struct redis_single *r)
{
	if (r != NULL)
		free_store(r);
}

/* old's link if it serves these settings (old is closed either way). */
static struct redis_link *
take_link(struct redis_single *old, const struct redis_settings *o,
    char err[REPLAY_ERR_LEN])
{
	struct redis_link *l = NULL;

	if (old != NULL && redis_link_serves(old->link, o)) {
		l = old->link;
		old->link = NULL;
	}
	if (old != NULL)
		free_store(old);
	return l != NULL ? l : redis_link_open(o, err);
}

static struct redis_single *
open_store(const struct replay_settings *s, enum replay_access access,
    struct redis_single *old, char err[REPLAY_ERR_LEN])
{
	const struct redis_settings *o = own(s);
	struct redis_single *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		if (old != NULL)
			free_store(old);
		return NULL;
	}
	r->access = access;
	snprintf(r->prefix, sizeof(r->prefix), "%s", o->prefix);
	snprintf(r->meta_key, sizeof(r->meta_key), "%smeta", o->prefix);
	snprintf(r->id_key, sizeof(r->id_key), "%sid", o->prefix);
	snprintf(r->old_key, sizeof(r->old_key), "%ssince", o->prefix);
	r->per_user = s->per_user;
	r->timeout_ms = o->timeout_ms;
	r->wait_replicas = o->wait_replicas;
	if ((r->link = take_link(old, o, err)) == NULL) {
		free(r);
		return NULL;
	}
	r->conn = redis_link_state(r->link);
	redis_batch_init(&r->io, r->replies, REPLIES_MAX, greet, r);
	r->io.link = r->link;
	return r;
}

struct redis_single *
redis_single_open(const struct replay_settings *s, enum replay_access access,
    struct redis_single *old, char err[REPLAY_ERR_LEN])
{
	return open_store(s, access, old, err);
}

/* --- for people (check-config) ------------------------------------------------ */

/* ask, for redis_describe.c. */
static const redisReply *
ask_describe(void *ctx, int argc, const char *const argv[],
    char err[REPLAY_ERR_LEN])
{
	return ask(ctx, argc, argv, err);
}

/* The mark: from when the store is complete (rule 6); clock, lifetime. */
static void
describe_since(struct redis_single *r)
{
	const char *const argv[] = { "ZRANGE", r->meta_key, "0", "-1",
		"WITHSCORES" };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN], date[32];
	time_t now = time(NULL), when;
	struct mark m;
	struct tm tm;

	if ((rep = ask(r, 5, argv, err)) == NULL || read_mark(rep, "", &m) == -1)
		return;
	if (m.since < 0) {
		printf("  no nonce recorded yet (no %s): the first logins start "
		       "the record, and logins are refused for one token "
		       "lifetime after them\n", r->meta_key);
		return;
	}
	when = (time_t)m.since;
	if (m.since > (double)now)
		printf("  a new record of nonces (%s): logins are refused for "
		       "%.0f s more, until the tokens of before it have "
		       "expired\n", r->meta_key, m.since - (double)now);
	else if (m.since == 0 || gmtime_r(&when, &tm) == NULL)
		printf("  holds every nonce ever recorded (%s)\n", r->meta_key);
	else if (strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC",
		     &tm) > 0)
		printf("  holds every nonce recorded since %s (%s)\n", date,
		    r->meta_key);
	if (m.life > 0)
		printf("  each record kept %.0f s (the longest token lifetime "
		       "a helper used, plus %d s for clocks %d s apart)\n",
		    m.life / 1000, MARGIN_MS / 1000, SKEW_S);
	if (m.hw > (double)now * 1000 + 2 * SKEW_MS + 1000)
		printf("  PROBLEM: this host's clock is %.0f s behind the "
		       "latest time a helper recorded at: logins are refused "
		       "until it catches up (reset-store ends that)\n",
		    (m.hw - (double)now * 1000) / 1000);
}

/* A CONFIG GET's value, or "" if not allowed or not known. */
static void
config_get(struct redis_single *r, const char *name, char *out, size_t size)
{
	const char *const argv[] = { "CONFIG", "GET", name };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN];

	out[0] = '\0';
	if ((rep = ask(r, 3, argv, err)) != NULL &&
	    rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[1]->type == REDIS_REPLY_STRING)
		redis_reply_text(rep->element[1], out, size);
}

/*
 * Whether a restart keeps every nonce: only an append-only file written
 * at each write does. Anything else makes a restart (or a failover without
 * WAIT) refuse logins for one token lifetime, and a snapshot restored
 * by hand is caught only by its server's identity.
 */
static void
describe_persistence(struct redis_single *r, const struct redis_settings *o)
{
	static const char *const argv[] = { "INFO", "persistence" };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN], aof[8], fsync[16];

	if ((rep = ask(r, 2, argv, err)) == NULL ||
	    rep->type != REDIS_REPLY_STRING)
		return;
	snprintf(aof, sizeof(aof), "%s", strstr(rep->str,
	    "aof_enabled:1") != NULL ? "yes" : "no");
	config_get(r, "appendfsync", fsync, sizeof(fsync));
	if (strcmp(aof, "no") == 0)
		printf("  WARNING: no append-only file (persistence by RDB "
		       "snapshots at most): Redis forgets the nonces recorded "
		       "since its last snapshot when it restarts, so after "
		       "each restart logins are refused for one token "
		       "lifetime; a snapshot restored by hand is caught by "
		       "the server's identity. Only appendonly yes with "
		       "appendfsync always keeps every nonce\n");
	else if (strcmp(fsync, "always") == 0)
		printf("  persistence: append-only file, appendfsync always "
		       "(every nonce kept across a restart; a restart still "
		       "refuses logins for one token lifetime, as the helpers "
		       "cannot tell it from a loss)\n");
	else if (fsync[0] != '\0')
		printf("  WARNING: appendfsync %s: a host crash loses the last "
		       "second of nonces or more; use appendfsync always\n",
		    fsync);
	else
		printf("  note: append-only file on; appendfsync not checked "
		       "(this ACL user may not run CONFIG GET): only "
		       "appendfsync always keeps every nonce\n");
	if (o->sentinels[0] != '\0' && o->wait_replicas == 0)
		printf("  WARNING: Sentinel with replay_redis_wait_replicas = "
		       "0: a failover may promote a replica without the last "
		       "nonces; the helpers then refuse logins for one token "
		       "lifetime. Set replay_redis_wait_replicas = 1 (or the "
		       "number of replicas a failover may promote)\n");
}

/*
 * A random nonce recorded, refused the second time, and found, as a batch
 * records (the JID's count taken back), and the identity check's EVAL, as
 * the ACL user. It is kept PROBE_TTL_MS.
 */
static int
describe_probe(struct redis_single *r)
{
	static const char *const time_argv[] = { "TIME" };
	const char *zadd[] = { "ZADD", r->meta_key, "GT", "0", "life" };
	const char *zrange[] = { "ZRANGE", r->meta_key, "0", "-1",
		"WITHSCORES" };
	const char *set[] = { "SET", r->nkey[0], "1", "NX", "PX", r->ttl };
	const char *incr[] = { "INCR", r->ckey[0] };
	const char *expire[] = { "PEXPIREAT", r->ckey[0], r->at };
	const char *get[] = { "GET", r->pkey[0] };
	const char *decr[] = { "DECR", r->ckey[0] };
	const char *exists[] = { "EXISTS", r->nkey[0] };
	const char *eval[] = { "EVAL", "return redis.call('EXISTS', KEYS[1])",
		"1", r->nkey[0] };
	char err[REPLAY_ERR_LEN] = "";
	struct replay_entry e;
	long long now_ms = (long long)time(NULL) * 1000;
	size_t i;

	if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e)) {
		printf("  PROBLEM: getrandom failed\n");
		return 1;
	}
	make_keys(r, &e, 0, (unsigned long long)now_ms / PROBE_TTL_MS);
	snprintf(r->ttl, sizeof(r->ttl), "%d", PROBE_TTL_MS);
	snprintf(r->at, sizeof(r->at), "%lld", now_ms + PROBE_TTL_MS);
	r->ncmds = 0;
	r->wait = 0;
	r->hello = 0;
	add(r, 1, time_argv);
	add(r, 6, set);
	add(r, 6, set);
	add(r, 2, incr);
	add(r, 3, expire);
	add(r, 2, get);
	add(r, 2, decr);
	add(r, 2, exists);
	add(r, 5, zadd);
	add(r, 5, zrange);
	add(r, 4, eval);
	if (exchange(r, err) == 0) {
		for (i = 0; i < r->ncmds && err[0] == '\0'; i++)
			if (r->replies[i]->type == REDIS_REPLY_ERROR)
				refused(r, r->replies[i], r->cmds[i].argv[0],
				    err);
		if (err[0] == '\0' &&
		    r->replies[1]->type == REDIS_REPLY_STATUS &&
		    r->replies[2]->type == REDIS_REPLY_NIL &&
		    r->replies[7]->type == REDIS_REPLY_INTEGER &&
		    r->replies[7]->integer == 1 &&
		    r->replies[10]->type == REDIS_REPLY_INTEGER &&
		    r->replies[10]->integer == 1) {
			printf("  a test nonce (kept %d s) recorded, refused the "
			       "second time, and found, as a batch records; the "
			       "identity check's EVAL allowed: OK\n",
			    PROBE_TTL_MS / 1000);
			return 0;
		}
	}
	printf("  PROBLEM: a test nonce could not be recorded and found: %s\n",
	    err[0] != '\0' ? err : "unexpected replies");
	return 1;
}

int
redis_single_describe(const struct replay_settings *s)
{
	static const char *const ping[] = { "PING" };
	const struct redis_settings *o = own(s);
	struct redis_asker asker = { ask_describe, NULL };
	struct redis_single *r;
	char err[REPLAY_ERR_LEN];
	int problems = 0;

	if ((r = open_store(s, REPLAY_WRITE, NULL, err)) == NULL) {
		printf("  PROBLEM: %s\n", err);
		return 1;
	}
	asker.ctx = r;
	/* People can wait longer than logins. */
	if (r->timeout_ms < 2000)
		r->timeout_ms = 2000;
	problems += redis_link_describe_names(r->link);
	if (o->sentinels[0] != '\0') {
		problems += redis_link_describe_sentinels(r->link,
		    r->timeout_ms);
		if (o->url.transport != REDIS_TLS)
			printf("  note: the sentinels are asked over plain TCP: "
			       "anything answering at their addresses, or on "
			       "the way, can name a server of its own as the "
			       "primary (the helpers check it accepts the "
			       "store's password and says it is the primary, "
			       "which such a server can fake); rediss:// "
			       "checks certificates\n");
	}
	if (ask(r, 1, ping, err) == NULL) {
		printf("  PROBLEM: %s: every login would be refused until it "
		       "answers (is Redis running there? are the user, "
		       "password and database of replay_store right?)\n",
		    redis_link_last_error(r->link)[0] != '\0' ?
		    redis_link_last_error(r->link) : err);
		free_store(r);
		return problems + 1;
	}
	printf("  connected to %s as %s%s, database %u\n",
	    redis_link_where(r->link), o->url.user[0] != '\0' ? "user " : "",
	    o->url.user[0] != '\0' ? o->url.user : "the default user",
	    o->url.db);
	redis_describe_version(&asker);
	problems += redis_describe_role(&asker, r->wait_replicas);
	redis_describe_memory(&asker);
	describe_persistence(r, o);
	describe_since(r);
	problems += describe_probe(r);
	free_store(r);
	return problems;
}

/*
 * The clock's high-water mark forgotten (after a clock that ran ahead was
 * set right): records that expired by the later clock may be missing, so
 * the store becomes complete only one record lifetime from now.
 */
int
redis_single_reset(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	struct redis_single *r;
	const redisReply *rep;
	const char *life_argv[3], *zrem[4], *zadd[6];
	char err[REPLAY_ERR_LEN], since[24];
	double life;

	if ((r = open_store(s, REPLAY_WRITE, NULL, err)) == NULL) {
		snprintf(msg, REPLAY_ERR_LEN, "%s", err);
		return -1;
	}
	life_argv[0] = "ZSCORE", life_argv[1] = r->meta_key;
	life_argv[2] = "life";
	if (r->timeout_ms < 2000)
		r->timeout_ms = 2000;
	if ((rep = ask(r, 3, life_argv, err)) == NULL) {
		snprintf(msg, REPLAY_ERR_LEN, "%s", err);
		free_store(r);
		return -1;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		snprintf(msg, REPLAY_ERR_LEN, "%.60s: nothing to reset: no "
		    "helper has recorded a nonce there yet", s->store);
		free_store(r);
		return 1;
	}
	life = strtod(rep->str, NULL);
	snprintf(since, sizeof(since), "%lld", (long long)now + 1 +
	    (long long)((life + MARGIN_MS) / 1000));
	zrem[0] = "ZREM", zrem[1] = r->meta_key, zrem[2] = "hw";
	zadd[0] = "ZADD", zadd[1] = r->meta_key, zadd[2] = "GT";
	zadd[3] = since, zadd[4] = "since";
	if ((rep = ask(r, 3, zrem, err)) == NULL ||
	    rep->type != REDIS_REPLY_INTEGER ||
	    (rep = ask(r, 5, zadd, err)) == NULL ||
	    rep->type != REDIS_REPLY_INTEGER) {
		if (rep != NULL)
			refused(r, rep, "ZREM or ZADD", err);
		snprintf(msg, REPLAY_ERR_LEN, "%s", err);
		free_store(r);
		return -1;
	}
	snprintf(msg, REPLAY_ERR_LEN, "%.60s: the clock's high-water mark "
	    "forgotten; logins are refused for %.0f s (one record lifetime), "
	    "until every token whose record may have expired early has "
	    "expired too", s->store, (life + MARGIN_MS) / 1000);
	free_store(r);
	return 0;
}
