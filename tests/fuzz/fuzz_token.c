/*
 * Fuzz target: the token parser and verifier, with the fixed test keys.
 *
 * Input: byte 0 picks the token parameters, the time of verification and
 * the user; the rest is the token's text. Invariants:
 *
 * - never a crash or undefined behaviour;
 * - a token that parses re-formats (otp || nonce || " " || base64(sig)) to
 *   exactly the bytes it was parsed from: nothing is skipped or tolerated;
 * - the crypto library never fails on a parsed token;
 * - a token accepted is exactly the reference token, for bob@example.org
 *   with the default parameters, inside its time window (and the reference
 *   token is accepted there);
 * - auth_check says the same as token_parse and token_verify, and the
 *   replay key of a parsed token is a pure function of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "base32.h"
#include "config.h"
#include "format_converse.h"
#include "token.h"
#include "unit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct token_params variants[] = {
	{ 8, 30, 1, 32 }, /* the defaults: the reference token's */
	{ 6, 30, 0, 32 },
	{ 10, 60, 3, 16 },
	{ 8, 30, 1, 8 },
	{ 8, 30, 10, 64 },
	{ 7, 1, 2, 33 },
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

/* Seconds from TEST_NOW's step start: in the window of 1 or out of it. */
static const long offsets[] = { 0, -30, 59, 3600, -31, 60, -86400 * 365,
	(long)30 * 0x7fffffff };
static const char *const users[] = { "bob", "alice", "4bob", "bo" };

static struct config cfg;

static void
setup(void)
{
	uint8_t seed[16];
	int n = base32_decode(TEST_SEED, strlen(TEST_SEED), seed);

	cfg.ndomains = 1;
	cfg.domains = calloc(1, sizeof(*cfg.domains));
	if (n <= 0 || cfg.domains == NULL)
		abort();
	cfg.domains[0].keys.current.otp = mac_new("SHA1", seed, (size_t)n);
	cfg.domains[0].keys.current.sig = mac_new("SHA256",
	    (const uint8_t *)TEST_SECRET, strlen(TEST_SECRET));
	cfg.domains[0].keys.current.window = totp_window_new();
	cfg.domains[0].formats = (struct format_keys){ .params = &cfg.params,
		.converse = &cfg.domains[0].keys };
	if (cfg.domains[0].keys.current.otp == NULL ||
	    cfg.domains[0].keys.current.sig == NULL)
		abort();
}

static void
reformat(const struct token *t, const struct token_params *p, char *out)
{
	memcpy(out, t->otp, p->otp_digits);
	memcpy(out + p->otp_digits, t->nonce, p->nonce_digits);
	out[p->otp_digits + p->nonce_digits] = ' ';
	EVP_EncodeBlock((unsigned char *)out + p->otp_digits +
		p->nonce_digits + 1, t->sig, TOKEN_SIG_LEN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char domain[] = "example.org";
	const struct token_params *p;
	const char *text, *user;
	char again[TOKEN_MAX_LEN + 1];
	struct replay_entry e1 = { 0 }, e2 = { 0 };
	struct format_token ft2;
	struct token t, *t2 = (struct token *)ft2.parsed.bytes;
	size_t len, vi, oi, ui;
	time_t now;
	unsigned bad;
	int parsed, reference, in_window;
	enum auth_verdict v;

	if (cfg.domains == NULL)
		setup();
	if (size < 1)
		return 0;
	vi = data[0] % NVARIANTS;
	oi = (data[0] / NVARIANTS) % (sizeof(offsets) / sizeof(offsets[0]));
	ui = (data[0] / NVARIANTS / 8) % (sizeof(users) / sizeof(users[0]));
	p = &variants[vi];
	user = users[ui];
	now = (time_t)(TEST_NOW / 30 * 30 + offsets[oi]);
	text = (const char *)data + 1;
	len = size - 1;
	cfg.params = *p;

	memset(&t, 0xa5, sizeof(t));
	memset(&ft2, 0xa5, sizeof(ft2));
	parsed = token_parse(text, len, p, &t) == 0;
	reference = len == strlen(TEST_TOKEN) &&
	    memcmp(text, TEST_TOKEN, len) == 0;
	in_window = offsets[oi] >= -30 && offsets[oi] < 60;
	v = auth_check(&cfg, JID(user, domain), text, len, now, &ft2);
	if (!parsed) {
		if (v != AUTH_MALFORMED) {
			fprintf(stderr, "auth_check: verdict %d for a token "
			    "that does not parse\n", v);
			abort();
		}
		if (reference && vi == 0) {
			fprintf(stderr, "the reference token does not parse\n");
			abort();
		}
		return 0;
	}

	reformat(&t, p, again);
	if (p->otp_digits + p->nonce_digits + 1 + TOKEN_SIG_B64_LEN != len ||
	    memcmp(again, text, len) != 0) {
		fprintf(stderr, "token_parse accepted %zu bytes that "
		    "re-format differently\n", len);
		abort();
	}

	bad = token_verify(&t, JID(user, domain), &cfg.domains[0].keys, p,
	    now);
	if (bad & TOKEN_FAILURE) {
		fprintf(stderr, "token_verify: the library failed\n");
		abort();
	}
	if (bad == 0 && !(reference && vi == 0 && ui == 0 && in_window)) {
		fprintf(stderr, "token_verify accepted a token other than the "
		    "reference one (params %zu, user %s, offset %ld)\n", vi,
		    user, offsets[oi]);
		abort();
	}
	if (bad != 0 && reference && vi == 0 && ui == 0 && in_window) {
		fprintf(stderr, "token_verify refused the reference token "
		    "(0x%x, offset %ld)\n", bad, offsets[oi]);
		abort();
	}
	if (v != (bad == 0 ? AUTH_ACCEPTED :
		     bad == TOKEN_BAD_OTP ? AUTH_BAD_OTP :
		     bad == TOKEN_BAD_SIG ? AUTH_BAD_SIGNATURE :
					      AUTH_BAD_OTP_AND_SIGNATURE) ||
	    memcmp(t2, &t, sizeof(t)) != 0) {
		fprintf(stderr, "auth_check disagrees with token_verify\n");
		abort();
	}

	if (token_replay_entry(&t, p, JID(user, domain), &e1) != 0 ||
	    token_replay_entry(t2, p, JID(user, domain), &e2) != 0 ||
	    memcmp(e1.key, e2.key, sizeof(e1.key)) != 0 ||
	    memcmp(e1.user, e2.user, sizeof(e1.user)) != 0) {
		fprintf(stderr, "token_replay_entry failed or varied\n");
		abort();
	}
	if (token_expiry(p, now) <= now) {
		fprintf(stderr, "token_expiry is not in the future\n");
		abort();
	}
	return 0;
}
