#include <sys/stat.h>
#include <sys/wait.h>

#include <stdio.h>
#include <unistd.h>

#include <lmdb.h>

#include "replay.h"
#include "unit.h"

static char dir[] = "/tmp/pta-replay.XXXXXX";
static char err[REPLAY_ERR_LEN];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/pta-replay.XXXXXX");
}

/* The settings of an LMDB store in path for capacity nonces, 30 per JID. */
static void
settings(struct replay_settings *s, const char *path, size_t capacity)
{
	char text[24];
	struct replay_line lines[] = {
		{ "replay_store", path, strlen(path), 1 },
		{ "replay_capacity", text, 0, 2 },
		{ "replay_per_user", "30", 2, 3 },
	};
	int line;

	lines[1].len = (size_t)snprintf(text, sizeof(text), "%zu",
	    capacity < 100 ? 100 : capacity);
	ck_assert_msg(replay_settings_load(s, lines, 3, &line, err) == 0,
	    "line %d: %s", line, err);
	/* Smaller than the config allows, for a store full in a few steps:
	 * the LMDB store's own settings begin with it (replay_lmdb.c). */
	if (capacity < 100)
		memcpy(s->own.bytes, &capacity, sizeof(capacity));
}

/* A store in dir (or dir/sub) for capacity nonces, 30 per JID. */
static struct replay *
open_store(const char *sub, size_t capacity, enum replay_access access)
{
	struct replay_settings s;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "",
	    sub ? sub : "");
	settings(&s, path, capacity);
	return replay_open(&s, access, err);
}

static struct replay *
store(size_t capacity)
{
	struct replay *r = open_store(NULL, capacity, REPLAY_WRITE);

	ck_assert_msg(r != NULL, "%s", err);
	return r;
}

/* Nonce n of user u. */
static struct replay_entry
entry(unsigned n, unsigned u)
{
	struct replay_entry e;

	memset(&e, 0, sizeof(e));
	memcpy(e.key, &n, sizeof(n));
	memcpy(e.key + 8, &u, sizeof(u));
	memcpy(e.user, &u, sizeof(u));
	e.user[8] = 1; /* never the all-zero user of converted stores */
	return e;
}

/* Kept for 90 s, as tokens are by default. */
static struct replay_time
at(time_t now)
{
	struct replay_time t = { now, (now / 30 + 3) * 30, 90 };

	return t;
}

/* Records one entry at now. */
static enum replay_result
record(struct replay *r, struct replay_entry e, time_t now)
{
	struct replay_time t = at(now);
	enum replay_result res;
	int rc;

	rc = replay_record(r, &e, 1, &t, &res, err);
	ck_assert_int_eq(rc, res == REPLAY_FRESH || res == REPLAY_SEEN ||
		res == REPLAY_USER_FULL ? 0 : -1);
	return res;
}

static enum replay_result
lookup(struct replay *r, struct replay_entry e, time_t now)
{
	struct replay_time t = at(now);

	return replay_lookup(r, &e, &t, err);
}

START_TEST(first_use_then_replay)
{
	struct replay *r = store(1000);

	ck_assert_int_eq(lookup(r, entry(1, 1), 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(1, 1), 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(1, 1), 1001), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, entry(1, 1), 1001), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(2, 1), 1001), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

START_TEST(shared_between_opens)
{
	struct replay *a = store(1000), *b = store(1000);

	ck_assert_int_eq(record(a, entry(7, 1), 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(b, entry(7, 1), 1000), REPLAY_SEEN);
	replay_close(a);
	replay_close(b);
}
END_TEST

START_TEST(expired_entries_are_purged)
{
	struct replay *r = store(1000);
	unsigned i;

	for (i = 0; i < 50; i++)
		ck_assert_int_eq(record(r, entry(i, i), 1000), REPLAY_FRESH);
	/* Past the expiry, each new record purges up to a batch of old ones. */
	ck_assert_int_eq(record(r, entry(1000, 1), 2000), REPLAY_FRESH);
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(lookup(r, entry(i, i), 2000), REPLAY_FRESH);
		ck_assert_int_eq(record(r, entry(i, i), 2000), REPLAY_FRESH);
	}
	replay_close(r);
}
END_TEST

START_TEST(full_store_fails_closed)
{
	struct replay *r = store(100);
	enum replay_result res = REPLAY_FRESH;
	unsigned i;

	/* A JID each: the reserve (1% of 100) is theirs too. */
	for (i = 0; i < 100000 && res == REPLAY_FRESH; i++)
		res = record(r, entry(i, i), 1000);
	ck_assert_int_eq(res, REPLAY_FULL);
	ck_assert_msg(strstr(err, "store full") != NULL, "%s", err);
	ck_assert_uint_eq(i, 101);
	ck_assert_int_eq(record(r, entry(0, 0), 1001), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(500, 500), 1001), REPLAY_FULL);
	/* Once the entries have expired there is room again. */
	ck_assert_int_eq(record(r, entry(999999, 7), 2000), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* No JID holds more than per_user live nonces; expired ones do not count. */
START_TEST(per_user_limit)
{
	struct replay *r = store(1000);
	unsigned i;

	for (i = 0; i < 30; i++)
		ck_assert_int_eq(record(r, entry(i, 1), 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(30, 1), 1000), REPLAY_USER_FULL);
	ck_assert_int_eq(record(r, entry(31, 1), 1050), REPLAY_USER_FULL);
	ck_assert_int_eq(record(r, entry(0, 1), 1000), REPLAY_SEEN);
	/* Others are not held back. */
	ck_assert_int_eq(record(r, entry(30, 2), 1000), REPLAY_FRESH);
	/* Once its nonces have expired, the JID may log in again. */
	ck_assert_int_eq(record(r, entry(32, 1), 2000), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/*
 * The last free entries (1% of the capacity) go only to JIDs that hold
 * none: one JID logging in in a loop cannot take them, whoever else fills
 * the rest.
 */
START_TEST(reserve_is_kept_for_jids_holding_none)
{
	struct replay *r = store(1000);
	unsigned i;

	for (i = 0; i < 990; i++)
		ck_assert_int_eq(record(r, entry(i, 100 + i), 1000),
		    REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(5000, 1), 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(5001, 1), 1000), REPLAY_FULL);
	for (i = 0; i < 9; i++)
		ck_assert_int_eq(record(r, entry(6000 + i, 2 + i), 1000),
		    REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(7000, 50), 1000), REPLAY_FULL);
	replay_close(r);
}
END_TEST

/*
 * The clock set back after a purge: every token of a step up to the end
 * of the latest one purged is refused, however long the clock stays
 * behind; later steps are not; reset-store ends it at once.
 */
START_TEST(clock_set_back_refuses_until_reset)
{
	struct replay_settings s;
	struct replay *r = store(1000);

	settings(&s, dir, 1000);
	ck_assert_int_eq(record(r, entry(1, 1), 1000), REPLAY_FRESH);
	/* The clock jumps ahead a day: the first entry is purged. */
	ck_assert_int_eq(record(r, entry(2, 1), 87400), REPLAY_FRESH);
	/* Back again, the first nonce would be valid, but is gone: refuse. */
	ck_assert_int_eq(record(r, entry(1, 1), 1005), REPLAY_BEHIND_MARK);
	ck_assert_msg(strstr(err, "clock is behind") != NULL, "%s", err);
	ck_assert_int_eq(record(r, entry(3, 1), 1050), REPLAY_BEHIND_MARK);
	/* Past the latest step end purged (at most 1080 here). */
	ck_assert_int_eq(record(r, entry(3, 1), 1100), REPLAY_FRESH);
	/*
	 * Again, and reset-store ends it at once. reset-store is a process of
	 * its own: LMDB forbids one process to open an environment twice
	 * (closing the second drops the first's locks; with LMDB 0.9.31, as
	 * in Debian 13, the first then misses the reset), so the store is
	 * closed around it, as another process would leave it.
	 */
	ck_assert_int_eq(record(r, entry(4, 1), 87600), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(5, 1), 1200), REPLAY_BEHIND_MARK);
	replay_close(r);
	ck_assert_int_eq(replay_reset_clock(&s, 1201, err), 0);
	r = store(1000);
	ck_assert_int_eq(record(r, entry(5, 1), 1201), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* Entry n of user u for a token of the step ending at step_end, window 1. */
static struct replay_entry
token_entry(unsigned n, unsigned u, time_t step_end)
{
	struct replay_entry e = entry(n, u);

	e.step_end = step_end;
	e.keep = 30;
	return e;
}

/*
 * The review's sequence: a token used at X, the clock at X + 30 min (its
 * record purged), X - 60, X - 40, then X again: the token is refused
 * every time after its use, and so is every token of its step or before.
 */
START_TEST(clock_back_and_forth_never_brings_a_token_back)
{
	struct replay *r = store(1000);
	const time_t x = 1000035; /* 15 s into its step */
	const time_t end = (x / 30 + 1) * 30;

	ck_assert_int_eq(record(r, token_entry(1, 1, end), x), REPLAY_FRESH);
	ck_assert_int_eq(record(r, token_entry(2, 2, (x + 1800) / 30 * 30 + 30),
	    x + 1800), REPLAY_FRESH);
	ck_assert_int_eq(record(r, token_entry(3, 3, end - 60), x - 60),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record(r, token_entry(4, 4, end - 30), x - 40),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record(r, token_entry(1, 1, end), x),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(lookup(r, token_entry(1, 1, end), x),
	    REPLAY_BEHIND_MARK);
	/* A token of a later step than any purged is accepted. */
	ck_assert_int_eq(record(r, token_entry(5, 5, end + 30), x + 20),
	    REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/*
 * Kept as long as the widest config that wrote to the store accepts a
 * token: a window of 3 (keep 90 s) once seen, a window-1 helper's entry
 * outlives its own 60 s; and an entry purged early (before the wider
 * config was seen) still refuses its token through the mark.
 */
START_TEST(kept_for_the_widest_config)
{
	struct replay *r = store(1000);
	struct replay_entry wide = token_entry(1, 1, 1020), narrow;

	/* Purged early: only window-1 helpers had written. */
	narrow = token_entry(2, 2, 1020);
	ck_assert_int_eq(record(r, narrow, 1005), REPLAY_FRESH);
	ck_assert_int_eq(record(r, token_entry(9, 9, 1110), 1111),
	    REPLAY_FRESH);
	ck_assert_int_eq(record(r, narrow, 1111), REPLAY_BEHIND_MARK);
	/* A window of 3 raises what is kept, for every helper after. */
	wide.keep = 90;
	ck_assert_int_eq(record(r, wide, 1115),
	    REPLAY_BEHIND_MARK); /* too old */
	wide.step_end = 1140;
	ck_assert_int_eq(record(r, wide, 1115), REPLAY_FRESH);
	narrow = token_entry(3, 3, 1140);
	ck_assert_int_eq(record(r, narrow, 1116), REPLAY_FRESH);
	/* 1140 + 90 + the margin: still there at 1250, for a window of 3. */
	ck_assert_int_eq(record(r, token_entry(10, 10, 1260), 1250),
	    REPLAY_FRESH);
	ck_assert_int_eq(record(r, narrow, 1250), REPLAY_SEEN);
	ck_assert_int_eq(record(r, token_entry(11, 11, 1290), 1261),
	    REPLAY_FRESH);
	ck_assert_int_eq(record(r, narrow, 1261), REPLAY_BEHIND_MARK);
	replay_close(r);
}
END_TEST

/* A JWT's entry as format_jwt.c and auth.c make it: its step ends at exp. */
static enum replay_result
record_jwt(struct replay *r, unsigned n, time_t exp, time_t leeway,
    uint64_t key_id, time_t now)
{
	struct replay_time t = { now, exp + leeway > now ? exp + leeway :
					 now + 1, 0 };
	struct replay_entry e = entry(n, n);
	enum replay_result res;

	e.step_end = exp;
	e.keep = leeway;
	e.key_id = key_id;
	replay_record(r, &e, 1, &t, &res, err);
	return res;
}

/*
 * A JWT's step ends at its exp, its leeway the keep: once purged it stays
 * refused, with the clock set back or a wider leeway; a JWT still within
 * its leeway is never refused by the mark; and an exp a day ahead counts
 * when the store's keys change.
 */
START_TEST(jwt_step_ends_at_exp)
{
	struct replay *r = store(1000);
	const time_t e = 1000000, day = 86400;

	ck_assert_int_eq(record_jwt(r, 1, e, 60, 0, e - 100), REPLAY_FRESH);
	/* Its record goes at e + 60 + the margin, the mark to e. */
	ck_assert_int_eq(record_jwt(r, 2, e + 120, 60, 0, e + 100),
	    REPLAY_FRESH);
	ck_assert_int_eq(record_jwt(r, 1, e, 60, 0, e - 50),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record_jwt(r, 1, e, 300, 0, e + 200),
	    REPLAY_BEHIND_MARK);
	/* Expired 50 s ago, within its leeway of 60 s: accepted. */
	ck_assert_int_eq(record_jwt(r, 3, e + 50, 60, 0, e + 100),
	    REPLAY_FRESH);
	/* A day ahead, then other keys: it counts as gone, and is refused
	 * under the new keys too. */
	ck_assert_int_eq(record_jwt(r, 4, e + 100 + day, 60, 0, e + 100),
	    REPLAY_FRESH);
	ck_assert_int_eq(record_jwt(r, 5, e + 200, 60, 7, e + 101),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record_jwt(r, 4, e + 100 + day, 60, 7, e + 102),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record_jwt(r, 6, e + 101 + day, 60, 7, e + 102),
	    REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* Set back with nothing purged: the nonce is still found. */
START_TEST(clock_set_back_finds_entries)
{
	struct replay *r = store(1000);

	ck_assert_int_eq(record(r, entry(4, 1), 1050), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(4, 1), 1000), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, entry(4, 1), 1000), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/*
 * Whatever the config when it was recorded: an entry kept for ten minutes
 * (a wide window) is found by a helper whose tokens live 90 s, and one
 * recorded for 90 s by a helper whose tokens live ten minutes.
 */
START_TEST(found_whatever_the_config_was)
{
	struct replay *r = store(1000);
	struct replay_time wide = { 1000, 1600, 600 }, now = at(1300);
	struct replay_entry e = entry(9, 1);
	enum replay_result res;

	ck_assert_int_eq(replay_record(r, &e, 1, &wide, &res, err), 0);
	ck_assert_int_eq(res, REPLAY_FRESH);
	ck_assert_int_eq(replay_record(r, &e, 1, &now, &res, err), 0);
	ck_assert_int_eq(res, REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, e, 1300), REPLAY_SEEN);
	e = entry(10, 1);
	ck_assert_int_eq(record(r, e, 1300), REPLAY_FRESH);
	wide.now = 1310;
	ck_assert_int_eq(replay_record(r, &e, 1, &wide, &res, err), 0);
	ck_assert_int_eq(res, REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/* One commit for several entries; one twice is a replay the second time. */
START_TEST(batch_records_each_key_once)
{
	struct replay *r = store(1000);
	struct replay_entry es[4] = { entry(10, 1), entry(11, 1), entry(10, 1),
		entry(12, 1) };
	enum replay_result res[4];
	struct replay_time t = at(1000);

	ck_assert_int_eq(record(r, es[3], 990), REPLAY_FRESH);
	ck_assert_int_eq(replay_record(r, es, 4, &t, res, err), 0);
	ck_assert_int_eq(res[0], REPLAY_FRESH);
	ck_assert_int_eq(res[1], REPLAY_FRESH);
	ck_assert_int_eq(res[2], REPLAY_SEEN);
	ck_assert_int_eq(res[3], REPLAY_SEEN);
	ck_assert_int_eq(replay_record(r, es, 2, &t, res, err), 0);
	ck_assert_int_eq(res[0], REPLAY_SEEN);
	ck_assert_int_eq(res[1], REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/* A batch that does not fit: as many as fit are recorded, in order. */
START_TEST(batch_beyond_capacity_fills_the_store_then_refuses)
{
	struct replay *r = store(3);
	struct replay_entry es[5];
	enum replay_result res[5];
	struct replay_time t = at(1000);
	unsigned i;

	for (i = 0; i < 5; i++)
		es[i] = entry(20 + i, 20 + i);
	es[1] = es[0];
	ck_assert_int_eq(replay_record(r, es, 5, &t, res, err), -1);
	ck_assert_int_eq(res[0], REPLAY_FRESH);
	ck_assert_int_eq(res[1], REPLAY_SEEN);
	ck_assert_int_eq(res[2], REPLAY_FRESH);
	ck_assert_int_eq(res[3], REPLAY_FRESH);
	ck_assert_int_eq(res[4], REPLAY_FULL);
	ck_assert_msg(strstr(err, "store full") != NULL, "%s", err);
	ck_assert_int_eq(replay_record(r, es, 4, &t, res, err), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(res[i], REPLAY_SEEN);
	replay_close(r);
}
END_TEST

static void
be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A store of version 1.0 (three named databases) is taken over. */
static void
make_layout_1_0(const uint8_t key[REPLAY_KEY_LEN], uint64_t expiry,
    uint64_t purged)
{
	uint8_t be[8], pbe[8];
	MDB_val k = { REPLAY_KEY_LEN, (void *)key }, v = { 8, be };
	MDB_val pk = { 6, "purged" }, pv = { 8, pbe };
	MDB_dbi nonces, meta, expiry_db;
	MDB_env *env;
	MDB_txn *txn;

	be64(be, expiry);
	be64(pbe, purged);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 3), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "nonces", MDB_CREATE, &nonces), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "expiry", MDB_CREATE, &expiry_db),
	    0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	ck_assert_int_eq(mdb_put(txn, nonces, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_put(txn, meta, &pk, &pv, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* And one of version 1.1 (0x00 -> purged; expiry(8) key(32) -> ""). */
static void
make_layout_1_1(const uint8_t key[REPLAY_KEY_LEN], uint64_t expiry,
    uint64_t purged)
{
	uint8_t mark = 0, pbe[8], ek[8 + REPLAY_KEY_LEN];
	MDB_val mk = { 1, &mark }, mv = { 8, pbe }, k = { sizeof(ek), ek };
	MDB_val none = { 0, NULL };
	MDB_dbi db;
	MDB_env *env;
	MDB_txn *txn;

	be64(pbe, purged);
	be64(ek, expiry);
	memcpy(ek + 8, key, REPLAY_KEY_LEN);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &db), 0);
	ck_assert_int_eq(mdb_put(txn, db, &mk, &mv, 0), 0);
	ck_assert_int_eq(mdb_put(txn, db, &k, &none, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* What an older version finds when it opens a converted store. */
static int
open_as_1_0(void)
{
	MDB_dbi nonces;
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 3), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 24), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	rc = mdb_dbi_open(txn, "nonces", MDB_CREATE, &nonces);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

START_TEST(older_layouts_are_converted_and_shut_out)
{
	struct replay_entry e = entry(30, 1), old;
	struct replay *r;

	/* Entries of older versions count for no JID: their users are not
	 * known. Only the nonce's key matters for finding them. */
	old = e;
	memset(old.user, 0x55, sizeof(old.user));
	make_layout_1_0(e.key, 1080, 990);
	r = store(1000);
	ck_assert_int_eq(record(r, old, 1000), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(31, 1), 980),
	    REPLAY_BEHIND_MARK); /* mark */
	ck_assert_int_eq(record(r, entry(31, 1), 1000), REPLAY_FRESH);
	replay_close(r);
	ck_assert_int_eq(open_as_1_0(), MDB_INCOMPATIBLE);
	/* Opened again: nothing left to convert, the entries stay. */
	r = store(1000);
	ck_assert_int_eq(record(r, e, 1001), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(31, 1), 1001), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

START_TEST(layout_1_1_is_converted)
{
	struct replay_entry e = entry(40, 1);
	struct replay *r;

	make_layout_1_1(e.key, 1080, 990);
	r = store(1000);
	ck_assert_int_eq(record(r, e, 1000), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(41, 1), 980),
	    REPLAY_BEHIND_MARK); /* mark */
	ck_assert_int_eq(record(r, entry(41, 1), 1000), REPLAY_FRESH);
	replay_close(r);
	ck_assert_int_eq(open_as_1_0(), MDB_INCOMPATIBLE);
}
END_TEST

/*
 * A store of an older layout in dir: the records keys[i] -> values[i], and
 * the names 1.0 opened as databases, each -> version (4 bytes).
 */
static void
write_layout(const MDB_val keys[], const MDB_val values[], size_t n,
    uint8_t version)
{
	static const char *const names[] = { "expiry", "meta", "nonces" };
	uint8_t v[4] = { 0, 0, 0, version };
	MDB_val name, vv = { 4, v };
	MDB_dbi db;
	MDB_env *env;
	MDB_txn *txn;
	size_t i;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &db), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(mdb_put(txn, db, (MDB_val *)&keys[i],
		    (MDB_val *)&values[i], 0), 0);
	for (i = 0; i < 3; i++) {
		name.mv_size = strlen(names[i]);
		name.mv_data = (void *)names[i];
		ck_assert_int_eq(mdb_put(txn, db, &name, &vv, 0), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* And one of layout 2 (2.0.0): its JIDs are known, and kept. */
static void
make_layout_2(const struct replay_entry *e, uint64_t expiry, uint64_t purged)
{
	uint8_t mk = 1, meta[28], nk[33], ek[41], be[8], one[4] = { 0, 0, 0, 1 };
	uint8_t uk[17];
	const MDB_val keys[] = { { 1, &mk }, { sizeof(nk), nk },
		{ sizeof(ek), ek }, { sizeof(uk), uk } };
	const MDB_val values[] = { { sizeof(meta), meta }, { 8, be },
		{ REPLAY_USER_LEN, (void *)e->user }, { 4, one } };

	memset(meta, 0, sizeof(meta));
	meta[3] = 2;
	be64(meta + 4, purged);
	meta[27] = 1;
	nk[0] = 'N';
	memcpy(nk + 1, e->key, REPLAY_KEY_LEN);
	be64(be, expiry);
	ek[0] = 'E';
	be64(ek + 1, expiry);
	memcpy(ek + 9, e->key, REPLAY_KEY_LEN);
	uk[0] = 'U';
	memcpy(uk + 1, e->user, REPLAY_USER_LEN);
	write_layout(keys, values, 4, 2);
}

/*
 * Layout 2 converted: its nonce is found, under its JID (which it counts
 * against), the latest expiry it purged is the mark, and a helper of
 * layout 2 then finds a newer layout.
 */
START_TEST(layout_2_is_converted)
{
	struct replay_entry e = entry(50, 1);
	struct replay *r;
	unsigned i;

	make_layout_2(&e, 1080, 990);
	r = store(1000);
	ck_assert_int_eq(record(r, e, 1000), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(51, 2), 980),
	    REPLAY_BEHIND_MARK); /* mark */
	for (i = 0; i < 29; i++)
		ck_assert_int_eq(record(r, entry(100 + i, 1), 1000),
		    REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(200, 1), 1000), REPLAY_USER_FULL);
	replay_close(r);
	ck_assert_int_eq(open_as_1_0(), MDB_INCOMPATIBLE);
	/* Opened again: nothing left to convert, the entries stay. */
	r = store(1000);
	ck_assert_int_eq(record(r, e, 1001), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, entry(100, 1), 1001), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

START_TEST(read_only_open_creates_nothing)
{
	struct replay *r, *ro;
	char sub[64];

	snprintf(sub, sizeof(sub), "%s/store", dir);
	ck_assert_ptr_null(open_store("store", 1000, REPLAY_READ));
	ck_assert_int_eq(access(sub, F_OK), -1);
	r = open_store("store", 1000, REPLAY_WRITE);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(record(r, entry(3, 1), 1000), REPLAY_FRESH);
	ro = open_store("store", 1000, REPLAY_READ);
	ck_assert_msg(ro != NULL, "%s", err);
	ck_assert_int_eq(lookup(ro, entry(3, 1), 1000), REPLAY_SEEN);
	replay_close(ro);
	replay_close(r);
}
END_TEST

START_TEST(unusable_directory_fails)
{
	struct replay_settings s;

	settings(&s, "/proc/no/such/dir", 100);
	ck_assert_ptr_null(replay_open(&s, REPLAY_WRITE, err));
	ck_assert_ptr_nonnull(strstr(err, "cannot create"));
}
END_TEST

/* A store where others could move it away is refused, saying how to fix. */
START_TEST(unsafe_directory_is_refused)
{
	struct replay_settings s;
	char target[64], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/store", dir);
	settings(&s, path, 100);
	ck_assert_int_eq(replay_check_place(&s, err), 0); /* parent: ours */
	ck_assert_int_eq(mkdir(s.store, 0700), 0);
	ck_assert_int_eq(replay_check_place(&s, err), 0);
	ck_assert_int_eq(chmod(s.store, 0777), 0);
	ck_assert_int_eq(replay_check_place(&s, err), -1);
	ck_assert_msg(strstr(err, "writable by other users") != NULL &&
		strstr(err, "chmod go-w") != NULL, "%s", err);
	ck_assert_int_eq(chmod(s.store, 0770), 0);
	ck_assert_int_eq(replay_check_place(&s, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "writable by its group"));
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	ck_assert_int_eq(rename(s.store, target), 0);
	ck_assert_int_eq(chmod(target, 0700), 0);
	ck_assert_int_eq(symlink(target, s.store), 0);
	ck_assert_int_eq(replay_check_place(&s, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "is a symbolic link"));
	/* Not made yet, in a parent others may write, unless sticky. */
	snprintf(s.store, sizeof(s.store), "%s/elsewhere/store", dir);
	ck_assert_int_eq(chmod(target, 0777), 0);
	ck_assert_int_eq(replay_check_place(&s, err), -1);
	ck_assert_int_eq(chmod(target, 01777), 0);
	ck_assert_int_eq(replay_check_place(&s, err), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(target, 0700), 0);
		ck_assert_int_eq(chown(target, 12345, 12345), 0);
		ck_assert_int_eq(replay_check_place(&s, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "owned by uid 12345"));
	}
}
END_TEST

/*
 * The map is sized for the capacity: filled with random nonces of as many
 * JIDs (the most records a nonce can make), the store reaches the capacity
 * check, REPLAY_FULL, before LMDB runs out of pages (REPLAY_ERROR).
 */
START_TEST(map_holds_the_capacity)
{
	static const size_t capacities[] = { 100, 1000, 30000 };
	struct replay_entry es[64];
	enum replay_result res[64];
	struct replay_time t = at(1000);
	size_t c, i, done, fresh;
	uint32_t x = 2463534242u;
	struct replay *r;
	char cmd[64];

	for (c = 0; c < sizeof(capacities) / sizeof(capacities[0]); c++) {
		r = store(capacities[c]);
		for (done = fresh = 0; done <= capacities[c]; done += 64) {
			for (i = 0; i < 64; i++) {
				size_t b;

				for (b = 0; b < sizeof(es[i]); b++) {
					x ^= x << 13;
					x ^= x >> 17;
					x ^= x << 5;
					((uint8_t *)&es[i])[b] = (uint8_t)x;
				}
				es[i].seen_days = 0; /* nonces alone */
			}
			replay_record(r, es, 64, &t, res, err);
			for (i = 0; i < 64; i++) {
				ck_assert_msg(res[i] != REPLAY_ERROR,
				    "capacity %zu, at %zu: %s", capacities[c],
				    fresh, err);
				fresh += res[i] == REPLAY_FRESH;
			}
		}
		ck_assert_uint_eq(fresh, capacities[c]);
		replay_close(r);
		snprintf(cmd, sizeof(cmd), "rm -f %s/*.mdb", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

/* Children wait at a pipe, then all record the same entry at once. */
static int
race(int nproc, unsigned n)
{
	int gate[2], status, fresh = 0, i;
	pid_t pids[8];

	ck_assert_int_eq(pipe(gate), 0);
	for (i = 0; i < nproc; i++) {
		if ((pids[i] = fork()) == 0) {
			char c;
			struct replay *r = open_store(NULL, 1000,
			    REPLAY_WRITE);

			close(gate[1]);
			if (r == NULL || read(gate[0], &c, 1) != 0)
				_exit(9);
			_exit(record(r, entry(n, n % 7), 1000));
		}
	}
	close(gate[0]);
	close(gate[1]); /* opens the gate for all at once */
	for (i = 0; i < nproc; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status));
		ck_assert_int_le(WEXITSTATUS(status), REPLAY_SEEN);
		fresh += WEXITSTATUS(status) == REPLAY_FRESH;
	}
	return fresh;
}

START_TEST(racing_processes_exactly_one_wins)
{
	unsigned k;

	for (k = 0; k < 40; k++) {
		ck_assert_int_eq(race(2, k), 1);
		ck_assert_int_eq(race(4, 1000 + k), 1);
	}
}
END_TEST

/* --- seen marks (isuser = seen) --- */

#define DAY(d) ((time_t)(d) * 86400)

static enum replay_result
seen(struct replay *r, unsigned u, time_t now)
{
	struct replay_entry e = entry(0, u);

	return replay_seen(r, e.user, now, err);
}

/* Records nonce n of user u at now, its JID marked seen for days. */
static enum replay_result
login(struct replay *r, unsigned n, unsigned u, unsigned days, time_t now)
{
	struct replay_entry e = entry(n, u);

	e.seen_days = days;
	return record(r, e, now);
}

/* The records of the store in dir whose keys begin with tag, and the
 * value of the last (8 bytes, big-endian) in *last. */
static size_t
records(char tag, uint64_t *last)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_dbi db;
	MDB_val k, v;
	size_t n = 0, i;
	int rc;

	*last = 0;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &db), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, db, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (((char *)k.mv_data)[0] != tag)
			continue;
		n++;
		for (*last = 0, i = 0; i < v.mv_size && i < 8; i++)
			*last = *last << 8 | ((uint8_t *)v.mv_data)[i];
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/*
 * records(), with the store closed around it: LMDB forbids one process to
 * open an environment twice (with LMDB 0.9.31, as in Debian 13, closing
 * the second drops the first's locks, and its next write fails).
 */
static size_t
records_closed(struct replay **r, char tag, uint64_t *last)
{
	size_t n;

	replay_close(*r);
	n = records(tag, last);
	*r = store(1000);
	return n;
}

START_TEST(seen_marks_last_their_days)
{
	struct replay *r = store(1000);
	time_t now = DAY(20000) + 3600;

	ck_assert_int_eq(seen(r, 1, now), REPLAY_FRESH);
	/* A login of a domain with isuser = any marks nobody. */
	ck_assert_int_eq(login(r, 1, 1, 0, now), REPLAY_FRESH);
	ck_assert_int_eq(seen(r, 1, now), REPLAY_FRESH);
	ck_assert_int_eq(login(r, 2, 1, 2, now), REPLAY_FRESH);
	ck_assert_int_eq(seen(r, 1, now), REPLAY_SEEN);
	ck_assert_int_eq(seen(r, 2, now), REPLAY_FRESH);
	/* Seen through the end of the day two days on, not after. */
	ck_assert_int_eq(seen(r, 1, DAY(20003) - 1), REPLAY_SEEN);
	ck_assert_int_eq(seen(r, 1, DAY(20003)), REPLAY_FRESH);
	/* A replay marks nothing. */
	ck_assert_int_eq(login(r, 2, 2, 0, now), REPLAY_FRESH);
	ck_assert_int_eq(login(r, 2, 2, 5, now + 1), REPLAY_SEEN);
	ck_assert_int_eq(seen(r, 2, now + 1), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

START_TEST(seen_mark_rewritten_once_a_day_and_purged)
{
	struct replay *r = store(1000);
	time_t now = DAY(20000) + 60;
	uint64_t last;
	unsigned i;

	ck_assert_int_eq(login(r, 1, 1, 10, now), REPLAY_FRESH);
	ck_assert_uint_eq(records_closed(&r, 'S', &last), 1);
	ck_assert_uint_eq(last, 20010);
	/* Later the same day: the mark is left as it is. */
	for (i = 2; i < 5; i++)
		ck_assert_int_eq(login(r, i, 1, 10, now + 600 * i),
		    REPLAY_FRESH);
	ck_assert_uint_eq(records_closed(&r, 'S', &last), 1);
	ck_assert_uint_eq(records_closed(&r, 'D', &last), 1);
	/* The next day it moves on, its old place in the index gone. */
	ck_assert_int_eq(login(r, 9, 1, 10, DAY(20001) + 5), REPLAY_FRESH);
	ck_assert_uint_eq(records_closed(&r, 'S', &last), 1);
	ck_assert_uint_eq(last, 20011);
	ck_assert_uint_eq(records_closed(&r, 'D', &last), 1);
	/* A mark past its last day is purged by a later commit. */
	ck_assert_int_eq(login(r, 1, 2, 1, DAY(20001) + 9), REPLAY_FRESH);
	ck_assert_uint_eq(records_closed(&r, 'S', &last), 2);
	ck_assert_int_eq(login(r, 1, 3, 0, DAY(20005)), REPLAY_FRESH);
	ck_assert_uint_eq(records_closed(&r, 'S', &last), 1);
	ck_assert_uint_eq(records_closed(&r, 'D', &last), 1);
	ck_assert_int_eq(seen(r, 2, DAY(20005)), REPLAY_FRESH);
	ck_assert_int_eq(seen(r, 1, DAY(20005)), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/* Marks never take the room of nonces: only the first half is theirs. */
START_TEST(seen_marks_take_half_the_store_at_most)
{
	struct replay *r = store(40);
	time_t now = DAY(20000);
	enum replay_result res;
	struct replay_time t = at(now);
	struct replay_entry e;
	unsigned u;

	for (u = 1; u <= 30; u++) {
		e = entry(u, u);
		e.seen_days = 5;
		replay_record(r, &e, 1, &t, &res, err);
		ck_assert_int_eq(res, REPLAY_FRESH);
	}
	ck_assert_msg(strstr(err, "not marked seen") != NULL, "%s", err);
	ck_assert_int_eq(seen(r, 1, now), REPLAY_SEEN);
	ck_assert_int_eq(seen(r, 30, now), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* A store that cannot be read cannot say anyone was seen. */
START_TEST(seen_of_a_broken_store_is_an_error)
{
	struct replay *r = store(1000);
	char path[PATH_MAX];
	FILE *f;

	ck_assert_int_eq(login(r, 1, 1, 3, DAY(20000)), REPLAY_FRESH);
	replay_close(r);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r+"));
	ck_assert_int_eq(fwrite("garbage garbage garbage garbage", 1, 31, f),
	    31);
	fclose(f);
	r = open_store(NULL, 1000, REPLAY_READ);
	if (r != NULL) {
		ck_assert_int_eq(seen(r, 1, DAY(20000)), REPLAY_ERROR);
		replay_close(r);
	}
}
END_TEST

/*
 * And one of layout 3: a nonce under its JID (its value its expiry, its
 * step end in the expiry index), and a seen mark of another JID.
 */
static void
make_layout_3(const struct replay_entry *e, uint64_t expiry,
    uint64_t step_end, uint64_t mark, unsigned seen_u, uint64_t seen_day)
{
	uint8_t mk = 1, meta[44], nk[33], ek[41], be[8], se[8];
	uint8_t sk[17], dk[25], day[8], zero = 0;
	struct replay_entry s = entry(0, seen_u);
	const MDB_val keys[] = { { 1, &mk }, { sizeof(nk), nk },
		{ sizeof(ek), ek }, { sizeof(sk), sk }, { sizeof(dk), dk } };
	const MDB_val values[] = { { sizeof(meta), meta }, { 8, be },
		{ 8, se }, { 8, day }, { 1, &zero } };

	memset(meta, 0, sizeof(meta));
	meta[3] = 3;
	be64(meta + 4, mark);
	be64(meta + 12, 90);		/* keep */
	be64(meta + 20, step_end);	/* newest */
	nk[0] = 'N';
	memcpy(nk + 1, e->user, REPLAY_USER_LEN);
	memcpy(nk + 17, e->key, 16);
	be64(be, expiry);
	ek[0] = 'E';
	be64(ek + 1, expiry);
	memcpy(ek + 9, nk + 1, 32);
	be64(se, step_end);
	sk[0] = 'S';
	memcpy(sk + 1, s.user, REPLAY_USER_LEN);
	be64(day, seen_day);
	dk[0] = 'D';
	be64(dk + 1, seen_day);
	memcpy(dk + 9, s.user, REPLAY_USER_LEN);
	write_layout(keys, values, 5, 3);
}

/*
 * Layout 3 converted: its nonce is found under its JID; its step end, not
 * its expiry, is what the mark rises to when it is purged; the mark and
 * the seen mark are kept, the seen mark counted as one entry; the expiry
 * index is gone.
 */
START_TEST(layout_3_is_converted)
{
	struct replay_entry e = entry(60, 1);
	time_t now = DAY(20000);
	struct replay *r;
	uint64_t last;
	unsigned i;

	make_layout_3(&e, (uint64_t)now + 180, (uint64_t)now + 30,
	    (uint64_t)now - 100, 7, 20001);
	r = store(1000);
	ck_assert_int_eq(record(r, e, now), REPLAY_SEEN);
	ck_assert_int_eq(record(r, entry(61, 2), now - 100),
	    REPLAY_BEHIND_MARK); /* mark */
	ck_assert_int_eq(seen(r, 7, now), REPLAY_SEEN);
	/* Purged after its expiry: the mark is its step's end. */
	ck_assert_int_eq(record(r, entry(62, 3), now + 200), REPLAY_FRESH);
	ck_assert_int_eq(lookup(r, e, now + 200), REPLAY_FRESH);
	ck_assert_int_eq(record(r, entry(63, 4), now + 30),
	    REPLAY_BEHIND_MARK);
	ck_assert_int_eq(record(r, entry(64, 5), now + 31), REPLAY_FRESH);
	replay_close(r);
	ck_assert_int_eq(records('E', &last), 0);
	ck_assert_int_eq(open_as_1_0(), MDB_INCOMPATIBLE);
	/* Counted as the store counts: the seen mark one entry, as each of
	 * the two nonces left; so 97 more JIDs fill 100. */
	r = store(100);
	for (i = 0; i < 1000 && record(r, entry(i, 100 + i), now + 40) ==
	    REPLAY_FRESH; i++)
		;
	ck_assert_uint_eq(i, 100 - 3);
	replay_close(r);
}
END_TEST

/*
 * Expired nonces go by a sweep that each commit takes on: more than one
 * commit's worth are all gone after a few commits, their steps behind
 * the mark; live ones stay.
 */
START_TEST(expired_entries_are_swept_over_commits)
{
	struct replay *r = store(1000);
	unsigned i;

	for (i = 0; i < 300; i++)
		ck_assert_int_eq(record(r, entry(i, 10 + i), 1000),
		    REPLAY_FRESH);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(record(r, entry(i, 400 + i), 1200),
		    REPLAY_FRESH);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(lookup(r, entry(i, 10 + i), 1200),
		    REPLAY_FRESH);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(lookup(r, entry(i, 400 + i), 1200),
		    REPLAY_SEEN);
	/* Their steps ended at 1080 (at()'s expiry): refused from now on. */
	ck_assert_int_eq(record(r, entry(999, 999), 1080),
	    REPLAY_BEHIND_MARK);
	replay_close(r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	ADD(tc, first_use_then_replay);
	ADD(tc, shared_between_opens);
	ADD(tc, expired_entries_are_purged);
	ADD(tc, full_store_fails_closed);
	ADD(tc, per_user_limit);
	ADD(tc, reserve_is_kept_for_jids_holding_none);
	ADD(tc, clock_set_back_refuses_until_reset);
	ADD(tc, clock_back_and_forth_never_brings_a_token_back);
	ADD(tc, kept_for_the_widest_config);
	ADD(tc, jwt_step_ends_at_exp);
	ADD(tc, clock_set_back_finds_entries);
	ADD(tc, found_whatever_the_config_was);
	ADD(tc, batch_records_each_key_once);
	ADD(tc, batch_beyond_capacity_fills_the_store_then_refuses);
	ADD(tc, older_layouts_are_converted_and_shut_out);
	ADD(tc, layout_1_1_is_converted);
	ADD(tc, layout_2_is_converted);
	ADD(tc, layout_3_is_converted);
	ADD(tc, expired_entries_are_swept_over_commits);
	ADD(tc, read_only_open_creates_nothing);
	ADD(tc, unusable_directory_fails);
	ADD(tc, unsafe_directory_is_refused);
	ADD(tc, map_holds_the_capacity);
	ADD(tc, racing_processes_exactly_one_wins);
	ADD(tc, seen_marks_last_their_days);
	ADD(tc, seen_mark_rewritten_once_a_day_and_purged);
	ADD(tc, seen_marks_take_half_the_store_at_most);
	ADD(tc, seen_of_a_broken_store_is_an_error);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
