#include "base32.h"
#include "format_converse.h"
#include "token.h"
#include "unit.h"

static const struct token_params params = { 8, 30, 1, 32 };
static struct token_keys keys;

static void
setup(void)
{
	uint8_t seed[16];
	int n = base32_decode(TEST_SEED, strlen(TEST_SEED), seed);

	keys.current.otp = mac_new("SHA1", seed, (size_t)n);
	keys.current.sig = mac_new("SHA256", (const uint8_t *)TEST_SECRET,
	    strlen(TEST_SECRET));
	/* as the config makes it (the previous pair below has none: both
	 * ways are tested) */
	keys.current.window = totp_window_new();
	ck_assert_ptr_nonnull(keys.current.window);
}

static void
teardown(void)
{
	mac_free(keys.current.otp);
	mac_free(keys.current.sig);
	totp_window_free(keys.current.window);
}

static int
parse(const char *text, struct token *t)
{
	return token_parse(text, strlen(text), &params, t);
}

static unsigned
verify(const char *text, const char *user, const char *domain, time_t now)
{
	struct token t;

	ck_assert_int_eq(parse(text, &t), 0);
	return token_verify(&t, JID(user, domain), &keys, &params, now);
}

START_TEST(reference_token_verifies)
{
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org", TEST_NOW),
	    0);
}
END_TEST

START_TEST(window_is_one_step_either_side)
{
	time_t step_start = TEST_NOW / 30 * 30;

	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      step_start - 30), 0);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      step_start + 59), 0);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      step_start - 31), TOKEN_BAD_OTP);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      step_start + 60), TOKEN_BAD_OTP);
}
END_TEST

START_TEST(other_user_or_domain_is_a_bad_signature)
{
	ck_assert_uint_eq(verify(TEST_TOKEN, "alice", "example.org", TEST_NOW),
	    TOKEN_BAD_SIG);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.com", TEST_NOW),
	    TOKEN_BAD_SIG);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      TEST_NOW + 3600),
	    TOKEN_BAD_OTP);
	ck_assert_uint_eq(verify(TEST_TOKEN, "alice", "example.org",
			      TEST_NOW + 3600),
	    TOKEN_BAD_OTP | TOKEN_BAD_SIG);
}
END_TEST

START_TEST(tampered_bytes_are_refused)
{
	char text[] = TEST_TOKEN;
	size_t i, len = strlen(text);

	for (i = 0; i < len; i++) {
		char saved = text[i];
		struct token t;

		if (text[i] == ' ' || text[i] == '=')
			continue;
		text[i] = text[i] == '1' ? '2' : text[i] == 'A' ? 'B' : '1';
		if (parse(text, &t) == 0)
			ck_assert_uint_ne(token_verify(&t,
					      JID("bob", "example.org"), &keys,
					      &params, TEST_NOW),
			    0);
		text[i] = saved;
	}
}
END_TEST

/*
 * With a free nonce length, bob's token could be re-read as one for "4bob"
 * (the nonce's last digit moving into the user); a fixed length stops it.
 */
START_TEST(nonce_length_is_fixed)
{
	struct token t;
	char shorter[sizeof(TEST_TOKEN)];
	const char *sp = strchr(TEST_TOKEN, ' ');
	size_t head = (size_t)(sp - TEST_TOKEN);

	memcpy(shorter, TEST_TOKEN, head - 1);
	strcpy(shorter + head - 1, sp);
	ck_assert_int_eq(parse(shorter, &t), -1);
	ck_assert_uint_eq(verify(TEST_TOKEN, "4bob", "example.org", TEST_NOW),
	    TOKEN_BAD_SIG);
}
END_TEST

static const char *const malformed[] = {
	"",
	" ",
	"80952309",
	/* 31-digit nonce, 33-digit nonce */
	"809523090123456789012345678901234567890 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	"80952309012345678901234567890123456789012 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	/* a letter among the digits */
	"8095230901234567890123456789012345678a01 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	/* two spaces, a tab, no space */
	"8095230901234567890123456789012345678901  "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	"8095230901234567890123456789012345678901\t"
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	"8095230901234567890123456789012345678901"
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	/* signature without padding, too short, too long, bad characters */
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s",
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5=",
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s==",
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85_5s=",
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp-7fPcayphbHS85/5s=",
	/* trailing and leading junk */
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s= ",
	" 8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=",
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=\n",
	/* non-canonical base64: the last character carries stray bits */
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5t=",
	/* base64 of 33 bytes */
	"8095230901234567890123456789012345678901 "
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5sA",
};

START_TEST(malformed_shapes_are_refused)
{
	struct token t;

	ck_assert_int_eq(parse(malformed[_i], &t), -1);
}
END_TEST

START_TEST(embedded_nul_is_refused)
{
	char text[] = TEST_TOKEN;
	struct token t;

	text[20] = '\0';
	ck_assert_int_eq(token_parse(text, sizeof(text) - 1, &params, &t), -1);
}
END_TEST

START_TEST(format_makes_what_verify_accepts)
{
	char out[TOKEN_MAX_LEN + 1];
	const char *nonce = "01234567890123456789012345678901";

	ck_assert_int_eq(token_format(nonce, JID("bob", "example.org"),
			     &keys.current, &params, TEST_NOW, out),
	    0);
	ck_assert_str_eq(out, TEST_TOKEN);
}
END_TEST

START_TEST(replay_key_binds_nonce_and_jid)
{
	struct replay_entry a, b;
	struct token t, t2;

	ck_assert_int_eq(parse(TEST_TOKEN, &t), 0);
	ck_assert_int_eq(token_replay_entry(&t, &params,
			     JID("bob", "example.org"), &a), 0);
	ck_assert_int_eq(token_replay_entry(&t, &params,
			     JID("bo", "bexample.org"), &b), 0);
	ck_assert_mem_ne(a.key, b.key, sizeof(a.key));
	ck_assert_mem_ne(a.user, b.user, sizeof(a.user));
	ck_assert_int_eq(token_replay_entry(&t, &params,
			     JID("bob", "example.org"), &b), 0);
	ck_assert_mem_eq(a.key, b.key, sizeof(a.key));
	ck_assert_mem_eq(a.user, b.user, sizeof(a.user));
	/* Another nonce of the same JID: another key, the same JID key. */
	t2 = t;
	t2.nonce[0] = t.nonce[0] == '9' ? '8' : '9';
	ck_assert_int_eq(token_replay_entry(&t2, &params,
			     JID("bob", "example.org"), &b), 0);
	ck_assert_mem_ne(a.key, b.key, sizeof(a.key));
	ck_assert_mem_eq(a.user, b.user, sizeof(a.user));
	/* And the JID's key alone (its seen mark's) is the same too. */
	ck_assert_int_eq(format_replay_user(JID("bob", "example.org"), NULL,
			     b.user), 0);
	ck_assert_mem_eq(a.user, b.user, sizeof(a.user));
}
END_TEST

START_TEST(expiry_outlasts_every_acceptance)
{
	time_t step_start = TEST_NOW / 30 * 30;

	/* Accepted at the start of step T-1's window: valid through T+1. */
	ck_assert_int_eq(token_expiry(&params, step_start),
	    step_start + 3 * 30);
}
END_TEST

/*
 * A rotation: while the previous pair is in force a token is valid under
 * either pair, OTP and signature from the same one; after, only under the
 * current pair. Refusals are told as the current pair sees them.
 */
/* The codes kept for a time step are computed again when it changes, in
 * either direction, and decide as codes computed for every token do. */
START_TEST(kept_codes_follow_the_time_step)
{
	const char *nonce = "01234567890123456789012345678901";
	struct totp_window *kept = keys.current.window;
	char later[TOKEN_MAX_LEN + 1];
	unsigned cached, computed;
	long offset;

	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org", TEST_NOW), 0);
	ck_assert_int_eq(token_format(nonce, JID("bob", "example.org"),
			     &keys.current, &params, TEST_NOW + 300, later),
	    0);
	ck_assert_uint_eq(verify(later, "bob", "example.org", TEST_NOW + 300),
	    0);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org",
			      TEST_NOW + 300),
	    TOKEN_BAD_OTP);
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org", TEST_NOW), 0);
	ck_assert_uint_eq(verify(later, "bob", "example.org", TEST_NOW),
	    TOKEN_BAD_OTP);
	for (offset = -100; offset <= 100; offset += 7) {
		keys.current.window = kept;
		cached = verify(TEST_TOKEN, "bob", "example.org",
		    TEST_NOW + offset);
		keys.current.window = NULL;
		computed = verify(TEST_TOKEN, "bob", "example.org",
		    TEST_NOW + offset);
		ck_assert_uint_eq(cached, computed);
	}
	keys.current.window = kept;
}
END_TEST

START_TEST(previous_pair_until_its_deadline)
{
	static const char prev_seed[] = "HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M";
	static const char prev_secret[] = "NOTTHESECRETNOTTHESECRET32CHARS0";
	const char *nonce = "01234567890123456789012345678901";
	char old[TOKEN_MAX_LEN + 1];
	struct token t, m;
	uint8_t seed[20];
	int n = base32_decode(prev_seed, strlen(prev_seed), seed);

	keys.previous.otp = mac_new("SHA1", seed, (size_t)n);
	keys.previous.sig = mac_new("SHA256", (const uint8_t *)prev_secret,
	    strlen(prev_secret));
	keys.previous_until = TEST_NOW + 1;
	ck_assert_int_eq(token_format(nonce, JID("bob", "example.org"),
			     &keys.previous, &params, TEST_NOW, old),
	    0);
	ck_assert_int_eq(parse(old, &t), 0);
	ck_assert_uint_eq(token_verify(&t, JID("bob", "example.org"), &keys,
			      &params, TEST_NOW),
	    0);
	/* The current pair still works meanwhile. */
	ck_assert_uint_eq(verify(TEST_TOKEN, "bob", "example.org", TEST_NOW), 0);
	/* OTP of one pair, signature of the other: refused. */
	ck_assert_int_eq(parse(TEST_TOKEN, &m), 0);
	memcpy(m.sig, t.sig, sizeof(m.sig));
	ck_assert_uint_eq(token_verify(&m, JID("bob", "example.org"), &keys,
			      &params, TEST_NOW),
	    TOKEN_BAD_SIG);
	/* Another user's: refused under both. */
	ck_assert_uint_ne(token_verify(&t, JID("alice", "example.org"), &keys,
			      &params, TEST_NOW),
	    0);
	/* At the deadline (the same time step) it is no longer in force. */
	ck_assert_uint_eq(token_verify(&t, JID("bob", "example.org"), &keys,
			      &params, TEST_NOW + 1),
	    TOKEN_BAD_OTP | TOKEN_BAD_SIG);
	mac_free(keys.previous.otp);
	mac_free(keys.previous.sig);
	memset(&keys.previous, 0, sizeof(keys.previous));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_checked_fixture(tc, setup, teardown);
	ADD(tc, reference_token_verifies);
	ADD(tc, window_is_one_step_either_side);
	ADD(tc, kept_codes_follow_the_time_step);
	ADD(tc, other_user_or_domain_is_a_bad_signature);
	ADD(tc, tampered_bytes_are_refused);
	ADD(tc, nonce_length_is_fixed);
	tcase_add_loop_test(tc, malformed_shapes_are_refused, 0,
	    sizeof(malformed) / sizeof(malformed[0]));
	ADD(tc, embedded_nul_is_refused);
	ADD(tc, format_makes_what_verify_accepts);
	ADD(tc, replay_key_binds_nonce_and_jid);
	ADD(tc, expiry_outlasts_every_acceptance);
	ADD(tc, previous_pair_until_its_deadline);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
