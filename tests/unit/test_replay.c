#include <sys/wait.h>

#include <stdio.h>
#include <unistd.h>

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

START_TEST(first_use_then_replay)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	ck_assert_msg(r != NULL, "%s", err);
	make_key(key, 1);
	ck_assert_int_eq(replay_lookup(r, key, 1000, err), REPLAY_FRESH);
	ck_assert_int_eq(replay_record(r, key, 1090, 1000, err), REPLAY_FRESH);
	ck_assert_int_eq(replay_record(r, key, 1090, 1001, err), REPLAY_SEEN);
	ck_assert_int_eq(replay_lookup(r, key, 1001, err), REPLAY_SEEN);
	make_key(key, 2);
	ck_assert_int_eq(replay_record(r, key, 1090, 1001, err), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

START_TEST(shared_between_opens)
{
	struct replay *a = replay_open(dir, 1000, err);
	struct replay *b = replay_open(dir, 1000, err);
	uint8_t key[REPLAY_KEY_LEN];

	make_key(key, 7);
	ck_assert_int_eq(replay_record(a, key, 1090, 1000, err), REPLAY_FRESH);
	ck_assert_int_eq(replay_record(b, key, 1090, 1000, err), REPLAY_SEEN);
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
		ck_assert_int_eq(replay_record(r, key, 1090, 1000, err),
		    REPLAY_FRESH);
	}
	/* Past the expiry, each new record purges up to a batch of old ones. */
	make_key(key, 1000);
	ck_assert_int_eq(replay_record(r, key, 2090, 2000, err), REPLAY_FRESH);
	for (i = 0; i < 50; i++) {
		make_key(key, i);
		ck_assert_int_eq(replay_lookup(r, key, 2000, err),
		    REPLAY_FRESH);
		ck_assert_int_eq(replay_record(r, key, 2090, 2000, err),
		    REPLAY_FRESH);
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
		res = replay_record(r, key, 1090, 1000, err);
	}
	ck_assert_int_eq(res, REPLAY_ERROR);
	ck_assert_msg(strstr(err, "store full") != NULL, "%s", err);
	ck_assert_uint_eq(i, 101);
	make_key(key, 0);
	ck_assert_int_eq(replay_record(r, key, 1090, 1001, err), REPLAY_SEEN);
	make_key(key, 500);
	ck_assert_int_eq(replay_record(r, key, 1090, 1001, err), REPLAY_ERROR);
	/* Once the entries have expired there is room again. */
	make_key(key, 999999);
	ck_assert_int_eq(replay_record(r, key, 2090, 2000, err), REPLAY_FRESH);
	replay_close(r);
}
END_TEST

/* A purge is not undone by setting the clock back. */
START_TEST(clock_set_back_after_a_purge_refuses)
{
	struct replay *r = replay_open(dir, 1000, err);
	uint8_t first[REPLAY_KEY_LEN], key[REPLAY_KEY_LEN];

	make_key(first, 1);
	ck_assert_int_eq(replay_record(r, first, 1090, 1000, err),
	    REPLAY_FRESH);
	/* The clock jumps ahead: the first entry is purged. */
	make_key(key, 2);
	ck_assert_int_eq(replay_record(r, key, 3690, 3600, err), REPLAY_FRESH);
	/* Back again, the first nonce would be valid, but is gone: refuse. */
	ck_assert_int_eq(replay_record(r, first, 1095, 1005, err),
	    REPLAY_ERROR);
	ck_assert_msg(strstr(err, "clock is behind") != NULL, "%s", err);
	make_key(key, 3);
	ck_assert_int_eq(replay_record(r, key, 1095, 1005, err), REPLAY_ERROR);
	/* Once the clock has passed the purged expiry, all is well. */
	ck_assert_int_eq(replay_record(r, key, 1180, 1090, err), REPLAY_FRESH);
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
	ck_assert_int_eq(replay_record(r, key, 1090, 1000, err), REPLAY_FRESH);
	ro = replay_open_existing(sub, err);
	ck_assert_msg(ro != NULL, "%s", err);
	ck_assert_int_eq(replay_lookup(ro, key, 1000, err), REPLAY_SEEN);
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
			_exit(replay_record(r, key, 1090, 1000, err));
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
	ADD(tc, read_only_open_creates_nothing);
	ADD(tc, unusable_directory_fails);
	ADD(tc, racing_processes_exactly_one_wins);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
