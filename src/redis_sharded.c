/*
 * The Redis store on a Redis Cluster (replay_redis.c parses its settings
 * and hands it every call when replay_redis_cluster names seed nodes;
 * redis_cluster.c keeps the slot map and the links to the nodes). On one
 * Redis, or the primary Sentinel names, the store is redis_single.c's (its
 * second layout: a pipelined batch, the mark read after the records). A
 * cluster has a layout of its own, its third, here: a script per login (a
 * cluster runs a script on the keys of one slot alone) that gives each
 * slot what the second layout gives the whole store, atomically: the
 * slot's mark is one of the script's keys.
 *
 * Security rules for this file:
 * 1. Single use across every helper of every server sharing the Redis: a
 *    nonce is recorded by one Lua script, which Redis runs atomically: the
 *    nonce's key is SET NX only if it is absent, so exactly one caller
 *    ever gets REPLAY_FRESH for it.
 * 2. Fail closed: a result is REPLAY_FRESH only when its script says the
 *    nonce was recorded now, in a slot found complete and with the clocks
 *    in step (rules 6, 7), under keys no other helper used lately (rule
 *    8), and, with replay_redis_wait_replicas, when that many replicas
 *    acknowledged the batch; a missing, late, refused or unexpected reply
 *    is REPLAY_ERROR.
 * 3. Keys show neither a JID nor a nonce: only their hashes, in hex.
 * 4. Bounded: no JID holds more than per_user live nonces (in the same
 *    script); Redis's own maxmemory, with noeviction, bounds the rest
 *    (check-config warns of any other policy: an evicted nonce could be
 *    replayed).
 * 5. Never hang, never storm: each call has replay_redis_timeout_ms for
 *    connecting and one round trip; redis_link backs off after failures.
 * 6. A slot that lost nonces cannot bring them back unnoticed. Its mark,
 *    PREFIX{TAG}mark (TAG a word of that slot), says from when ("since")
 *    the slot holds every nonce recorded, and on which node ("id": INFO's
 *    run_id and master_replid). The script of each login reads it before
 *    recording: missing (a new cluster, a node restarted empty, flushed,
 *    evicting), written by another node (restarted or restored from a
 *    snapshot, a replica promoted without WAIT, the slot moved by
 *    resharding), or with a shorter lifetime than the caller's: "since"
 *    moves on by one record lifetime, and the slot refuses its own logins
 *    alone until then. A replica promoted from the recorded primary's
 *    history (its master_replid2) is trusted only with
 *    replay_redis_wait_replicas. The node's identity is read by the
 *    helper on each connection (INFO, at its start and every ID_FRESH_MS
 *    after) and given to the script, which asks INFO itself only where
 *    the mark names another: a connection ends when its node does, so the
 *    identity read on it is its node's. (A master_replid up to
 *    ID_FRESH_MS old can only make a promoted replica refuse where it
 *    could have accepted.)
 * 7. No clock brings a record back. Each nonce is kept for the longest
 *    lifetime any helper of its slot used ("life"; a helper that raises
 *    it moves "since" on) plus MARGIN; the script refuses when the
 *    helper's clock and Redis's (TIME) are more than SKEW apart, or the
 *    helper's is behind the latest time a helper recorded at ("hw").
 * 8. No change of keys brings a record back. The keys are MACs under
 *    store_secret: under another one (or none) the nonces recorded before
 *    cannot be found, and they fall in other slots. So the keys in use
 *    are leased in one hash for the cluster, PREFIX{keys}: each helper
 *    holds a lease (LEASE_MS, renewed every RENEW_MS, with WAIT) on its
 *    keys' id (config.h: a MAC under the store's key, never the key), and
 *    accepts only while its lease runs and no other id's lease, plus its
 *    token lifetime, is younger than MARGIN; the hash records its node as
 *    a mark does, and one found lost refuses every helper for one record
 *    lifetime.
 * 9. The first layout (a script per login, a mark PREFIX{TAG}since read
 *    by its own GET) is shut out: its mark is set to SHUT_OUT, which its
 *    helpers read as a slot not complete for centuries, in every slot by
 *    the helper that finds the keys' leases new or lost (the first of
 *    this layout on the cluster), and in its slot by a login that begins
 *    a record. Its nonce keys are this layout's, so nothing either
 *    accepted is accepted again.
 * 10. On a Redis Cluster, a command goes where its key's slot is served
 *    (redis_cluster.c), or where a MOVED or ASK reply sends it; a login
 *    redirected more than ROUNDS_MAX times, or whose slot has no primary,
 *    is refused.
 *
 * Keys, PREFIX being replay_redis_key_prefix, U the JID's key and K the
 * nonce's, in hex:
 *	PREFIX{U}:n:K	"1", expiring with its record (PX)
 *	PREFIX{U}:u	the JID's nonces: a sorted set of K scored by their
 *			records' expiry (ms), expiring with the last, purged
 *			of the expired ones when it holds per_user
 *	PREFIX{TAG}mark	a slot's mark, a hash: "since", "life", "hw" (ms),
 *			"id" ("RUN_ID REPLID"); no expiry
 *	PREFIX{TAG}since  the first layout's mark of the slot: SHUT_OUT once
 *			a login of this layout began a record there
 *	PREFIX{keys}	the keys' leases, a hash: each keys' id (16 hex
 *			digits) and until when (ms) its tokens may be valid;
 *			".id" and ".lost"; no expiry
 *	PREFIX{U}:s	the JID's seen mark (isuser = seen), which
 *			replay_redis.c names and reads, for both layouts
 * The braces are a hash tag: a login's keys and its slot's marks share
 * one cluster slot, as one script's keys must.
 *
 * A batch of logins is a lease renewed first when due (one round trip),
 * then an exchange (redis_batch.c) with each primary its logins' slots go
 * to: the script for each login (EVALSHA) and WAIT when replicas must
 * acknowledge, all written before any is read (one round trip's time),
 * then a round more per redirection (MOVED, ASK, TRYAGAIN), within the
 * same deadline. The script is loaded (SCRIPT LOAD) in the same round
 * trip, first, on each new connection. What a store knows of a connection
 * (the script loaded, its timeouts) lives with the link, which a store
 * opened in its place takes over.
 *
 * For the sandbox: after start-up this file makes no system call of its
 * own but clock_gettime and poll (a pause while a cluster's slot is
 * migrated); its connections' are listed in redis_link.c
 * (socket, connect, poll, fcntl, getsockopt, setsockopt, read/recvfrom,
 * write/sendto, close; getrandom with TLS; and, where a host is named by
 * name, what resolving it again needs). A store opened again after a
 * failure takes over the link, so no file is read; only check-config,
 * which is not sandboxed, draws random bytes (getrandom).
 */
#include <sys/random.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "redis_batch.h"
#include "redis_cluster.h"
#include "redis_describe.h"
#include "redis_keys.h"
#include "redis_link.h"
#include "redis_sharded.h"
#include "redis_url.h"

#define BATCH_MAX   64			/* entries recorded at once */
/* Commands of one exchange, at most: the script, and WAIT; each login,
 * after ASKING; check-config's and reset-store's commands for BATCH_MAX
 * slots (4 each). */
#define CMDS_MAX    (4 * BATCH_MAX + 4)
#define ROUNDS_MAX  4			/* a Cluster's batch: redirections */
#define TRY_AGAIN_MS 20			/* a slot being migrated: a pause */
#define MARK_KEY_MAX (REDIS_PREFIX_MAX + REDIS_CLUSTER_TAG_MAX + 8)
#define SHA_LEN	    40
#define PROBE_TTL_S 2
#define LEASE_MS    30000		/* a lease on the store's keys */
#define RENEW_MS    10000		/* ... renewed this often */
#define ID_FRESH_MS 1000		/* a node's identity, read again */
#define LOGIN_WORDS 14			/* of a login's EVALSHA */
/* How far apart the helpers' clocks and Redis's may be (ms), and what is
 * added to every nonce's lifetime: two clocks that far apart either way,
 * and a second for time(3)'s rounding down (as in redis_single.c). */
#define SKEW_TEXT   "2000"
#define MARGIN_MS   5000
#define MARGIN_TEXT TEXT_OF(MARGIN_MS)
/* The first layout's mark, once converted: 2286, as its helpers read it. */
#define SHUT_OUT    "9999999999"

/*
 * One login, atomic (rules 1, 6, 7, 9). KEYS: the nonce, its JID's set,
 * its slot's mark, the first layout's mark of that slot (all of one slot).
 * ARGV: this helper's token lifetime (ms), per_user, K, now (ms of the
 * helper's clock, as the tokens' expiry is), "1" if a replica promoted
 * from the recorded primary's history is trusted (WAIT made every nonce
 * part of it), "1" for a login ("": check-config's probe, which writes
 * nothing to the mark and refuses where a login would move it), and the
 * identity of the node ("RUN_ID REPLID") as the helper read it on this
 * connection ("-": not read). INFO is asked here only where the mark
 * names another node than that one (rule 6).
 *
 * Refused, and nothing written, when the helper's clock and Redis's are
 * more than SKEW apart, or the clock is behind the latest time a helper
 * recorded at (hw). Then the mark is read: missing, or written by another
 * node (run_id; a promoted replica only as said), or with a shorter
 * lifetime than this helper's: "since" moves on by one record lifetime,
 * so that every nonce the slot may have lost has expired by then, and
 * the first layout's helpers are shut out. A login before
 * "since" is refused. A nonce is kept for the longest lifetime any helper
 * used plus MARGIN. A nonce seen before is SEEN whatever its JID holds, as
 * in LMDB; one its JID has no room for is not kept; the JID's expired
 * nonces are purged only when its set looks full.
 * Returns { SCRIPT_* [, a number in ms, what was found] }.
 */
static const char script[] =
    "local life = tonumber(ARGV[1])\n"
    "local now = tonumber(ARGV[4])\n"
    "local t = redis.call('TIME')\n"
    "local skew = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
    " - now\n"
    "if skew < -" SKEW_TEXT " or skew > " SKEW_TEXT " + 1000 then\n"
    "  return { 3, skew }\n"
    "end\n"
    "local m = redis.call('HMGET', KEYS[3], 'since', 'life', 'hw', 'id')\n"
    "local hw = tonumber(m[3]) or 0\n"
    "if hw > now + 2 * " SKEW_TEXT " + 1000 then\n"
    "  return { 4, hw - now }\n"
    "end\n"
    "local since = tonumber(m[1])\n"
    "local known = tonumber(m[2]) or 0\n"
    "local keep = math.max(life, known)\n"
    "local was = m[4] or ''\n"
    "local id, run, repl = was, nil, nil\n"
    "if was ~= ARGV[7] then\n"
    "  repl = redis.call('INFO', 'replication')\n"
    "  run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')\n"
    "  id = run .. ' ' .. string.match(repl, 'master_replid:(%x+)')\n"
    "end\n"
    "local found = 0\n"
    "if not since then\n"
    "  found = 1\n"
    "elseif id ~= was and string.match(was, '^%x+') ~= run and\n"
    "    not (ARGV[5] == '1' and\n"
    "    string.match(was, ' (%x+)$') ==\n"
    "    string.match(repl, 'master_replid2:(%x+)')) then\n"
    "  found = 2\n"
    "elseif known > 0 and known < life then\n"
    "  found = 3\n"
    "end\n"
    "if ARGV[6] == '' then\n"
    "  if found > 0 or now < since then\n"
    "    return { 5, math.max(since or 0, now) - now, found }\n"
    "  end\n"
    "elseif found > 0 then\n"
    "  since = math.max(since or 0, now + keep + " MARGIN_TEXT ")\n"
    "  redis.call('HSET', KEYS[3], 'since', since)\n"
    "  redis.call('SET', KEYS[4], '" SHUT_OUT "')\n"
    "end\n"
    "if ARGV[6] ~= '' then\n"
    "  if was ~= id or known ~= keep then\n"
    "    redis.call('HSET', KEYS[3], 'id', id, 'life', keep)\n"
    "  end\n"
    "  if now > hw then\n"
    "    redis.call('HSET', KEYS[3], 'hw', now)\n"
    "  end\n"
    "end\n"
    "if now < since then\n"
    "  return { 5, since - now, found }\n"
    "end\n"
    "local ttl = keep + " MARGIN_TEXT "\n"
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl) then\n"
    "  return { 0 }\n"
    "end\n"
    "local limit = tonumber(ARGV[2])\n"
    "if redis.call('ZCARD', KEYS[2]) >= limit then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "  if redis.call('ZCARD', KEYS[2]) >= limit then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return { 2 }\n"
    "  end\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])\n"
    "if redis.call('PTTL', KEYS[2]) < ttl then\n"
    "  redis.call('PEXPIRE', KEYS[2], ttl)\n"
    "end\n"
    "return { 1 }\n";

enum { SCRIPT_SEEN, SCRIPT_FRESH, SCRIPT_USER_FULL, SCRIPT_CLOCK,
	SCRIPT_BEHIND, SCRIPT_NOT_YET };

/* What a login's script found in its slot's mark, when it moved it on. */
enum finding { FOUND_NOTHING, FOUND_MISSING, FOUND_REPLACED, FOUND_LONGER };

/*
 * The store keys' leases (rule 8), one hash for the whole cluster: each
 * check value in use, and until when (ms) a token its helpers accepted may
 * be valid (the end of their lease plus their token lifetime); ".id", the
 * node that holds the hash (as a login's mark has it); ".lost", until when
 * keys used before it was found lost (missing, or on another node) may
 * have been in use. KEYS[1] the hash; ARGV: this helper's check value, its
 * "until", now (ms), its token lifetime (ms), "1" if a promoted replica is
 * trusted. Raises its own, drops those long past, and returns until when
 * (ms) this helper refuses (the latest of the others plus MARGIN, and
 * ".lost"; 0: none), and 1 if it found the hash new or lost, else 0.
 */
static const char lease_script[] =
    "local now = tonumber(ARGV[3])\n"
    "local repl = redis.call('INFO', 'replication')\n"
    "local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')\n"
    "local was = redis.call('HGET', KEYS[1], '.id') or ''\n"
    "local lost = 0\n"
    "if string.match(was, '^%x+') ~= run and not (ARGV[5] == '1' and\n"
    "    string.match(was, ' (%x+)$') ==\n"
    "    string.match(repl, 'master_replid2:(%x+)')) then\n"
    "  redis.call('HSET', KEYS[1], '.lost',\n"
    "    now + tonumber(ARGV[4]) + " MARGIN_TEXT ")\n"
    "  lost = 1\n"
    "end\n"
    "redis.call('HSET', KEYS[1], '.id',\n"
    "  run .. ' ' .. string.match(repl, 'master_replid:(%x+)'))\n"
    "local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')\n"
    "if tonumber(ARGV[2]) > mine then\n"
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "end\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local other = 0\n"
    "for i = 1, #all, 2 do\n"
    "  local v = tonumber(all[i + 1]) or 0\n"
    "  if all[i] == '.lost' then\n"
    "    other = math.max(other, v)\n"
    "  elseif all[i] == '.id' or all[i] == ARGV[1] then\n"
    "  elseif v + " MARGIN_TEXT " < now then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  else\n"
    "    other = math.max(other, v + " MARGIN_TEXT ")\n"
    "  end\n"
    "end\n"
    "return { other, lost }\n";

/* One node's exchange of a cluster's round, between writing and reading. */
struct part {
	struct redis_link *link;
	size_t lo, hi; /* its logins, in the round's order */
	size_t first, ncmds; /* as add_logins and send_all left them */
	int wait, written, reused, again;
	struct redis_exchange x;
};

struct redis_sharded {
	struct redis_link *link;       /* the one in use, a cluster's node's */
	struct redis_cluster *cluster; /* the slot map, and the node links */
	enum replay_access access;
	char prefix[REDIS_PREFIX_MAX];
	unsigned per_user, timeout_ms, wait_replicas;
	char sha[SHA_LEN + 1];
	struct redis_conn_state *conn; /* its link's connection's */
	int broken;		    /* its server is unfit: drop it */

	/* One exchange: the commands asked for, the words they point to,
	 * and the replies: the script's first if it was loaded (first = 1,
	 * as io.first was when it was written), then one per command, then
	 * WAIT's if wait. */
	struct redis_batch io;
	struct redis_command cmds[CMDS_MAX], load;
	size_t ncmds;
	int wait;
	char nkey[BATCH_MAX][REDIS_KEY_MAX], ukey[BATCH_MAX][REDIS_KEY_MAX];
	char member[BATCH_MAX][2 * REPLAY_KEY_LEN + 1];
	char life[24], per_user_text[12];
	char now_ms[24], trust[2], key_check[17];
	char node_id[REDIS_ID_MAX]; /* the logins' last word: lead_script */

	/* The store keys' lease (rule 8): for which key id, until when this
	 * helper may accept (ms), and until when another's keys may have
	 * been in use (ms). */
	uint64_t lease_key, lease_end, keys_until;
	char keys_key[REDIS_PREFIX_MAX + 8], lease_text[24];
	uint16_t slots[REDIS_CLUSTER_SLOTS]; /* a primary's, for a sweep */
	redisReply *replies[CMDS_MAX];
	size_t first;
	uint64_t deadline; /* of the batch; 0: each exchange has the timeout */

	/* A Cluster's batch: each login's command (its reply's place), and
	 * where a redirection sends it next. */
	size_t reply_of[BATCH_MAX];
	enum redis_redirect redirect[BATCH_MAX];
	struct redis_link *to[BATCH_MAX];
	int asking[BATCH_MAX];
	char redirect_text[160]; /* the last, for the log */

	/* ... and the marks of the slots its logins fall in, this layout's
	 * and the first's (rule 6). */
	char mark_key[BATCH_MAX][MARK_KEY_MAX], old_key[BATCH_MAX][MARK_KEY_MAX];

	/* A cluster's round: an exchange per primary, each one's logins
	 * order[lo..hi), all written before any is read. */
	struct part parts[BATCH_MAX];
	size_t order[BATCH_MAX];
};

/* --- keys and commands -------------------------------------------------- */

/* The nonce's key, its JID's set's key, and its member in the set. */
static void
make_keys(struct redis_sharded *r, const struct replay_entry *e, size_t i)
{
	redis_hex(r->member[i], e->key, REPLAY_KEY_LEN);
	redis_nonce_key(r->nkey[i], r->prefix, e);
	redis_user_key(r->ukey[i], r->prefix, e->user, ":u");
}

/*
 * What the store's keys are checked by (rule 8): their id (config.h), a
 * MAC under the store's key, never the key; 0 is no store_secret.
 */
static void
key_check(struct redis_sharded *r, uint64_t key_id)
{
	snprintf(r->key_check, sizeof(r->key_check), "%016llx",
	    (unsigned long long)key_id);
}

static void
add(struct redis_sharded *r, int argc, const char *const argv[])
{
	redis_command_set(&r->cmds[r->ncmds++], argc, argv);
}

static void
free_replies(struct redis_sharded *r)
{
	redis_batch_free(&r->io);
}

/* After a reply is used: a server found unfit is dropped. */
static void
done_with(struct redis_sharded *r, char err[REPLAY_ERR_LEN])
{
	free_replies(r);
	if (r->broken)
		redis_link_failed(r->link, err);
}

/* The script's SHA-1, as EVALSHA names it. */
static int
script_sha(char out[SHA_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len;

	if (EVP_Digest(script, sizeof(script) - 1, md, &len, EVP_sha1(),
		NULL) != 1 || len != SHA_LEN / 2)
		return -1;
	redis_hex(out, md, len);
	return 0;
}

/* --- one round trip (redis_batch.h) -------------------------------------- */

/*
 * The identity of the connection's node, from INFO, to conn->id ("": INFO
 * named none, and the script then asks it itself). A round trip of its
 * own, as greeting is: the exchange then has its own time.
 */
static enum redis_prepared
read_node_id(struct redis_sharded *r, struct redis_batch *b, redisContext *c,
    struct redis_exchange *x, int *saved)
{
	static const char *const server[] = { "INFO", "server" };
	static const char *const repl[] = { "INFO", "replication" };
	struct redis_command cmds[2];
	char run_id[48], replid[48];

	redis_command_set(&cmds[0], 2, server);
	redis_command_set(&cmds[1], 2, repl);
	if (redis_batch_round(b, c, x, cmds, 2, saved) == -1)
		return REDIS_IO_FAILED;
	redis_info_field(b->replies[0], "run_id", run_id, sizeof(run_id));
	redis_info_field(b->replies[1], "master_replid", replid,
	    sizeof(replid));
	redis_batch_free(b);
	b->conn->id[0] = '\0';
	if (run_id[0] != '\0' && replid[0] != '\0')
		snprintf(b->conn->id, sizeof(b->conn->id), "%s %s", run_id,
		    replid);
	b->conn->id_ms = redis_now_ms();
	x->deadline = b->conn->id_ms + r->timeout_ms;
	return REDIS_GREETED;
}

/*
 * The logins' last word, the node's identity ("-": not known), measured
 * again: the commands were made before the connection they go on was.
 */
static void
set_node_id(struct redis_sharded *r, const char *id)
{
	struct redis_command *cmd;
	size_t i;

	snprintf(r->node_id, sizeof(r->node_id), "%s", id[0] != '\0' ? id :
	    "-");
	for (i = 0; i < r->ncmds; i++) {
		cmd = &r->cmds[i];
		if (cmd->argc == LOGIN_WORDS &&
		    cmd->argv[LOGIN_WORDS - 1] == r->node_id)
			cmd->len[LOGIN_WORDS - 1] = strlen(r->node_id);
	}
}

/*
 * On the connection an exchange goes on, before its commands are written
 * (redis_batch.h's prepare step): the node's identity, read again if it
 * was not read on this connection in the last ID_FRESH_MS, for the
 * logins' script (rule 6); SCRIPT LOAD ahead of the commands where the
 * connection lacks it.
 */
static enum redis_prepared
lead_script(struct redis_batch *b, redisContext *c, struct redis_exchange *x,
    int *saved, char err[REPLAY_ERR_LEN])
{
	struct redis_sharded *r = b->ctx;
	enum redis_prepared done = REDIS_READY;

	(void)err;
	if (r->access != REPLAY_WRITE)
		return REDIS_READY;
	if (b->conn->id_ms == 0 ||
	    redis_now_ms() - b->conn->id_ms >= ID_FRESH_MS)
		if ((done = read_node_id(r, b, c, x, saved)) != REDIS_GREETED)
			return done;
	set_node_id(r, b->conn->id);
	if (!b->conn->script_loaded)
		b->lead = &r->load;
	return done;
}

static unsigned
replicas(const struct redis_sharded *r)
{
	return r->wait ? r->wait_replicas : 0;
}

/* The exchange's commands written, on the link in use; as redis_batch_write. */
static int
exchange_write(struct redis_sharded *r, struct redis_exchange *x, int *reused,
    int *again, char err[REPLAY_ERR_LEN])
{
	int rc;

	r->io.link = r->link;
	rc = redis_batch_write(&r->io, r->cmds, r->ncmds, replicas(r), x,
	    reused, again, err);
	r->first = r->io.first;
	return rc;
}

/* Every reply of the exchange written; as redis_batch_read. */
static int
exchange_read(struct redis_sharded *r, struct redis_exchange *x, int reused,
    int *again, char err[REPLAY_ERR_LEN])
{
	r->io.link = r->link;
	return redis_batch_read(&r->io, x, r->first + r->ncmds + (r->wait != 0),
	    reused, again, err);
}

/* The commands asked for, on the link in use, in one round trip. */
static int
exchange(struct redis_sharded *r, char err[REPLAY_ERR_LEN])
{
	uint64_t deadline = r->deadline != 0 ? r->deadline :
	    redis_now_ms() + r->timeout_ms;
	int rc;

	r->broken = 0;
	r->conn = redis_link_state(r->link);
	r->io.link = r->link;
	rc = redis_batch_exchange(&r->io, r->cmds, r->ncmds, replicas(r),
	    deadline, err);
	r->first = r->io.first;
	/* (a node that failed may no longer serve its slots) */
	if (rc == -1 || r->io.retried)
		redis_cluster_stale(r->cluster);
	return rc;
}

/* --- replies --------------------------------------------------------------- */

/* Why a reply to what is not what was expected, for the log; a server
 * found unfit is dropped after the reply is used. */
static void
refused(struct redis_sharded *r, const redisReply *rep, const char *what,
    char err[REPLAY_ERR_LEN])
{
	r->broken |= redis_batch_refused(r->link, rep, what, err);
}

/* The reply to SCRIPT LOAD, if it was sent. Returns 0, or -1 with err. */
static int
script_loaded(struct redis_sharded *r, char err[REPLAY_ERR_LEN])
{
	const redisReply *rep = r->replies[0];

	if (r->first == 0)
		return 0;
	if (rep->type == REDIS_REPLY_STRING && rep->len == SHA_LEN &&
	    memcmp(rep->str, r->sha, SHA_LEN) == 0) {
		r->conn->script_loaded = 1;
		return 0;
	}
	refused(r, rep, "SCRIPT LOAD", err);
	return -1;
}

/* Why a slot refuses its logins for a while, as the script found it. */
static const char *
why_not_yet(long long found)
{
	switch (found) {
	case FOUND_MISSING:
		return "its mark was missing (a new cluster, or a node that "
		       "lost its data): it began a new record of nonces";
	case FOUND_REPLACED:
		return "its mark was written by another node (restarted, "
		       "restored from a snapshot, a replica promoted, or the "
		       "slot moved by resharding): what was recorded after the "
		       "last save may be lost";
	case FOUND_LONGER:
		return "a helper with a longer token lifetime (otp_window, "
		       "otp_interval) began to use it: nonces recorded before "
		       "may expire too early";
	default:
		return "a helper found it new, emptied, replaced, or used with "
		       "a longer token lifetime, and logged which";
	}
}

/* The script's refusal of a login, for the log. */
static void
not_now(struct redis_sharded *r, const redisReply *rep, char err[REPLAY_ERR_LEN])
{
	const char *where = redis_link_where(r->link);
	long long code = rep->element[0]->integer, n = 0, found = 0;

	if (rep->elements > 1 && rep->element[1]->type == REDIS_REPLY_INTEGER)
		n = rep->element[1]->integer;
	if (rep->elements > 2 && rep->element[2]->type == REDIS_REPLY_INTEGER)
		found = rep->element[2]->integer;
	if (code == SCRIPT_CLOCK)
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: this helper's clock "
		    "is %lld ms %s Redis's (at most %s ms apart: Redis expires "
		    "the nonces by its clock): logins are refused until the "
		    "clocks agree (NTP)", where, n < 0 ? -n : n, n < 0 ?
		    "ahead of" : "behind", SKEW_TEXT);
	else if (code == SCRIPT_BEHIND)
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: the clock is %lld s "
		    "behind the latest time a helper recorded at (the slot "
		    "mark's hw): nonces may have expired by the later clock; "
		    "refused until it catches up (or reset-store)", where,
		    n / 1000);
	else
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %s; so its logins "
		    "are refused for %lld s more, until every token accepted "
		    "before has expired", where, why_not_yet(found),
		    (n + 999) / 1000);
}

/*
 * A login's result from its script's reply: { SCRIPT_* [, ms, found] };
 * a refusal (the slot's, rules 6 and 7, or an error) counts in *errors.
 */
static enum replay_result
entry_result(struct redis_sharded *r, const redisReply *rep, int *errors,
    char err[REPLAY_ERR_LEN])
{
	long long code = -1;

	if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
	    rep->elements <= 3 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER)
		code = rep->element[0]->integer;
	if (code == SCRIPT_FRESH)
		return REPLAY_FRESH;
	if (code == SCRIPT_SEEN)
		return REPLAY_SEEN;
	if (code == SCRIPT_USER_FULL)
		return REPLAY_USER_FULL;
	if (rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0)
		r->conn->script_loaded = 0;
	if ((*errors)++ > 0)
		return REPLAY_ERROR;
	if (code >= SCRIPT_CLOCK && code <= SCRIPT_NOT_YET)
		not_now(r, rep, err);
	else
		refused(r, rep, "the replay script", err);
	return REPLAY_ERROR;
}

/* WAIT's reply: enough replicas, or no login of the batch is accepted. */
static int
replicas_acknowledged(struct redis_sharded *r, const size_t idx[], size_t n,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	const redisReply *rep = r->replies[r->first + r->ncmds];
	size_t i, fresh = 0;

	for (i = 0; i < n; i++)
		fresh += results[idx[i]] == REPLAY_FRESH;
	/* (only what was recorded now waits for the replicas) */
	if (redis_batch_waited(&r->io, rep, r->wait_replicas, fresh,
		&r->broken, err) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (results[idx[i]] == REPLAY_FRESH)
			results[idx[i]] = REPLAY_ERROR;
	return -1;
}

/* --- the store -------------------------------------------------------------- */

/*
 * The marks of a slot (rule 6), this layout's and the first's: each slot
 * has its own, which moves with the slot's nonces when it migrates and is
 * lost with them, whichever node loses them.
 */
static void
mark_keys(const struct redis_sharded *r, unsigned slot, char mark[MARK_KEY_MAX],
    char old[MARK_KEY_MAX])
{
	char tag[REDIS_CLUSTER_TAG_MAX + 1];

	redis_cluster_tag(r->cluster, slot, tag);
	snprintf(mark, MARK_KEY_MAX, "%s{%s}mark", r->prefix, tag);
	if (old != NULL)
		snprintf(old, MARK_KEY_MAX, "%s{%s}since", r->prefix, tag);
}

static unsigned
slot_of(const struct redis_sharded *r, size_t i)
{
	return redis_cluster_slot(r->nkey[i], strlen(r->nkey[i]));
}

/*
 * Whether a login's reply sends it elsewhere (on a cluster): then it is
 * neither an answer nor an error of the batch; the next round sends it on.
 */
static int
redirected(struct redis_sharded *r, size_t i, const redisReply *rep)
{
	char why[REPLAY_ERR_LEN] = "";

	r->redirect[i] = redis_cluster_redirect(r->cluster, rep, &r->to[i],
	    why);
	r->asking[i] = r->redirect[i] == REDIS_ASK;
	if (r->redirect[i] == REDIS_ANSWERED)
		return 0;
	if ((r->redirect[i] == REDIS_MOVED || r->redirect[i] == REDIS_ASK) &&
	    r->to[i] == NULL)
		r->redirect[i] = REDIS_TRY_AGAIN;
	redis_reply_text(rep, r->redirect_text, sizeof(r->redirect_text));
	if (why[0] != '\0')
		snprintf(r->redirect_text, sizeof(r->redirect_text), "%.150s", why);
	return 1;
}

/*
 * The commands for the logins idx[0..n) of a batch, on the link in use:
 * the script for each, with its slot's marks (after ASKING where a slot
 * is being migrated); WAIT is added when they are written.
 */
static void
add_logins(struct redis_sharded *r, const size_t idx[], size_t n)
{
	static const char *const asking[] = { "ASKING" };
	size_t j;

	r->conn = redis_link_state(r->link);
	r->ncmds = 0;
	for (j = 0; j < n; j++) {
		const size_t e = idx[j];
		const char *argv[LOGIN_WORDS] = { "EVALSHA", r->sha, "4",
			r->nkey[e], r->ukey[e], r->mark_key[e], r->old_key[e],
			r->life, r->per_user_text, r->member[e], r->now_ms,
			r->trust, "1", r->node_id };

		r->redirect[e] = REDIS_ANSWERED;
		mark_keys(r, slot_of(r, e), r->mark_key[e], r->old_key[e]);
		if (r->asking[e])
			add(r, 1, asking);
		r->reply_of[e] = r->ncmds;
		add(r, LOGIN_WORDS, argv);
	}
	r->wait = r->wait_replicas > 0;
}

/*
 * The replies to add_logins' commands: the results of the logins idx[0..n)
 * in results[idx[...]], or where a redirection sends them. A slot that
 * refuses (rules 6, 7) refuses its own logins alone. Returns 0, or -1 with
 * err.
 */
static int
logins_answered(struct redis_sharded *r, const size_t idx[], size_t n,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	const redisReply *rep;
	size_t i, j;
	int errors = 0;

	if (script_loaded(r, err) == -1)
		errors++;
	for (j = 0; j < n; j++) {
		i = idx[j];
		rep = r->replies[r->first + r->reply_of[i]];
		if (!redirected(r, i, rep))
			results[i] = entry_result(r, rep, &errors, err);
	}
	/* (each login's script answers for itself: a refusal of one slot,
	 * or an error, leaves the others' answers as they are) */
	if (r->wait && replicas_acknowledged(r, idx, n, results, err) == -1)
		errors++;
	free_replies(r);
	if (r->broken) {
		redis_link_failed(r->link, err);
		redis_cluster_stale(r->cluster);
	}
	return errors == 0 ? 0 : -1;
}

/*
 * The logins idx[0..n) of a batch, on the link in use, in one round trip
 * (no command comes before the first login's but the markers: k = 0).
 */
static int
record_on(struct redis_sharded *r, const size_t idx[], size_t n,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	add_logins(r, idx, n);
	if (exchange(r, err) == -1)
		return -1;
	return logins_answered(r, idx, n, results, err);
}

/*
 * The logins idx[0..n) that go to one node, taken out of idx (the rest
 * stay, in order): those whose link is the first's. Returns how many.
 */
static size_t
same_node(struct redis_link *const link[], size_t idx[], size_t *n,
    size_t group[])
{
	struct redis_link *l = link[idx[0]];
	size_t j, m = 0, kept = 0;

	for (j = 0; j < *n; j++) {
		if (link[idx[j]] == l)
			group[m++] = idx[j];
		else
			idx[kept++] = idx[j];
	}
	*n = kept;
	return m;
}

/* The part's exchange becomes the one in use, as when it was written. */
static void
use_part(struct redis_sharded *r, const struct part *p)
{
	r->link = p->link;
	r->conn = redis_link_state(p->link);
	r->first = p->first;
	r->ncmds = p->ncmds;
	r->wait = p->wait;
}

/*
 * A part's commands written; its state kept for reading. Returns 0, or -1
 * with err if its link failed (not if it is to be tried again: again).
 */
static int
write_part(struct redis_sharded *r, struct part *p, char err[REPLAY_ERR_LEN])
{
	r->link = p->link;
	add_logins(r, r->order + p->lo, p->hi - p->lo);
	free_replies(r);
	r->broken = 0;
	p->x = (struct redis_exchange){ r->deadline, 0, 0, 0, 0 };
	p->written = exchange_write(r, &p->x, &p->reused, &p->again, err) ==
	    0;
	p->first = r->first;
	p->ncmds = r->ncmds;
	p->wait = r->wait;
	if (p->written || p->again)
		return 0;
	redis_cluster_stale(r->cluster);
	return -1;
}

/*
 * A part's replies read and answered; its commands made and sent once
 * more, on a new connection, if its connection was found closed. Returns
 * 0, or -1 with err.
 */
static int
read_part(struct redis_sharded *r, struct part *p,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	const size_t *idx = r->order + p->lo;
	size_t n = p->hi - p->lo;

	if (!p->written && !p->again)
		return 0; /* (counted when it was written) */
	use_part(r, p);
	r->broken = 0;
	if (p->written &&
	    exchange_read(r, &p->x, p->reused, &p->again, err) == 0)
		return logins_answered(r, idx, n, results, err);
	if (!p->again) {
		redis_cluster_stale(r->cluster);
		return -1;
	}
	return record_on(r, idx, n, results, err);
}

/*
 * One round of a cluster's batch: the logins pending routed (to the node a
 * redirection named, or to their slot's primary), an exchange per node,
 * all written before any is read, so that the nodes work at once. Leaves
 * pending those to send again. Returns the errors.
 */
static int
cluster_round(struct redis_sharded *r, size_t pending[], size_t *npending,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	struct redis_link *link[BATCH_MAX];
	size_t routed[BATCH_MAX], nrouted = 0, nparts = 0, pos = 0, j, i;
	char why[REPLAY_ERR_LEN];
	struct part *p;
	int errors = 0;

	for (j = 0; j < *npending; j++) {
		i = pending[j];
		why[0] = '\0';
		link[i] = r->to[i] != NULL ? r->to[i] :
		    redis_cluster_link(r->cluster, slot_of(r, i), r->deadline,
			why);
		r->to[i] = NULL;
		if (link[i] != NULL)
			routed[nrouted++] = i;
		else if (errors++ == 0)
			snprintf(err, REPLAY_ERR_LEN, "%s", why);
	}
	*npending = 0;
	while (nrouted > 0) {
		p = &r->parts[nparts++];
		p->link = link[routed[0]];
		p->lo = pos;
		pos += same_node(link, routed, &nrouted, r->order + pos);
		p->hi = pos;
		why[0] = '\0';
		if (write_part(r, p, why) == -1 && errors++ == 0)
			snprintf(err, REPLAY_ERR_LEN, "%s", why);
	}
	for (p = r->parts; p < r->parts + nparts; p++) {
		why[0] = '\0';
		if (read_part(r, p, results, why) == -1 && errors++ == 0)
			snprintf(err, REPLAY_ERR_LEN, "%s", why);
		for (j = p->lo; j < p->hi; j++)
			if (r->redirect[r->order[j]] != REDIS_ANSWERED)
				pending[(*npending)++] = r->order[j];
	}
	return errors;
}

/*
 * A cluster's batch: rounds until every login has an answer, each one
 * redirected (MOVED, ASK) or told to try again (a slot being migrated, a
 * failover) sent again, within the batch's deadline.
 */
static int
cluster_record(struct redis_sharded *r, size_t n, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	size_t pending[BATCH_MAX], npending = n, i, round;
	int errors = 0, again = 0;

	for (i = 0; i < n; i++) {
		pending[i] = i;
		r->to[i] = NULL;
		r->asking[i] = 0;
		r->redirect[i] = REDIS_ANSWERED;
	}
	err[0] = '\0';
	redis_cluster_tidy(r->cluster);
	r->deadline = redis_now_ms() + r->timeout_ms;
	for (round = 0; npending > 0 && round < ROUNDS_MAX; round++) {
		for (i = again = 0; i < npending; i++)
			again |= r->redirect[pending[i]] == REDIS_TRY_AGAIN;
		/* A slot being migrated: a pause, if there is time for it
		 * and for one more round trip. */
		if (round > 0 && again && redis_now_ms() + 2 * TRY_AGAIN_MS <
		    r->deadline)
			poll(NULL, 0, TRY_AGAIN_MS);
		errors += cluster_round(r, pending, &npending, results, err);
	}
	r->deadline = 0;
	r->link = NULL;
	if (npending > 0 && errors++ == 0)
		snprintf(err, REPLAY_ERR_LEN, "Redis Cluster: still redirected "
		    "after %d tries (%.200s): a slot being migrated, or a "
		    "failover under way", ROUNDS_MAX, r->redirect_text);
	return errors == 0 ? 0 : -1;
}

/*
 * The link in use becomes that of key's slot's primary, and mark_key[0]
 * that slot's mark. Returns 0, or -1 with err.
 */
static int
use_node_of(struct redis_sharded *r, const char *key, char err[REPLAY_ERR_LEN])
{
	unsigned slot = redis_cluster_slot(key, strlen(key));

	if ((r->link = redis_cluster_link(r->cluster, slot,
		 redis_now_ms() + r->timeout_ms, err)) == NULL)
		return -1;
	mark_keys(r, slot, r->mark_key[0], NULL);
	return 0;
}

/*
 * The first layout's helpers shut out of every slot at once (rule 9), when
 * the keys' leases were found new (the first helper of this layout on the
 * cluster) or lost: each slot's old mark set to SHUT_OUT, BATCH_MAX slots
 * a round trip, primary by primary. A slot this misses (a primary that
 * does not answer) is shut out by its first login that begins a record.
 */
static void
shut_out_first_layout(struct redis_sharded *r)
{
	char err[REPLAY_ERR_LEN];
	size_t node, n, done, c, j;

	for (node = 0; (r->link = redis_cluster_primary(r->cluster, node,
	    redis_now_ms() + r->timeout_ms)) != NULL; node++) {
		n = redis_cluster_slots_of(r->cluster, node, r->slots);
		for (done = 0; done < n; done += c) {
			c = n - done < BATCH_MAX ? n - done : BATCH_MAX;
			r->ncmds = 0;
			r->wait = 0;
			for (j = 0; j < c; j++) {
				const char *set[] = { "SET", r->old_key[j],
					SHUT_OUT };

				mark_keys(r, r->slots[done + j],
				    r->mark_key[j], r->old_key[j]);
				add(r, 3, set);
			}
			if (exchange(r, err) == -1)
				break;
			free_replies(r);
		}
	}
	r->link = NULL;
}

/*
 * This helper's lease on the store's keys renewed (rule 8): one round trip
 * to the node of the leases' hash, and WAIT as a login has. Returns 0, or
 * -1 with err.
 */
static int
renew_lease(struct redis_sharded *r, uint64_t key_id, uint64_t now_ms,
    uint64_t life_ms, char err[REPLAY_ERR_LEN])
{
	const char *argv[] = { "EVAL", lease_script, "1", r->keys_key,
		r->key_check, r->lease_text, r->now_ms, r->life, r->trust };
	uint64_t end = now_ms + LEASE_MS;
	const redisReply *rep;
	size_t one = 0;
	enum replay_result fine = REPLAY_FRESH;
	int rc = -1, sweep = 0;

	key_check(r, key_id);
	snprintf(r->lease_text, sizeof(r->lease_text), "%llu",
	    (unsigned long long)(end + life_ms));
	if (use_node_of(r, r->keys_key, err) == -1)
		return -1;
	r->ncmds = 0;
	add(r, 9, argv);
	r->wait = r->wait_replicas > 0;
	if (exchange(r, err) == -1)
		return -1;
	rep = r->replies[r->first];
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[0]->integer < 0 ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		refused(r, rep, "the store keys' lease (EVAL)", err);
		/* (MOVED, ASK: the map is asked again for the next try) */
		if (rep->type == REDIS_REPLY_ERROR)
			redis_cluster_stale(r->cluster);
	} else if (script_loaded(r, err) == 0 && (!r->wait ||
	    replicas_acknowledged(r, &one, 1, &fine, err) == 0)) {
		r->lease_key = key_id;
		r->lease_end = end;
		r->keys_until = (uint64_t)rep->element[0]->integer;
		sweep = rep->element[1]->integer == 1;
		rc = 0;
	}
	done_with(r, err);
	r->link = NULL;
	if (sweep)
		shut_out_first_layout(r);
	return rc;
}

/* Whether other keys' tokens may still be valid until then (ms): 0, or
 * -1 with why. */
static int
keys_refusal(uint64_t until, uint64_t now_ms, char err[REPLAY_ERR_LEN])
{
	if (now_ms >= until)
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "the store's keys changed (store_secret "
	    "set or changed, or helpers sharing the store with different "
	    "ones, or some without: give them all the same), or the record "
	    "of the keys in use was lost: nonces recorded under other keys "
	    "cannot be found, so logins are refused for %llu s more",
	    (unsigned long long)((until - now_ms + 999) / 1000));
	return -1;
}

/*
 * Whether logins may be accepted under this helper's keys (rule 8): its
 * lease runs (renewed when due, or when its keys changed), and no other
 * keys were in use within a token lifetime. Returns 0, or -1 with why.
 */
static int
keys_current(struct redis_sharded *r, uint64_t key_id, uint64_t now_ms,
    uint64_t life_ms, char err[REPLAY_ERR_LEN])
{
	char why[REPLAY_ERR_LEN] = "";

	if (r->lease_key != key_id || r->lease_end == 0 ||
	    now_ms + LEASE_MS - RENEW_MS >= r->lease_end)
		(void)renew_lease(r, key_id, now_ms, life_ms, why);
	if (r->lease_key != key_id || now_ms >= r->lease_end) {
		snprintf(err, REPLAY_ERR_LEN, "the lease on the store's keys "
		    "(%.60s) could not be renewed: %.200s", r->keys_key,
		    why[0] != '\0' ? why : "no reply");
		return -1;
	}
	return keys_refusal(r->keys_until, now_ms, err);
}

int
redis_sharded_record(struct redis_sharded *r,
    const struct replay_entry entries[], size_t n, const struct replay_time *t,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	size_t i;
	int rc;

	if ((rc = redis_batch_begin(n, BATCH_MAX, t, results, err)) < 1)
		return rc;
	/* (as redis_single.c: the token's lifetime, or what is left of it) */
	snprintf(r->life, sizeof(r->life), "%lld", (long long)(t->lifetime >
	    0 ? t->lifetime : t->expiry - t->now) * 1000);
	snprintf(r->now_ms, sizeof(r->now_ms), "%lld",
	    (long long)t->now * 1000);
	if (keys_current(r, entries[0].key_id, (uint64_t)t->now * 1000,
		(uint64_t)(t->lifetime > 0 ? t->lifetime : t->expiry - t->now) *
		1000, err) == -1)
		return -1;
	for (i = 0; i < n; i++)
		make_keys(r, &entries[i], i);
	return cluster_record(r, n, results, err);
}

/* One command; its reply (kept until the next), or NULL with err. */
static const redisReply *
ask(struct redis_sharded *r, int argc, const char *const argv[],
    char err[REPLAY_ERR_LEN])
{
	r->ncmds = 0;
	r->wait = 0;
	add(r, argc, argv);
	if (exchange(r, err) == -1)
		return NULL;
	return r->replies[r->first];
}

/* One command on the primary of key's slot, as ask. */
static const redisReply *
ask_node_of(struct redis_sharded *r, const char *key, int argc,
    const char *const argv[], char err[REPLAY_ERR_LEN])
{
	if (use_node_of(r, key, err) == -1)
		return NULL;
	return ask(r, argc, argv, err);
}

/* What INFO says of a node: who it is, and the primary's history it
 * continues ("" where INFO has none). */
struct node_info {
	char run_id[48], replid[48], replid2[48];
};

/* The node in use's INFO. Returns 0, or -1 with err. */
static int
node_info(struct redis_sharded *r, struct node_info *n,
    char err[REPLAY_ERR_LEN])
{
	static const char *const server[] = { "INFO", "server" };
	static const char *const repl[] = { "INFO", "replication" };
	const redisReply *rep;

	if ((rep = ask(r, 2, server, err)) == NULL)
		return -1;
	redis_info_field(rep, "run_id", n->run_id, sizeof(n->run_id));
	if ((rep = ask(r, 2, repl, err)) == NULL)
		return -1;
	redis_info_field(rep, "master_replid", n->replid, sizeof(n->replid));
	redis_info_field(rep, "master_replid2", n->replid2,
	    sizeof(n->replid2));
	free_replies(r);
	return 0;
}

/*
 * Whether the node in use wrote id ("RUN_ID REPLID", as a slot's mark and
 * the keys' leases record their node), by the scripts' rule (6, 8) but
 * writing nothing: its run_id, or, trusted with replay_redis_wait_replicas,
 * a replica promoted from that primary's history (master_replid2).
 * Returns 0, or -1 with why (what names the record).
 */
static int
node_wrote(struct redis_sharded *r, const char *id, const char *what,
    char err[REPLAY_ERR_LEN])
{
	const char *space = strchr(id, ' ');
	struct node_info n;

	if (node_info(r, &n, err) == -1)
		return -1;
	if (space != NULL && n.run_id[0] != '\0' &&
	    (size_t)(space - id) == strlen(n.run_id) &&
	    strncmp(id, n.run_id, strlen(n.run_id)) == 0)
		return 0;
	if (space != NULL && r->wait_replicas > 0 && n.replid2[0] != '\0' &&
	    strcmp(space + 1, n.replid2) == 0)
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "Redis at %s: %s was written by another "
	    "node (restarted, restored from a snapshot, a replica promoted, "
	    "or the slot moved): what was recorded after the last save may "
	    "be lost; the next login refuses for one token lifetime",
	    redis_link_where(r->link), what);
	return -1;
}

/*
 * Whether a slot holds every nonce that may still be valid (rule 6), from
 * HMGET of its mark's since and id: what a lookup, which writes nothing,
 * can tell; its node's id is copied to id. Returns 0, or -1 with why.
 */
static int
slot_complete(struct redis_sharded *r, const redisReply *mark, time_t now,
    char id[REDIS_ID_MAX], char err[REPLAY_ERR_LEN])
{
	const redisReply *since;
	long long from;
	char *end;

	if (mark->type != REDIS_REPLY_ARRAY || mark->elements != 2) {
		refused(r, mark, "HMGET of the slot's mark", err);
		return -1;
	}
	since = mark->element[0];
	if (mark->element[1]->type == REDIS_REPLY_STRING)
		snprintf(id, REDIS_ID_MAX, "%.95s", mark->element[1]->str);
	else
		id[0] = '\0';

	if (since->type == REDIS_REPLY_NIL) {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s holds no %.90s (a "
		    "new cluster, or a node that lost its data): refused until "
		    "a login begins a new record there and one token lifetime "
		    "has passed", redis_link_where(r->link), r->mark_key[0]);
		return -1;
	}
	if (since->type != REDIS_REPLY_STRING) {
		refused(r, since, "HMGET of the slot's mark", err);
		return -1;
	}
	from = strtoll(since->str, &end, 10);
	if (*end != '\0' || (long long)now * 1000 < from) {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: the slot's mark "
		    "%.90s says it holds every nonce only from %.24s (ms)",
		    redis_link_where(r->link), r->mark_key[0], since->str);
		return -1;
	}
	return 0;
}

/*
 * Until when (ms) the keys' leases say tokens of other keys than key_id's
 * may be valid, as the lease script reckons it but writing nothing (a
 * lookup's view of rule 8). Returns 0, or -1 with why: the leases not
 * read, or no record of them (the first login begins one, refusing for a
 * token lifetime).
 */
static int
others_until(struct redis_sharded *r, uint64_t key_id, uint64_t now_ms,
    uint64_t *until, char err[REPLAY_ERR_LEN])
{
	const char *argv[] = { "HGETALL", r->keys_key };
	const redisReply *rep, *name, *value;
	unsigned long long v;
	size_t i;
	char *end, id[REDIS_ID_MAX] = "";
	int rc = 0;

	key_check(r, key_id);
	if (use_node_of(r, r->keys_key, err) == -1)
		return -1;
	r->ncmds = 0;
	r->wait = 0;
	add(r, 2, argv);
	if (exchange(r, err) == -1)
		return -1;
	rep = r->replies[r->first];
	*until = 0;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0)
		rc = -1;
	for (i = 0; rc == 0 && i < rep->elements; i += 2) {
		name = rep->element[i];
		value = rep->element[i + 1];
		if (name->type != REDIS_REPLY_STRING ||
		    value->type != REDIS_REPLY_STRING) {
			rc = -1;
			break;
		}
		if (strcmp(name->str, ".id") == 0) {
			snprintf(id, sizeof(id), "%.95s", value->str);
			continue;
		}
		if (strcmp(name->str, r->key_check) == 0)
			continue;
		v = strtoull(value->str, &end, 10);
		if (*end != '\0' || value->str[0] == '\0') {
			rc = -1;
			break;
		}
		if (strcmp(name->str, ".lost") != 0)
			v += MARGIN_MS;
		if (v > *until && v > now_ms)
			*until = v;
	}
	if (rc == -1)
		refused(r, rep, "HGETALL of the store keys' leases", err);
	else if (id[0] == '\0') {
		snprintf(err, REPLAY_ERR_LEN, "no record of the store's keys "
		    "in use (%.60s: a new cluster, or a node that lost it): "
		    "the first login begins one, and logins are refused for "
		    "one token lifetime from then", r->keys_key);
		rc = -1;
	}
	done_with(r, err);
	if (rc == 0)
		rc = node_wrote(r, id, "the record of the store's keys in use",
		    err);
	r->link = NULL;
	return rc;
}

enum replay_result
redis_sharded_lookup(struct redis_sharded *r, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	const char *get[] = { "HMGET", r->mark_key[0], "since", "id" };
	const char *exists[] = { "EXISTS", r->nkey[0] };
	enum replay_result res = REPLAY_ERROR;
	const redisReply *rep;
	char id[REDIS_ID_MAX];
	uint64_t until;

	make_keys(r, e, 0);
	if (use_node_of(r, r->nkey[0], err) == -1)
		return REPLAY_ERROR;
	r->ncmds = 0;
	add(r, 4, get);
	add(r, 2, exists);
	r->wait = 0;
	if (exchange(r, err) == -1)
		return REPLAY_ERROR;
	rep = r->replies[r->first + 1];
	if (slot_complete(r, r->replies[r->first], t->now, id, err) == -1)
		res = REPLAY_ERROR;
	else if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1)
		res = REPLAY_SEEN;
	else if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
		res = REPLAY_FRESH;
	else
		refused(r, rep, "EXISTS", err);
	done_with(r, err);
	/* A nonce not seen is accepted only where the node that wrote the
	 * slot's mark still serves it (rule 6) and no other keys' tokens may
	 * still be valid: what a login's script and lease would find (8). */
	if (res == REPLAY_FRESH && node_wrote(r, id, "the slot's mark", err)
	    == -1)
		res = REPLAY_ERROR;
	if (res == REPLAY_FRESH && (others_until(r, e->key_id,
	    (uint64_t)t->now * 1000, &until, err) == -1 ||
	    keys_refusal(until, (uint64_t)t->now * 1000, err) == -1))
		res = REPLAY_ERROR;
	return res;
}

/* --- seen marks (isuser = seen) ------------------------------------------ */

int
redis_sharded_get(struct redis_sharded *r, const char *key, char *out,
    size_t outsize, char err[REPLAY_ERR_LEN])
{
	const char *get[] = { "GET", key };
	const redisReply *rep;
	int rc;

	if ((rep = ask_node_of(r, key, 2, get, err)) == NULL)
		return -1;
	rc = redis_batch_got(r->link, rep, out, outsize, &r->broken, err);
	done_with(r, err);
	return rc;
}

int
redis_sharded_set_until(struct redis_sharded *r, const char *key,
    const char *value, const char *until, char err[REPLAY_ERR_LEN])
{
	const char *set[] = { "SET", key, value, "EXAT", until };
	const redisReply *rep;
	int rc;

	if ((rep = ask_node_of(r, key, 5, set, err)) == NULL)
		return -1;
	rc = redis_batch_set(r->link, rep, &r->broken, err);
	done_with(r, err);
	return rc;
}

/* --- opening and closing --------------------------------------------------- */

/* The store owns its cluster, and the cluster its links. */
static void
free_store(struct redis_sharded *r)
{
	free_replies(r);
	redis_cluster_close(r->cluster);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

void
redis_sharded_close(struct redis_sharded *r)
{
	if (r != NULL)
		free_store(r);
}

/*
 * old's cluster if it serves these settings, or a new one (old is closed
 * either way). Returns 0, or -1 with err.
 */
static int
take_cluster(struct redis_sharded *r, struct redis_sharded *old,
    const struct redis_settings *o, char err[REPLAY_ERR_LEN])
{
	if (old != NULL && old->cluster != NULL &&
	    redis_cluster_serves(old->cluster, o)) {
		r->cluster = old->cluster;
		old->cluster = NULL;
		old->link = NULL;
	}
	if (old != NULL)
		free_store(old);
	if (r->cluster == NULL)
		r->cluster = redis_cluster_open(o, err);
	return r->cluster != NULL ? 0 : -1;
}

/* The store on a Redis Cluster (replay_redis_cluster names its seeds). */
struct redis_sharded *
redis_sharded_open(const struct replay_settings *s, enum replay_access access,
    struct redis_sharded *old, char err[REPLAY_ERR_LEN])
{
	static const char *const load[] = { "SCRIPT", "LOAD", script };
	const struct redis_settings *o =
	    (const struct redis_settings *)s->own.bytes;
	struct redis_sharded *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		if (old != NULL)
			free_store(old);
		return NULL;
	}
	r->access = access;
	snprintf(r->prefix, sizeof(r->prefix), "%s", o->prefix);
	snprintf(r->trust, sizeof(r->trust), "%d", o->wait_replicas > 0);
	snprintf(r->keys_key, sizeof(r->keys_key), "%s{keys}", o->prefix);
	r->per_user = s->per_user;
	r->timeout_ms = o->timeout_ms;
	r->wait_replicas = o->wait_replicas;
	snprintf(r->per_user_text, sizeof(r->per_user_text), "%u",
	    s->per_user);
	redis_command_set(&r->load, 3, load);
	redis_batch_init(&r->io, r->replies, CMDS_MAX, lead_script, r);
	if (take_cluster(r, old, o, err) == -1) {
		free(r);
		return NULL;
	}
	if (script_sha(r->sha) == -1) {
		snprintf(err, REPLAY_ERR_LEN, "cannot compute SHA-1 (OpenSSL)");
		free_store(r);
		return NULL;
	}
	return r;
}

/* --- for people (check-config) ------------------------------------------------ */

/* ask, for redis_describe.c. */
static const redisReply *
ask_describe(void *ctx, int argc, const char *const argv[],
    char err[REPLAY_ERR_LEN])
{
	return ask(ctx, argc, argv, err);
}

/*
 * A random nonce recorded, refused the second time, and found, in one
 * round trip: the script, the keys under the prefix, EXISTS, as the ACL
 * user. It is kept for the slot's record lifetime (PROBE_TTL_S at least);
 * the probe neither checks nor writes the store keys' check value, which
 * check-config does not know. A slot that refuses its logins for now says
 * why (the script ran).
 */
static int
describe_probe(struct redis_sharded *r)
{
	const char *const argv[] = { "EVALSHA", r->sha, "4", r->nkey[0],
		r->ukey[0], r->mark_key[0], r->old_key[0], r->life,
		r->per_user_text, r->member[0], r->now_ms, r->trust, "", "-" };
	const char *const exists[] = { "EXISTS", r->nkey[0] };
	char err[REPLAY_ERR_LEN] = "";
	const redisReply *rep;
	struct replay_entry e;
	int errors = 0;

	if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e)) {
		printf("  PROBLEM: getrandom failed\n");
		return 1;
	}
	make_keys(r, &e, 0);
	if (use_node_of(r, r->nkey[0], err) == -1) {
		printf("  PROBLEM: a test nonce could not be recorded: %s\n",
		    err);
		return 1;
	}
	mark_keys(r, slot_of(r, 0), r->mark_key[0], r->old_key[0]);
	snprintf(r->life, sizeof(r->life), "%d", PROBE_TTL_S * 1000);
	snprintf(r->now_ms, sizeof(r->now_ms), "%lld",
	    (long long)time(NULL) * 1000);
	r->ncmds = 0;
	r->wait = 0;
	add(r, LOGIN_WORDS, argv);
	add(r, LOGIN_WORDS, argv);
	add(r, 2, exists);
	if (exchange(r, err) == -1 || script_loaded(r, err) == -1) {
		printf("  PROBLEM: a test nonce could not be recorded: %s\n",
		    err);
		return 1;
	}
	rep = r->replies[r->first];
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[0]->integer == SCRIPT_NOT_YET) {
		if (rep->element[2]->type == REDIS_REPLY_INTEGER &&
		    rep->element[2]->integer == FOUND_MISSING)
			snprintf(err, REPLAY_ERR_LEN, "it has no mark yet "
			    "(its first login begins a record)");
		else
			not_now(r, rep, err);
		printf("  the login script runs; the test nonce's slot refuses "
		       "logins for now: %s\n", err);
		return 0;
	}
	if (entry_result(r, rep, &errors, err) == REPLAY_FRESH &&
	    entry_result(r, r->replies[r->first + 1], &errors, err) ==
		REPLAY_SEEN &&
	    r->replies[r->first + 2]->type == REDIS_REPLY_INTEGER &&
	    r->replies[r->first + 2]->integer == 1) {
		printf("  a test nonce recorded, refused the second time, and "
		       "found: OK\n");
		return 0;
	}
	printf("  PROBLEM: a test nonce could not be recorded and found: %s\n",
	    err[0] != '\0' ? err : "unexpected replies");
	return 1;
}

/* What the marks of a cluster primary's slots say (rule 6). */
struct mark_count {
	unsigned slots, complete, young, missing, unknown, set;
	long long wait; /* the longest a young one refuses, s */
};

/* One slot's mark, as HGET of its since read: counted. */
static void
count_mark(const redisReply *rep, long long now_ms, struct mark_count *k)
{
	long long v;
	char *end;

	if (rep->type == REDIS_REPLY_NIL) {
		k->missing++;
		return;
	}
	if (rep->type != REDIS_REPLY_STRING ||
	    (v = strtoll(rep->str, &end, 10), *end != '\0'))
		k->unknown++;
	else if (v <= now_ms)
		k->complete++;
	else if (++k->young > 0 && (v - now_ms + 999) / 1000 > k->wait)
		k->wait = (v - now_ms + 999) / 1000;
}

/*
 * The primary's identity, "RUN_ID REPLID" as the script records it, for
 * reset-store. Returns 0, or -1 with err.
 */
static int
node_identity(struct redis_sharded *r, char id[REDIS_ID_MAX],
    char err[REPLAY_ERR_LEN])
{
	struct node_info n;

	if (node_info(r, &n, err) == -1)
		return -1;
	if (n.run_id[0] == '\0' || n.replid[0] == '\0') {
		snprintf(err, REPLAY_ERR_LEN, "Redis at %s: INFO names no "
		    "run_id or master_replid (the ACL user needs INFO)",
		    redis_link_where(r->link));
		return -1;
	}
	snprintf(id, REDIS_ID_MAX, "%s %s", n.run_id, n.replid);
	return 0;
}

/*
 * The marks of primary node's slots read (HGET since), or, for
 * reset-store (mark), written where missing as complete (since 0) on
 * this node, the clocks' high-water mark forgotten, the first layout's
 * helpers shut out; BATCH_MAX slots at a time, and counted. Returns 0, or
 * -1 with err.
 */
static int
each_mark(struct redis_sharded *r, size_t node, int mark, struct mark_count *k,
    char err[REPLAY_ERR_LEN])
{
	uint16_t *slots;
	long long now_ms = (long long)time(NULL) * 1000;
	char id[REDIS_ID_MAX];
	size_t n, done, c, j;
	int rc = 0, per = mark ? 4 : 1;

	if (mark && node_identity(r, id, err) == -1)
		return -1;
	if ((slots = malloc(REDIS_CLUSTER_SLOTS * sizeof(*slots))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		return -1;
	}
	n = redis_cluster_slots_of(r->cluster, node, slots);
	k->slots += (unsigned)n;
	for (done = 0; done < n && rc == 0; done += c) {
		c = n - done < BATCH_MAX ? n - done : BATCH_MAX;
		r->ncmds = 0;
		r->wait = 0;
		for (j = 0; j < c; j++) {
			const char *get[] = { "HGET", r->mark_key[j], "since" };
			const char *set[] = { "HSETNX", r->mark_key[j],
				"since", "0" };
			const char *set_id[] = { "HSETNX", r->mark_key[j],
				"id", id };
			const char *forget[] = { "HDEL", r->mark_key[j], "hw" };
			const char *old[] = { "SET", r->old_key[j], SHUT_OUT };

			mark_keys(r, slots[done + j], r->mark_key[j],
			    r->old_key[j]);
			if (!mark) {
				add(r, 3, get);
				continue;
			}
			add(r, 4, set);
			add(r, 4, set_id);
			add(r, 3, forget);
			add(r, 3, old);
		}
		if ((rc = exchange(r, err)) == -1)
			break;
		for (j = 0; j < c; j++) {
			const redisReply *rep = r->replies[r->first + per * j];

			if (!mark)
				count_mark(rep, now_ms, k);
			else if (rep->type != REDIS_REPLY_INTEGER)
				k->unknown++;
			else if (rep->integer == 1)
				k->set++;
			else
				k->complete++; /* (it had one) */
		}
		free_replies(r);
	}
	free(slots);
	return rc;
}

static void
describe_marks(struct redis_sharded *r, size_t node)
{
	struct mark_count k = { 0 };
	char err[REPLAY_ERR_LEN];

	if (each_mark(r, node, 0, &k, err) == -1) {
		printf("  marks not read: %s\n", err);
		return;
	}
	printf("  %u of its %u slots hold every nonce recorded in them "
	       "(marks %s{TAG}mark)\n", k.complete, k.slots, r->prefix);
	if (k.young > 0)
		printf("  %u slot%s began a new record (a mark was missing, "
		       "written by another node, under other keys, or with a "
		       "shorter lifetime): their logins are refused for up to "
		       "%lld s more\n", k.young, k.young == 1 ? "" : "s",
		    k.wait);
	if (k.missing > 0)
		printf("  %u slot%s have no mark yet (no login there yet, or "
		       "their nonces were lost): the first login in each "
		       "starts a record, and logins there are refused for one "
		       "token lifetime; on a cluster that never held nonces, "
		       "prosody-token-auth reset-store marks them all\n",
		    k.missing, k.missing == 1 ? "" : "s");
	if (k.unknown > 0)
		printf("  PROBLEM: %u slot%s hold a mark this version cannot "
		       "read: their logins are refused\n", k.unknown,
		    k.unknown == 1 ? "" : "s");
}

/*
 * The store keys' leases forgotten, their hash's node recorded (rule 8),
 * for reset-store. Returns 0, or -1 with err.
 */
static int
reset_leases(struct redis_sharded *r, char err[REPLAY_ERR_LEN])
{
	char id[REDIS_ID_MAX];
	const char *del[] = { "DEL", r->keys_key };
	const char *set[] = { "HSET", r->keys_key, ".id", id };
	int rc = -1;

	if (use_node_of(r, r->keys_key, err) == -1 ||
	    node_identity(r, id, err) == -1)
		return -1;
	r->ncmds = 0;
	r->wait = 0;
	add(r, 2, del);
	add(r, 4, set);
	if (exchange(r, err) == -1)
		return -1;
	if (r->replies[r->first + 1]->type == REDIS_REPLY_INTEGER)
		rc = 0;
	else
		refused(r, r->replies[r->first + 1], "HSET", err);
	free_replies(r);
	r->link = NULL;
	return rc;
}

/*
 * reset-store on a cluster: every slot without a mark marked as holding
 * every nonce on the node that serves it now (what the first login on a
 * new Redis would find after one token lifetime), every slot's clock
 * high-water mark forgotten, and the keys in use.
 */
static int
mark_cluster(struct redis_sharded *r, char msg[REPLAY_ERR_LEN])
{
	struct mark_count k = { 0 };
	size_t i;

	for (i = 0; (r->link = redis_cluster_primary(r->cluster, i,
	    redis_now_ms() + r->timeout_ms)) != NULL; i++)
		if (each_mark(r, i, 1, &k, msg) == -1)
			return -1;
	r->link = NULL;
	if (k.slots != REDIS_CLUSTER_SLOTS) {
		snprintf(msg, REPLAY_ERR_LEN, "the cluster's map gives %u of %d "
		    "slots a primary: nothing marked where none serves",
		    k.slots, REDIS_CLUSTER_SLOTS);
		return -1;
	}
	if (reset_leases(r, msg) == -1)
		return -1;
	snprintf(msg, REPLAY_ERR_LEN, "marked %u slot%s of the cluster as "
	    "holding every nonce recorded in them (%u had a mark already, "
	    "kept); forgot the clocks' high-water marks and the keys in use. "
	    "Only on a cluster that never held nonces, or after a clock was "
	    "set back on purpose: what was lost is trusted again at once.",
	    k.set, k.set == 1 ? "" : "s", k.complete);
	return 1;
}

/* Each primary of a cluster as a Redis of its own, then a test nonce. */
static int
describe_cluster(struct redis_sharded *r)
{
	static const char *const ping[] = { "PING" };
	struct redis_asker asker = { ask_describe, r };
	char err[REPLAY_ERR_LEN];
	int problems;
	size_t i;

	if ((problems = redis_cluster_describe(r->cluster, r->timeout_ms)) > 0 &&
	    redis_cluster_primary(r->cluster, 0, 0) == NULL)
		return problems;
	for (i = 0; (r->link = redis_cluster_primary(r->cluster, i,
	    redis_now_ms() + r->timeout_ms)) != NULL; i++) {
		if (ask(r, 1, ping, err) == NULL) {
			printf("  PROBLEM: %s: logins whose JID falls in its "
			       "slots would be refused until it answers\n",
			    redis_link_last_error(r->link)[0] != '\0' ?
			    redis_link_last_error(r->link) : err);
			problems++;
			continue;
		}
		printf("  node %s:\n", redis_link_where(r->link));
		redis_describe_version(&asker);
		problems += redis_describe_role(&asker, r->wait_replicas);
		redis_describe_memory(&asker);
		describe_marks(r, i);
	}
	r->link = NULL;
	problems += describe_probe(r);
	r->link = NULL;
	return problems;
}

int
redis_sharded_describe(const struct replay_settings *s)
{
	const struct redis_settings *o =
	    (const struct redis_settings *)s->own.bytes;
	struct redis_sharded *r;
	char err[REPLAY_ERR_LEN];
	int problems;

	printf("  a Redis Cluster, its map asked of %s first\n", o->cluster);
	if ((r = redis_sharded_open(s, REPLAY_WRITE, NULL, err)) == NULL) {
		printf("  PROBLEM: %s\n", err);
		return 1;
	}
	/* People can wait longer than logins. */
	if (r->timeout_ms < 2000)
		r->timeout_ms = 2000;
	problems = describe_cluster(r);
	free_store(r);
	return problems;
}

/* reset-store on a cluster: every slot without a mark is marked
 * (mark_cluster). */
int
redis_sharded_reset(const struct replay_settings *s, char msg[REPLAY_ERR_LEN])
{
	struct redis_sharded *r;
	int rc;

	if ((r = redis_sharded_open(s, REPLAY_WRITE, NULL, msg)) == NULL)
		return -1;
	if (r->timeout_ms < 2000)
		r->timeout_ms = 2000;
	rc = mark_cluster(r, msg);
	free_store(r);
	return rc;
}