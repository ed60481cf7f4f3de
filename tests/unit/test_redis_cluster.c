/* Redis Cluster: key slots and hash tags as Redis computes them, the tags
 * that pick each slot, and replay_redis_cluster against the other keys. */
#include <stdio.h>

#include "redis_cluster.h"
#include "redis_link.h"
#include "replay_store.h"
#include "unit.h"

static unsigned
slot(const char *key)
{
	return redis_cluster_slot(key, strlen(key));
}

/* What redis-cli CLUSTER KEYSLOT answers (Redis 7.0). */
START_TEST(slots_as_redis_computes_them)
{
	ck_assert_uint_eq(slot("123456789"), 0x31c3);
	ck_assert_uint_eq(slot("foo"), 12182);
	ck_assert_uint_eq(slot("bar"), 5061);
	ck_assert_uint_eq(slot(""), 0);
}
END_TEST

/* Only what lies between the first '{' and the first '}' after it, if
 * anything does, is hashed. */
START_TEST(hash_tags)
{
	ck_assert_uint_eq(slot("{user1000}.following"), slot("user1000"));
	ck_assert_uint_eq(slot("pta:{ab12}:n:ffff"), slot("ab12"));
	ck_assert_uint_eq(slot("pta:{ab12}:u"), slot("pta:{ab12}:n:0"));
	ck_assert_uint_eq(slot("foo{}{bar}"), 8363);
	ck_assert_uint_eq(slot("foo{{bar}}zap"), slot("{bar"));
	ck_assert_uint_eq(slot("foo{bar}{zap}"), slot("bar"));
	ck_assert_uint_eq(slot("{"), slot("{"));
	ck_assert_uint_ne(slot("a{b"), slot("b"));
}
END_TEST

/* Each slot's tag puts a key in that slot, and is short. */
START_TEST(a_tag_for_every_slot)
{
	struct redis_settings s;
	char err[REPLAY_ERR_LEN], tag[REDIS_CLUSTER_TAG_MAX + 1], key[32];
	struct redis_cluster *cl;
	unsigned i;

	memset(&s, 0, sizeof(s));
	cl = redis_cluster_open(&s, err);
	ck_assert_ptr_nonnull(cl);
	for (i = 0; i < REDIS_CLUSTER_SLOTS; i++) {
		redis_cluster_tag(cl, i, tag);
		ck_assert_uint_le(strlen(tag), 5);
		snprintf(key, sizeof(key), "pta:{%s}since", tag);
		ck_assert_uint_eq(slot(key), i);
	}
	redis_cluster_close(cl);
}
END_TEST

static int
load(struct replay_settings *s, const char *store, const char *key,
    const char *value, int *line, char why[REPLAY_ERR_LEN])
{
	struct replay_line lines[3] = {
		{ "replay_store", store, strlen(store), 1 },
		{ "replay_redis_cluster", "127.0.0.1:7000,[::1]:7001", 25, 2 },
	};
	size_t n = 2;

	if (key != NULL)
		lines[n++] = (struct replay_line){ key, value, strlen(value),
			3 };
	return replay_settings_load(s, lines, n, line, why);
}

START_TEST(cluster_settings_agree)
{
	struct replay_settings s;
	char why[REPLAY_ERR_LEN], shown[64];
	int line = 0;

	ck_assert_int_eq(load(&s, "redis://pta:Zebra@/", NULL, NULL, &line,
			     why), 0);
	ck_assert_str_eq(((const struct redis_settings *)s.own.bytes)->cluster,
	    "127.0.0.1:7000,[::1]:7001");
	ck_assert_int_eq(s.backend->shown(&s, "replay_redis_cluster", shown,
			     sizeof(shown)), 0);
	ck_assert_str_eq(shown, "127.0.0.1:7000,[::1]:7001");
	ck_assert_int_eq(load(&s, "redis://pta:Zebra@h:7000/", NULL, NULL,
			     &line, why), -1);
	ck_assert_int_eq(line, 1);
	ck_assert_ptr_nonnull(strstr(why, "leave the host out"));
	ck_assert_int_eq(load(&s, "redis://pta:Zebra@/2", NULL, NULL, &line,
			     why), -1);
	ck_assert_ptr_nonnull(strstr(why, "database 0"));
	ck_assert_int_eq(load(&s, "unix:///run/r.sock", NULL, NULL, &line,
			     why), -1);
	ck_assert_int_eq(line, 1);
	ck_assert_int_eq(load(&s, "redis://:Zebra@/", "replay_redis_sentinels",
			     "127.0.0.1:26379", &line, why), -1);
	ck_assert_int_eq(line, 2);
	ck_assert_ptr_nonnull(strstr(why, "keep one"));
	ck_assert_ptr_null(strstr(why, "Zebra"));
}
END_TEST

START_TEST(bad_seeds)
{
	struct replay_settings s;
	char why[REPLAY_ERR_LEN];
	struct replay_line lines[2] = {
		{ "replay_store", "redis://:Zebra@/", 16, 1 },
		{ "replay_redis_cluster", "127.0.0.1:0", 11, 2 },
	};
	int line = 0;

	ck_assert_int_eq(replay_settings_load(&s, lines, 2, &line, why), -1);
	ck_assert_int_eq(line, 2);
	ck_assert_ptr_nonnull(strstr(why, "replay_redis_cluster"));
	lines[1] = (struct replay_line){ "replay_redis_cluster", "a b", 3, 2 };
	ck_assert_int_eq(replay_settings_load(&s, lines, 2, &line, why), -1);
	ck_assert_int_eq(line, 2);
	ck_assert_ptr_null(strstr(why, "Zebra"));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("redis_cluster");
	TCase *tc = tcase_create("redis_cluster");

	ADD(tc, slots_as_redis_computes_them);
	ADD(tc, hash_tags);
	ADD(tc, a_tag_for_every_slot);
	ADD(tc, cluster_settings_agree);
	ADD(tc, bad_seeds);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
