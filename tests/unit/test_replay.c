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

static void
make_key(uint8_t key[REPLAY_KEY_LEN], unsigned n)
{
	memset(key, 0, REPLAY_KEY_LEN);
	memcpy(key, &n, sizeof(n));
}

/* Expiries on a 30 s grid, 90 s after now, as tokens have by default. */
static struct replay_time
at(time_t now)
{
	struct replay_time t = { now, (now / 30 + 3) * 30, 30 };

	return t;
}

/* Records one key at now. */
static enum replay_result
record(struct replay *r, const uint8_t key[REPLAY_KEY_LEN], time_t now)
{
	struct replay_time t = at(now);
	enum replay_result res;
	int rc;

	rc = replay_record(r, (const uint8_t(*)[REPLAY_KEY_LEN])key, 1, &t,
	    &res, err);
	ck_assert_int_eq(rc, res == REPLAY_ERROR ? -1 : 0);
	return res;
}

static enum replay_result
lookup(struct replay *r, const uint8_t key[REPLAY_KEY_LEN], time_t now)
{
	struct replay_time t = at(now);

	return replay_lookup(r, key, &t, err);
}

START_TEST(first_use_then_replay)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	ck_assert_msg(r != NULL, "%s", err);
	make_key(key, 1);
	ck_assert_int_eq(lookup(r, key, 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(r, key, 1001), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, key, 1001), REPLAY_SEEN);
	/* A step or two later, under an earlier expiry than the new one. */
	ck_assert_int_eq(record(r, key, 1031), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, key, 1061), REPLAY_SEEN);
	make_key(key, 2);
	ck_assert_int_eq(record(r, key, 1001), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

START_TEST(shared_between_opens)
{
	struct replay *a = replay_open(dir, 1000, err);
	struct replay *b = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	make_key(key, 7);
	ck_assert_int_eq(record(a, key, 1000), REPLAY_FRESH);
	ck_assert_int_eq(record(b, key, 1000), REPLAY_SEEN);
	replay_close(a);
	replay_close(b);
}
END_TEST

START_TEST(expired_entries_are_purged)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];
	unsigned i;

	for (i = 0; i < 50; i++) {
		make_key(key, i);
		ck_assert_int_eq(record(r, key, 1000), REPLAY_FRESH);
	}
	/* Past the expiry, each new record purges up to a batch of old ones. */
	make_key(key, 1000);
	ck_assert_int_eq(record(r, key, 2000), REPLAY_FRESH);
	for (i = 0; i < 50; i++) {
		make_key(key, i);
		ck_assert_int_eq(lookup(r, key, 2000), REPLAY_FRESH);
		ck_assert_int_eq(record(r, key, 2000), REPLAY_FRESH);
	}
	replay_close(r);
}
END_TEST

START_TEST(full_store_fails_closed)
{
	struct replay *r = replay_open(dir, 100, err);
	uint8_t key[REPLAY_KEY_LEN];
	enum replay_result res = REPLAY_FRESH;
	unsigned i;

	for (i = 0; i < 100000 && res == REPLAY_FRESH; i++) {
		make_key(key, i);
		res = record(r, key, 1000);
	}
	ck_assert_int_eq(res, REPLAY_ERROR);
	ck_assert_msg(strstr(err, "store full") != NULL, "%s", err);
	ck_assert_uint_eq(i, 101);
	make_key(key, 0);
	ck_assert_int_eq(record(r, key, 1001), REPLAY_SEEN);
	make_key(key, 500);
	ck_assert_int_eq(record(r, key, 1001), REPLAY_ERROR);
	/* Once the entries have expired there is room again. */
	make_key(key, 999999);
	ck_assert_int_eq(record(r, key, 2000), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* A purge is not undone by setting the clock back. */
START_TEST(clock_set_back_after_a_purge_refuses)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t first[REPLAY_KEY_LEN], key[REPLAY_KEY_LEN];

	make_key(first, 1);
	ck_assert_int_eq(record(r, first, 1000), REPLAY_FRESH);
	/* The clock jumps ahead: the first entry is purged. */
	make_key(key, 2);
	ck_assert_int_eq(record(r, key, 2000), REPLAY_FRESH);
	/* Back again, the first nonce would be valid, but is gone: refuse. */
	ck_assert_int_eq(record(r, first, 1005), REPLAY_ERROR);
	ck_assert_msg(strstr(err, "clock is behind") != NULL, "%s", err);
	make_key(key, 3);
	ck_assert_int_eq(record(r, key, 1005), REPLAY_ERROR);
	/* Once the clock has passed the purged expiry, all is well. */
	ck_assert_int_eq(record(r, key, 1090), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* Set back a little, with nothing purged: the nonce is still found. */
START_TEST(clock_set_back_finds_later_expiries)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	make_key(key, 4);
	ck_assert_int_eq(record(r, key, 1050), REPLAY_FRESH);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_SEEN);
	ck_assert_int_eq(lookup(r, key, 1000), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/*
 * Set back by more than a token's lifetime: what was recorded ahead is not
 * looked for (no token of that time can be valid now), and nothing refused.
 */
START_TEST(clock_far_behind_looks_only_a_lifetime_ahead)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	make_key(key, 5);
	ck_assert_int_eq(record(r, key, 1079), REPLAY_FRESH);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_SEEN);
	make_key(key, 6);
	ck_assert_int_eq(record(r, key, 1130), REPLAY_FRESH);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* One commit for several keys; a key twice is a replay the second time. */
START_TEST(batch_records_each_key_once)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t keys[4][REPLAY_KEY_LEN];
	enum replay_result res[4];
	struct replay_time t = at(1000);

	make_key(keys[0], 10);
	make_key(keys[1], 11);
	make_key(keys[2], 10);
	make_key(keys[3], 12);
	ck_assert_int_eq(record(r, keys[3], 990), REPLAY_FRESH);
	ck_assert_int_eq(replay_record(r, keys, 4, &t, res, err), 0);
	ck_assert_int_eq(res[0], REPLAY_FRESH);
	ck_assert_int_eq(res[1], REPLAY_FRESH);
	ck_assert_int_eq(res[2], REPLAY_SEEN);
	ck_assert_int_eq(res[3], REPLAY_SEEN);
	ck_assert_int_eq(replay_record(r, keys, 2, &t, res, err), 0);
	ck_assert_int_eq(res[0], REPLAY_SEEN);
	ck_assert_int_eq(res[1], REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/* A batch that does not fit: as many as fit are recorded, in order. */
START_TEST(batch_beyond_capacity_fills_the_store_then_refuses)
{
	struct replay *r = replay_open(dir, 3, err);
	uint8_t keys[5][REPLAY_KEY_LEN];
	enum replay_result res[5];
	struct replay_time t = at(1000);
	int i;

	for (i = 0; i < 5; i++)
		make_key(keys[i], 20 + (unsigned)i);
	make_key(keys[1], 20);
	ck_assert_int_eq(replay_record(r, keys, 5, &t, res, err), -1);
	ck_assert_int_eq(res[0], REPLAY_FRESH);
	ck_assert_int_eq(res[1], REPLAY_SEEN);
	ck_assert_int_eq(res[2], REPLAY_FRESH);
	ck_assert_int_eq(res[3], REPLAY_FRESH);
	ck_assert_int_eq(res[4], REPLAY_ERROR);
	ck_assert_msg(strstr(err, "store full") != NULL, "%s", err);
	ck_assert_int_eq(replay_record(r, keys, 4, &t, res, err), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(res[i], REPLAY_SEEN);
	replay_close(r);
}
END_TEST

/* A store of the first layout (three named databases) is taken over. */
static void
make_first_layout(const uint8_t key[REPLAY_KEY_LEN], uint64_t expiry,
    uint64_t purged)
{
	uint8_t be[8], pbe[8];
	MDB_val k = { REPLAY_KEY_LEN, (void *)key }, v = { 8, be };
	MDB_val pk = { 6, "purged" }, pv = { 8, pbe };
	MDB_dbi nonces, meta, expiry_db;
	MDB_env *env;
	MDB_txn *txn;
	int i;

	for (i = 0; i < 8; i++) {
		be[i] = (uint8_t)(expiry >> (56 - 8 * i));
		pbe[i] = (uint8_t)(purged >> (56 - 8 * i));
	}
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

START_TEST(first_layout_is_adopted)
{
	uint8_t key[REPLAY_KEY_LEN], other[REPLAY_KEY_LEN];
	struct replay *r;

	make_key(key, 30);
	make_first_layout(key, 1080, 990);
	r = replay_open(dir, 1000, err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_SEEN);
	make_key(other, 31);
	ck_assert_int_eq(record(r, other, 980), REPLAY_ERROR); /* mark */
	ck_assert_int_eq(record(r, other, 1000), REPLAY_FRESH);
	replay_close(r);
	/* Opened again: nothing left to adopt, the entries stay. */
	r = replay_open(dir, 1000, err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(record(r, key, 1001), REPLAY_SEEN);
	ck_assert_int_eq(record(r, other, 1001), REPLAY_SEEN);
	replay_close(r);
}
END_TEST

START_TEST(read_only_open_creates_nothing)
{
	struct replay *r, *ro;
	uint8_t key[REPLAY_KEY_LEN];
	char sub[64];

	snprintf(sub, sizeof(sub), "%s/store", dir);
	ck_assert_ptr_null(replay_open_existing(sub, err));
	ck_assert_int_eq(access(sub, F_OK), -1);
	r = replay_open(sub, 1000, err);
	ck_assert_ptr_nonnull(r);
	make_key(key, 3);
	ck_assert_int_eq(record(r, key, 1000), REPLAY_FRESH);
	ro = replay_open_existing(sub, err);
	ck_assert_msg(ro != NULL, "%s", err);
	ck_assert_int_eq(lookup(ro, key, 1000), REPLAY_SEEN);
	replay_close(ro);
	replay_close(r);
}
END_TEST

START_TEST(unusable_directory_fails)
{
	ck_assert_ptr_null(replay_open("/proc/no/such/dir", 100, err));
	ck_assert_ptr_nonnull(strstr(err, "cannot create"));
}
END_TEST

/* Children wait at a pipe, then all record the same key at once. */
static int
race(int nproc, unsigned keyno)
{
	int gate[2], status, fresh = 0, i;
	uint8_t key[REPLAY_KEY_LEN];
	pid_t pids[8];

	ck_assert_int_eq(pipe(gate), 0);
	make_key(key, keyno);
	for (i = 0; i < nproc; i++) {
		if ((pids[i] = fork()) == 0) {
			char c;
			struct replay *r = replay_open(dir, 1000, err);

			close(gate[1]);
			if (r == NULL || read(gate[0], &c, 1) != 0)
				_exit(2);
			_exit(record(r, key, 1000));
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
	ADD(tc, clock_set_back_after_a_purge_refuses);
	ADD(tc, clock_set_back_finds_later_expiries);
	ADD(tc, clock_far_behind_looks_only_a_lifetime_ahead);
	ADD(tc, batch_records_each_key_once);
	ADD(tc, batch_beyond_capacity_fills_the_store_then_refuses);
	ADD(tc, first_layout_is_adopted);
	ADD(tc, read_only_open_creates_nothing);
	ADD(tc, unusable_directory_fails);
	ADD(tc, racing_processes_exactly_one_wins);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
