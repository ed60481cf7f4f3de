#include <sys/stat.h>

#include <stdio.h>
#include <unistd.h>

#include "auth.h"
#include "unit.h"

static char dir[] = "/tmp/pta-auth.XXXXXX";
static struct config cfg;

static void
setup(void)
{
	char path[PATH_MAX], err[CONFIG_ERR_LEN];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token-auth.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "otp_seed = %s\ntoken_secret = %s\nreplay_store = "
	    "%s/replay\n[other.example]\notp_seed = %s\ntoken_secret = %s\n",
	    TEST_SEED, TEST_SECRET, dir, TEST_SEED, "0123456789ABCDEFGHIJ");
	fclose(f);
	chmod(path, 0600);
	ck_assert_msg(config_load(path, &cfg, err) == 0, "%s", err);
}

static void
teardown(void)
{
	char cmd[64 + sizeof(dir)];

	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/pta-auth.XXXXXX");
}

/* A fresh token for user@domain, made now, as the web application would. */
static void
mint(char *out, const char *user, const char *domain, const char *nonce)
{
	const struct token_keys *k = config_keys(&cfg, domain, strlen(domain));

	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(token_format(nonce, JID(user, domain), &k->current,
			     &cfg.params, time(NULL), out),
	    0);
}

#define NONCE1 "11111111111111111111111111111111"
#define NONCE2 "22222222222222222222222222222222"

/* Requests as the serve loop hands them over. */
static struct serve_request reqs[SERVE_BATCH_MAX + 1];
static char texts[SERVE_BATCH_MAX + 1][320];

static void
request(size_t i, const char *prefix, const char *rest)
{
	snprintf(texts[i], sizeof(texts[i]), "%s%s", prefix, rest);
	reqs[i].text = texts[i];
	reqs[i].len = strlen(texts[i]);
}

START_TEST(batch_answers_each_request)
{
	char t1[TOKEN_MAX_LEN + 1], t2[TOKEN_MAX_LEN + 1];
	int answers[9];
	struct auth *a;

	mint(t1, "bob", "example.org", NONCE1);
	mint(t2, "bob", "other.example", NONCE2);
	request(0, "auth:bob:example.org:", t1);
	request(1, "auth:bob:example.org:", t1);	  /* replay */
	request(2, "auth:alice:example.org:", t1);	  /* other user */
	request(3, "auth:bob:other.example:", t2);	  /* own secrets */
	request(4, "isuser:bob:example.org", "");
	request(5, "setpass:bob:example.org:", "x");
	request(6, "auth:bob:", "x");			  /* malformed */
	reqs[7].text = NULL;				  /* oversized */
	request(8, "auth:bob:example.org:", "junk");
	ck_assert_ptr_nonnull(a = auth_open(&cfg, AUTH_SERVE));
	auth_answer(a, reqs, 9, answers);
	ck_assert_int_eq(answers[0], 1);
	ck_assert_int_eq(answers[1], 0);
	ck_assert_int_eq(answers[2], 0);
	ck_assert_int_eq(answers[3], 1);
	ck_assert_int_eq(answers[4], 1);
	ck_assert_int_eq(answers[5], 0);
	ck_assert_int_eq(answers[6], 0);
	ck_assert_int_eq(answers[7], 0);
	ck_assert_int_eq(answers[8], 0);
	/* The reasons a client that asks for them gets, one word each */
	ck_assert_ptr_null(auth_answer_reason(a, 0));
	ck_assert_str_eq(auth_answer_reason(a, 1), "replayed");
	ck_assert_str_eq(auth_answer_reason(a, 2), "bad_signature");
	ck_assert_ptr_null(auth_answer_reason(a, 4));
	ck_assert_ptr_null(auth_answer_reason(a, 5));
	ck_assert_str_eq(auth_answer_reason(a, 6), "malformed_request");
	ck_assert_str_eq(auth_answer_reason(a, 7), "oversized");
	ck_assert_str_eq(auth_answer_reason(a, 8), "malformed");
	ck_assert_ptr_null(auth_answer_reason(a, 9));
	auth_log_answered(a);
	auth_close(a);
}
END_TEST

/* The serve loop never hands over more than a batch; if it did, no yes. */
START_TEST(too_many_requests_are_all_refused)
{
	char t[TOKEN_MAX_LEN + 1], user[16], prefix[48];
	int answers[SERVE_BATCH_MAX + 1];
	struct auth *a;
	size_t i;

	for (i = 0; i <= SERVE_BATCH_MAX; i++) {
		snprintf(user, sizeof(user), "u%zu", i);
		snprintf(prefix, sizeof(prefix), "auth:%s:example.org:", user);
		mint(t, user, "example.org", NONCE1);
		request(i, prefix, t);
		answers[i] = -1;
	}
	ck_assert_ptr_nonnull(a = auth_open(&cfg, AUTH_SERVE));
	auth_answer(a, reqs, SERVE_BATCH_MAX + 1, answers);
	for (i = 0; i <= SERVE_BATCH_MAX; i++)
		ck_assert_int_eq(answers[i], 0);
	auth_answer(a, reqs, SERVE_BATCH_MAX, answers);
	for (i = 0; i < SERVE_BATCH_MAX; i++)
		ck_assert_int_eq(answers[i], 1);
	auth_close(a);
}
END_TEST

/* A JID logging in in a loop is held to replay_per_user live tokens. */
START_TEST(one_jid_cannot_take_the_store)
{
	char t[TOKEN_MAX_LEN + 1], nonce[] = NONCE1;
	int answers[SERVE_BATCH_MAX];
	struct auth *a;
	size_t i, yes = 0;

	for (i = 0; i < 40; i++) {
		nonce[0] = (char)('0' + i % 10);
		nonce[1] = (char)('0' + i / 10);
		mint(t, "mallory", "example.org", nonce);
		request(i, "auth:mallory:example.org:", t);
	}
	mint(t, "bob", "example.org", NONCE2);
	request(40, "auth:bob:example.org:", t);
	ck_assert_ptr_nonnull(a = auth_open(&cfg, AUTH_SERVE));
	auth_answer(a, reqs, 41, answers);
	for (i = 0; i < 40; i++)
		yes += answers[i] == 1;
	ck_assert_uint_eq(yes, REPLAY_DEFAULT_PER_USER);
	ck_assert_int_eq(answers[40], 1);
	auth_log_answered(a);
	auth_close(a);
}
END_TEST

/* verify's question: the helper's decision, without using the token up. */
START_TEST(lookup_says_what_the_helper_would)
{
	char t[TOKEN_MAX_LEN + 1], err[AUTH_ERR_LEN];
	struct auth *serving, *inspecting;
	int answer;

	mint(t, "bob", "example.org", NONCE1);
	ck_assert_ptr_nonnull(inspecting = auth_open(&cfg, AUTH_INSPECT));
	/* No store yet: inspecting makes none, and says so. */
	ck_assert_int_eq(auth_lookup(inspecting, JID("bob", "example.org"), t,
			     strlen(t), time(NULL), err),
	    AUTH_STORE_FAILED);
	ck_assert_ptr_nonnull(strstr(err, "data.mdb"));
	ck_assert_ptr_nonnull(serving = auth_open(&cfg, AUTH_SERVE));
	ck_assert_int_eq(auth_lookup(inspecting, JID("bob", "example.org"), t,
			     strlen(t), time(NULL), err),
	    AUTH_ACCEPTED);
	ck_assert_int_eq(auth_lookup(inspecting, JID("bob", "example.org"), t,
			     strlen(t), time(NULL), err),
	    AUTH_ACCEPTED);
	request(0, "auth:bob:example.org:", t);
	auth_answer(serving, reqs, 1, &answer);
	ck_assert_int_eq(answer, 1);
	ck_assert_int_eq(auth_lookup(inspecting, JID("bob", "example.org"), t,
			     strlen(t), time(NULL), err),
	    AUTH_REPLAY);
	ck_assert_int_eq(auth_lookup(inspecting, JID("eve", "example.org"), t,
			     strlen(t), time(NULL), err),
	    AUTH_BAD_SIGNATURE);
	ck_assert_int_eq(auth_lookup(inspecting, JID("bob", "nowhere.example"),
			     t, strlen(t), time(NULL), err),
	    AUTH_BAD_SIGNATURE);
	auth_close(serving);
	auth_close(inspecting);
}
END_TEST

/* A config of isuser = seen for example.org, its store at store. */
static void
seen_config(struct config *c, const char *store)
{
	char path[PATH_MAX], err[CONFIG_ERR_LEN];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seen.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "otp_seed = %s\ntoken_secret = %s\nreplay_store = %s\n"
	    "store_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\n"
	    "[example.org]\notp_seed = %s\ntoken_secret = %s\n"
	    "isuser = seen\nisuser_seen_days = 2\n",
	    TEST_SEED, TEST_SECRET, store, TEST_SEED, TEST_SECRET);
	fclose(f);
	chmod(path, 0600);
	ck_assert_msg(config_load(path, c, err) == 0, "%s", err);
}

/* isuser = seen: yes only once a login was accepted; other domains any. */
START_TEST(isuser_seen_after_a_login)
{
	char t1[TOKEN_MAX_LEN + 1], store[PATH_MAX];
	struct config c;
	int answers[6];
	struct auth *a;

	snprintf(store, sizeof(store), "%s/seen-store", dir);
	seen_config(&c, store);
	ck_assert_int_eq(token_format(NONCE1, JID("bob", "example.org"),
			     &config_keys(&c, "example.org", 11)->current,
			     &c.params, time(NULL), t1), 0);
	request(0, "isuser:bob:example.org", "");
	request(1, "isuser:carol:other.example", "");
	request(2, "auth:bob:example.org:", "00000000000000000000000000000000"
	    "00000000 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	ck_assert_ptr_nonnull(a = auth_open(&c, AUTH_SERVE));
	auth_answer(a, reqs, 3, answers);
	ck_assert_int_eq(answers[0], 0);
	ck_assert_int_eq(answers[1], 1);
	ck_assert_int_eq(answers[2], 0);
	auth_log_answered(a);
	/* A refused login marks no one; an accepted one does, for an isuser
	 * of its own batch too (asked once the batch is recorded). */
	request(0, "isuser:bob:example.org", "");
	request(1, "auth:bob:example.org:", t1);
	auth_answer(a, reqs, 2, answers);
	ck_assert_int_eq(answers[0], 1);
	ck_assert_int_eq(answers[1], 1);
	auth_log_answered(a);
	request(0, "isuser:bob:example.org", "");
	request(1, "isuser:BOB:example.org", "");
	request(2, "isuser:alice:example.org", "");
	auth_answer(a, reqs, 3, answers);
	ck_assert_int_eq(answers[0], 1);
	ck_assert_int_eq(answers[2], 0);
	auth_log_answered(a);
	auth_close(a);
	config_free(&c);
}
END_TEST

/* A store that cannot be opened knows no one: isuser is 0. */
START_TEST(isuser_seen_fails_closed)
{
	char store[PATH_MAX + 16], file[PATH_MAX];
	struct config c;
	int answers[1];
	struct auth *a;
	FILE *f;

	snprintf(file, sizeof(file), "%s/a-file", dir);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fclose(f);
	snprintf(store, sizeof(store), "%s/replay", file);
	seen_config(&c, store);
	request(0, "isuser:bob:example.org", "");
	ck_assert_ptr_nonnull(a = auth_open(&c, AUTH_SERVE));
	auth_answer(a, reqs, 1, answers);
	ck_assert_int_eq(answers[0], 0);
	auth_log_answered(a);
	auth_close(a);
	config_free(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");

	tcase_add_checked_fixture(tc, setup, teardown);
	ADD(tc, batch_answers_each_request);
	ADD(tc, too_many_requests_are_all_refused);
	ADD(tc, one_jid_cannot_take_the_store);
	ADD(tc, lookup_says_what_the_helper_would);
	ADD(tc, isuser_seen_after_a_login);
	ADD(tc, isuser_seen_fails_closed);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
