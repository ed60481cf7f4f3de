/*
 * The test vectors of doc/test-vectors.md (computed by tests/lib/vectors.py with
 * pyotp and Python's hmac), reproduced from each vector's config file
 * through config_load, config_keys and token_format; the secrets'
 * fingerprints through HMAC-SHA256. Suite t-25 checks that every token and
 * fingerprint here is also on that page.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "mac.h"
#include "token.h"
#include "unit.h"

#define BASIC                                                                 \
	"otp_seed     = XVGR73KMZH2M4XMY\n"                                    \
	"token_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n"
#define DOMAINS                                                               \
	BASIC "\n"                                                            \
	      "[Chat.Example.ORG]\n"                                          \
	      "otp_seed     = HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M\n"             \
	      "token_secret = BJWMVD7TUFD25U7ZBKGRDZJPBUCK747J\n"
#define NONCE "01234567890123456789012345678901"

static const struct vector {
	const char *config;
	const char *user, *domain; /* as signed: the server's form */
	long long now;
	const char *nonce;
	const char *token;
} vectors[] = {
	/* 1: the defaults */
	{ BASIC, "bob", "example.org", 1700000000, NONCE,
	    "8095230901234567890123456789012345678901 "
	    "6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=" },
	/* 2, 3: the last second of a time step, the first of the next */
	{ BASIC, "bob", "example.org", 1700000009,
	    "98765432109876543210987654321098",
	    "8095230998765432109876543210987654321098 "
	    "4wISY0nkiCuyxCmqEcDK1rdoFOJQM1ihV7JHCuAua/8=" },
	{ BASIC, "bob", "example.org", 1700000010,
	    "98765432109876543210987654321098",
	    "0901786198765432109876543210987654321098 "
	    "FsVPN3NfXKzF/5X2lE+cQbgIP0mtAAt6IG7nkAkVoEE=" },
	/* 4 is vector 1 given as Bob@Example.ORG: mint's lower-casing */
	/* 5: six digits, a 60-second step, a 16-digit nonce */
	{ "# comments and the helper's own keys are ignored\n"
	  "otp_seed     = VJIXZBONTDYQXHJ5QD3XO2WQRSM7MYRA\n"
	  "token_secret = 33FRJY7AKPXBEC2R5OMMAK57D5ZKU5SC\n"
	  "otp_digits   = 6      # optional\n"
	  "otp_interval = 60\n"
	  "otp_window   = 2\n"
	  "nonce_digits = 16\n"
	  "replay_store = /var/lib/prosody-token-auth/replay\n",
	    "carol", "example.org", 2000000000, "5550123456789012",
	    "5906695550123456789012 "
	    "CwI6W2d2sRmaGC0OVZoIeKX3EYqRaoktBrYOh+taqRE=" },
	/* 6: ten digits and a 64-digit nonce, after 2038 */
	{ "otp_seed     = LMLG4EORT56HAORB7P2N24JSUAOVY3PZ\n"
	  "token_secret = 4MCQTIMTLGHVF6MQ3BUJCSKDOGYZUWYI\n"
	  "otp_digits   = 10\n"
	  "nonce_digits = 64\n",
	    "dave", "example.org", 2147483648LL,
	    "3141592653589793238462643383279502884197169399375105820974944592",
	    "1319340481"
	    "3141592653589793238462643383279502884197169399375105820974944592 "
	    "uB5QRdWa+kz18Ms12Sc4T7gnj+dJB0ZAN2spkLsEadg=" },
	/* 7, 8: a domain with a section of its own, one without */
	{ DOMAINS, "alice", "chat.example.org", 1700000000, NONCE,
	    "8357893201234567890123456789012345678901 "
	    "J7W+vPCLTQJAfBvUn/khugKnbDd7mNjhObhMOmrDYow=" },
	{ DOMAINS, "alice", "example.org", 1700000000, NONCE,
	    "8095230901234567890123456789012345678901 "
	    "WXbY0ciiLjRUajOrsRC8g7/HsqrN8erXnAoVYqMpIxI=" },
	/* 9: collective.converse's secrets.cfg */
	{ "[prosody.cfg.lua]\n"
	  "prosody_otp_seed = XVGR73KMZH2M4XMY\n"
	  "prosody_token_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n",
	    "bob", "example.org", 1700000000, NONCE,
	    "8095230901234567890123456789012345678901 "
	    "6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s=" },
	/* 10: a seed in lower case, with padding */
	{ "otp_seed     = zjxl2sd2btknszu4dytiykfsna======\n"
	  "token_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n",
	    "bob", "example.org", 1700000000, NONCE,
	    "6730192101234567890123456789012345678901 "
	    "hIcU/zBDKsmfET5T0jgReGeW6btLpYIM8T40HANz10c=" },
	/* 11: a user part with non-ASCII letters (UTF-8) */
	{ BASIC, "j\xc3\xbcrgen", "example.org", 1700000000, NONCE,
	    "8095230901234567890123456789012345678901 "
	    "n6C3slYfD6Yk9MA7ntlLGdXb4gT6zL8q3vFDLXaGcKs=" },
};

static const struct {
	const char *secret, *fingerprint;
} fingerprints[] = {
	{ "XVGR73KMZH2M4XMY", "d77245a2c0b671af" },
	{ "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7", "19ac59720dd0e4bd" },
	{ "VJIXZBONTDYQXHJ5QD3XO2WQRSM7MYRA", "cd8125fda7248672" },
	{ "33FRJY7AKPXBEC2R5OMMAK57D5ZKU5SC", "9a90ee0578ff9d32" },
	{ "LMLG4EORT56HAORB7P2N24JSUAOVY3PZ", "d7926005554e3777" },
	{ "4MCQTIMTLGHVF6MQ3BUJCSKDOGYZUWYI", "9aeee39c018f8f67" },
	{ "HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M", "3bbc58ffd6a7c2d6" },
	{ "BJWMVD7TUFD25U7ZBKGRDZJPBUCK747J", "93da20ac5be93d1f" },
	/* the value as written: not the same as its upper-case form's */
	{ "zjxl2sd2btknszu4dytiykfsna======", "a23586f6da8d4ec7" },
};

static char dir[] = "/tmp/pta-vectors.XXXXXX";
static char path[PATH_MAX];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token-auth.conf", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/pta-vectors.XXXXXX");
}

static void
load(const char *text, struct config *cfg)
{
	char err[CONFIG_ERR_LEN];
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fchmod(fileno(f), 0600), 0);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(config_load(path, cfg, err) == 0, "%s", err);
}

START_TEST(vector_is_reproduced)
{
	const struct vector *v = &vectors[_i];
	const struct token_keys *keys;
	char out[TOKEN_MAX_LEN + 1];
	struct config cfg;
	struct token t;

	/* A 32-bit time_t cannot hold vector 6's time. */
	if ((long long)(time_t)v->now != v->now)
		return;
	load(v->config, &cfg);
	keys = config_keys(&cfg, v->domain, strlen(v->domain));
	ck_assert_ptr_nonnull(keys);
	ck_assert_int_eq(token_format(v->nonce, JID(v->user, v->domain),
			     &keys->current,
			     &cfg.params, (time_t)v->now, out),
	    0);
	ck_assert_str_eq(out, v->token);
	ck_assert_int_eq(token_parse(out, strlen(out), &cfg.params, &t), 0);
	ck_assert_uint_eq(token_verify(&t, JID(v->user, v->domain), keys,
			      &cfg.params, (time_t)v->now),
	    0);
	config_free(&cfg);
}
END_TEST

/* The first 16 hex digits of HMAC-SHA256(secret as written, message). */
START_TEST(fingerprint_is_reproduced)
{
	static const char message[] = "prosody-token-auth fingerprint";
	const char *secret = fingerprints[_i].secret;
	const uint8_t *msg[] = { (const uint8_t *)message };
	const size_t len[] = { sizeof(message) - 1 };
	uint8_t mac[MAC_MAX_LEN];
	char hex[17];
	struct mac *m;
	int i;

	m = mac_new("SHA256", (const uint8_t *)secret, strlen(secret));
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(mac_compute(m, msg, len, 1, mac), 0);
	mac_free(m);
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	ck_assert_str_eq(hex, fingerprints[_i].fingerprint);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("vectors");
	TCase *tc = tcase_create("vectors");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, vector_is_reproduced, 0,
	    sizeof(vectors) / sizeof(vectors[0]));
	tcase_add_loop_test(tc, fingerprint_is_reproduced, 0,
	    sizeof(fingerprints) / sizeof(fingerprints[0]));
	suite_add_tcase(s, tc);
	return run_suite(s);
}
