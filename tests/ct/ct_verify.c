/*
 * Constant-time evidence with valgrind memcheck: the secrets (the
 * token_secret bytes and the decoded otp_seed bytes, before they are keyed
 * into the HMAC contexts) are marked undefined, so memcheck tracks every
 * value derived from them and reports any conditional jump or memory address
 * that depends on one. Verification then runs on the reference token and on
 * many kinds of invalid ones, with token_verify and through auth_check (which
 * also turns the verdict into a reason); only the final verdicts are
 * declassified. Then the whole answer path, auth_answer on a batch of
 * requests with a real replay store and the decisions logged after, where
 * auth.c itself declassifies what it makes public (built with CT_TRACK):
 * the yes or no of each answer, and the reason once answers are written.
 *
 * Run it under valgrind (tests/suites/t-30-ct.sh does): any memcheck report is a
 * failure. It also checks that the taint really reaches what it should (the
 * MAC outputs, the TOTP codes, every verdict), so that a test that tracks
 * nothing cannot pass.
 *
 * Built with -DCT_LEAKY (and token.c's CRYPTO_memcmp renamed to
 * ct_leaky_memcmp) it becomes the detector's self-check: an early-exit
 * comparison and a secret-indexed load that memcheck must flag.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <valgrind/memcheck.h>

#include "auth.h"
#include "jwks.h"
#include "jwt.h"
#include "base32.h"
#include "config.h"
#include "serve.h"
#include "token.h"
#include "totp.h"
#include "unit.h"

#define USER   "bob"
#define DOMAIN "example.org"
#define NONCE  "01234567890123456789012345678901234567890123456789012345678901"

static const struct token_params default_params = { 8, 30, 1, 32 };

/* The same secrets twice: tracked by memcheck, and in the clear for making
 * test tokens. */
static struct token_keys secret_keys, clear_keys;
static int failures;

#ifdef CT_LEAKY
/* The classic mistake: a comparison that stops at the first difference. */
int ct_leaky_memcmp(const void *a, const void *b, size_t len);

int
ct_leaky_memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	size_t i;

	for (i = 0; i < len; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
#endif

static void failed(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
failed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

/* 1 if any bit of p[0..len) is undefined for memcheck (no report made). */
static int
tainted(const void *p, size_t len)
{
	unsigned char vbits[64];
	size_t i;
	int any = 0;

	if (len > sizeof(vbits) ||
	    VALGRIND_GET_VBITS(p, vbits, len) != 1)
		return 0;
	for (i = 0; i < len; i++)
		any |= vbits[i] != 0;
	return any;
}

/* The pair a rotation replaced: accepted until its deadline. */
#define PREVIOUS_SEED	"HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M"
#define PREVIOUS_SECRET "NOTTHESECRETNOTTHESECRET32CHARS0"

static int
pair_new(struct token_pair *k, const char *seedtext, const char *secret,
    int tracked)
{
	uint8_t seed[BASE32_DECODED_MAX(64)], tsecret[64];
	int n = base32_decode(seedtext, strlen(seedtext), seed);

	if (n <= 0)
		return -1;
	memcpy(tsecret, secret, strlen(secret));
	if (tracked) {
		/* From here on, memcheck tracks everything made from them. */
		VALGRIND_MAKE_MEM_UNDEFINED(seed, (size_t)n);
		VALGRIND_MAKE_MEM_UNDEFINED(tsecret, strlen(secret));
	}
	k->otp = mac_new("SHA1", seed, (size_t)n);
	k->sig = mac_new("SHA256", tsecret, strlen(secret));
	/* as the config makes it: the window's codes kept per time step */
	k->window = totp_window_new();
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(tsecret, sizeof(tsecret));
	return k->otp != NULL && k->sig != NULL && k->window != NULL ? 0 : -1;
}

/* Both pairs; the previous one is in force only when the test says so. */
static int
keys_new(struct token_keys *k, int tracked)
{
	if (pair_new(&k->current, TEST_SEED, TEST_SECRET, tracked) != 0 ||
	    pair_new(&k->previous, PREVIOUS_SEED, PREVIOUS_SECRET,
		tracked) != 0)
		return -1;
	k->previous_until = 0;
	return 0;
}

static void
keys_free(struct token_keys *k)
{
	mac_free(k->current.otp);
	mac_free(k->current.sig);
	mac_free(k->previous.otp);
	mac_free(k->previous.sig);
	totp_window_free(k->current.window);
	totp_window_free(k->previous.window);
}

/* What a token should be made of; negative indexes mean "leave it". */
struct recipe {
	const char *name;
	const struct token_params *params;
	long sign_offset;    /* seconds from now to take the OTP at */
	int otp_digit;	     /* digit of the OTP to change (then re-signed) */
	const char *signer;  /* user the signature is made for */
	int sig_byte;	     /* byte of the signature to flip after signing */
	long verify_offset;  /* seconds from now at which it is verified */
	const char *user;    /* user it is presented for */
	unsigned expect;
	int previous;	     /* signed with the previous pair (1), or its OTP
			      * only (2), or its signature only (3) */
	int valid_in_rotation; /* valid while the previous pair is in force */
};

/* Writes the token's text for a recipe, signing with the clear keys. */
static int
make_token(const struct recipe *r, time_t now, char *text)
{
	const struct token_params *p = r->params;
	uint8_t sig[MAC_MAX_LEN];
	char otp[TOTP_MAX_DIGITS];
	const uint8_t *msg[] = { (const uint8_t *)otp,
		(const uint8_t *)NONCE, (const uint8_t *)r->signer,
		(const uint8_t *)"@", (const uint8_t *)DOMAIN };
	const size_t len[] = { p->otp_digits, p->nonce_digits,
		strlen(r->signer), 1, strlen(DOMAIN) };

	const struct token_pair *for_otp = r->previous == 1 ||
		r->previous == 2 ? &clear_keys.previous : &clear_keys.current;
	const struct token_pair *for_sig = r->previous == 1 ||
		r->previous == 3 ? &clear_keys.previous : &clear_keys.current;

	if (totp_code(for_otp->otp, totp_step(now + r->sign_offset,
					  p->otp_interval),
		p->otp_digits, otp) != 0)
		return -1;
	if (r->otp_digit >= 0)
		otp[r->otp_digit] = (char)('0' + (otp[r->otp_digit] - '0' + 1) % 10);
	if (mac_compute(for_sig->sig, msg, len, 5, sig) != 0)
		return -1;
	if (r->sig_byte >= 0)
		sig[r->sig_byte] ^= 0x01;
	memcpy(text, otp, p->otp_digits);
	memcpy(text + p->otp_digits, NONCE, p->nonce_digits);
	text[p->otp_digits + p->nonce_digits] = ' ';
	EVP_EncodeBlock((unsigned char *)text + p->otp_digits +
		p->nonce_digits + 1, sig, TOKEN_SIG_LEN);
	return 0;
}

/* The config auth_check sees: one global section with the tracked keys. */
static struct config_domain global_domain;
static struct config cfg = { .domains = &global_domain, .ndomains = 1 };


static enum auth_verdict
auth_verdict_for(unsigned bad)
{
	static const enum auth_verdict v[4] = { AUTH_ACCEPTED, AUTH_BAD_OTP,
		AUTH_BAD_SIGNATURE, AUTH_BAD_OTP_AND_SIGNATURE };

	return v[bad & 3];
}

/*
 * Verifies text with the tracked keys, with token_verify and again through
 * auth_check (domain, parse, verify, reason), and declassifies the verdicts
 * only.
 */
static void
check(const char *name, const char *text, const struct token_params *p,
    const char *user, time_t now, unsigned expect)
{
	struct format_token ft;
	struct token t;
	unsigned verdict;
	enum auth_verdict av;

	if (token_parse(text, strlen(text), p, &t) != 0) {
		failed("%s: the test token does not parse", name);
		return;
	}
	verdict = token_verify(&t, JID(user, DOMAIN), &secret_keys, p, now);
#ifndef CT_LEAKY
	/* (An early-exit comparison launders the taint: it branched.) */
	if (!tainted(&verdict, sizeof(verdict)))
		failed("%s: the verdict is not derived from the secrets "
		       "(nothing is tracked)", name);
#endif
	/* The only value that leaves the verifier: yes or no, and why. */
	VALGRIND_MAKE_MEM_DEFINED(&verdict, sizeof(verdict));
	if (verdict != expect)
		failed("%s: verdict 0x%x, expected 0x%x", name, verdict,
		    expect);
	else
		printf("ok   %s: verdict 0x%x\n", name, verdict);

	cfg.params = *p;
	global_domain.keys = secret_keys;
	global_domain.formats = (struct format_keys){ .params = &cfg.params,
		.converse = &global_domain.keys };
	av = auth_check(&cfg, JID(user, DOMAIN), text, strlen(text), now,
	    &ft);
#ifndef CT_LEAKY
	if (!tainted(&av, sizeof(av)))
		failed("%s: auth_check's verdict is not derived from the "
		       "secrets (nothing is tracked)", name);
#endif
	VALGRIND_MAKE_MEM_DEFINED(&av, sizeof(av));
	if (av != auth_verdict_for(expect))
		failed("%s: auth_check says %s, expected %s", name,
		    auth_reason(av), auth_reason(auth_verdict_for(expect)));
	else
		printf("ok   %s: auth_check says %s\n", name, auth_reason(av));
}

/* The tracking itself: what is made from the secrets must be tainted. */
static void
check_tracking(void)
{
	uint8_t out[MAC_MAX_LEN];
	const uint8_t *msg[] = { (const uint8_t *)"x" };
	const size_t len[] = { 1 };
	char code[TOTP_MAX_DIGITS];
	const char *kept;

	if (mac_compute(secret_keys.current.sig, msg, len, 1, out) != 0 ||
	    !tainted(out, 32) ||
	    mac_compute(secret_keys.previous.sig, msg, len, 1, out) != 0 ||
	    !tainted(out, 32))
		failed("tracking: HMAC-SHA256 with token_secret is not "
		       "tracked");
	else
		printf("ok   tracking: HMAC-SHA256 with token_secret is "
		       "tracked\n");
	if (totp_code(secret_keys.current.otp, 1, 8, code) != 0 ||
	    !tainted(code, 8) ||
	    totp_code(secret_keys.previous.otp, 1, 8, code) != 0 ||
	    !tainted(code, 8))
		failed("tracking: TOTP with otp_seed is not tracked");
	else
		printf("ok   tracking: TOTP with otp_seed is tracked\n");
	kept = totp_window_codes(secret_keys.current.window,
	    secret_keys.current.otp, 1, 3, 8);
	if (kept == NULL || !tainted(kept, 3 * 8))
		failed("tracking: the window's kept codes are not tracked");
	else
		printf("ok   tracking: the window's kept codes are tracked\n");
	if (mac_compute(clear_keys.current.sig, msg, len, 1, out) != 0 ||
	    tainted(out, 32))
		failed("tracking: the clear keys are tracked too");
	explicit_bzero(out, sizeof(out));
	explicit_bzero(code, sizeof(code));
}

#ifdef CT_LEAKY
/* A lookup table indexed by a secret (RFC 4226 truncation done naively). */
static void
leaky_lookup(void)
{
	static const uint8_t table[16] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8,
		9, 7, 9, 3 };
	const uint8_t *msg[] = { (const uint8_t *)"x" };
	const size_t len[] = { 1 };
	uint8_t h[MAC_MAX_LEN];
	volatile uint8_t v;

	if (mac_compute(secret_keys.current.otp, msg, len, 1, h) != 0)
		return;
	v = table[h[19] & 0xf];
	(void)v;
	printf("leaky: made a secret-indexed load\n");
}
#endif

/* An LMDB store in dir/replay for 1000 nonces, 30 per JID. */
static int
store_settings(struct replay_settings *s, const char *dir)
{
	char path[PATH_MAX], why[REPLAY_ERR_LEN];
	struct replay_line lines[] = {
		{ "replay_store", path, 0, 1 },
		{ "replay_capacity", "1000", 4, 2 },
		{ "replay_per_user", "30", 2, 3 },
	};
	int line;

	lines[0].len = (size_t)snprintf(path, sizeof(path), "%s/replay", dir);
	return replay_settings_load(s, lines, 3, &line, why);
}

/*
 * The answer path, as the serve loop drives it: one batch of requests (the
 * same nonce throughout, so the first valid token is accepted and every
 * later valid one is a replay), answered (with the reasons a client may
 * ask for), then logged. The log goes to a file here, and must name each
 * refusal's reason and never a token.
 */
/* Whether a log line holds the signature (its base64) of any request. */
static int
names_a_signature(const char *line, char texts[][64 + TOKEN_MAX_LEN],
    size_t n)
{
	const char *sig;
	size_t i;

	for (i = 0; i < n; i++)
		if ((sig = strrchr(texts[i], ' ')) != NULL && sig[1] != '\0' &&
		    strstr(line, sig + 1) != NULL)
			return 1;
	return 0;
}

static void
check_answer_path(const struct recipe *recipes, size_t n)
{
	static char texts[SERVE_BATCH_MAX][64 + TOKEN_MAX_LEN];
	struct serve_request reqs[SERVE_BATCH_MAX];
	int answers[SERVE_BATCH_MAX], expect[SERVE_BATCH_MAX], accepted = 0;
	char dir[] = "/tmp/pta-ct.XXXXXX", line[512], token[TOKEN_MAX_LEN + 1];
	size_t i, nreqs = 0, lines = 0;
	time_t now = time(NULL);
	struct auth *a;
	FILE *logf;
	int saved;

	if (mkdtemp(dir) == NULL || (logf = tmpfile()) == NULL) {
		failed("answer path: no temporary directory or file");
		return;
	}
	cfg.params = default_params;
	global_domain.keys = secret_keys;
	global_domain.formats = (struct format_keys){ .params = &cfg.params,
		.converse = &global_domain.keys };
	if (store_settings(&cfg.replay, dir) == -1) {
		failed("answer path: the replay store's settings");
		return;
	}
	for (i = 0; i < n && nreqs < SERVE_BATCH_MAX; i++) {
		if (recipes[i].params != &default_params ||
		    recipes[i].verify_offset != 0)
			continue;
		memset(token, 0, sizeof(token));
		if (make_token(&recipes[i], now, token) != 0)
			continue;
		snprintf(texts[nreqs], sizeof(texts[nreqs]), "auth:%s:%s:%s",
		    recipes[i].user, DOMAIN, token);
		reqs[nreqs].text = texts[nreqs];
		reqs[nreqs].len = strlen(texts[nreqs]);
		expect[nreqs] = (recipes[i].expect == 0 ||
		    recipes[i].valid_in_rotation) && accepted++ == 0;
		nreqs++;
	}
	if ((a = auth_open(&cfg, AUTH_SERVE)) == NULL) {
		failed("answer path: auth_open");
		return;
	}
	auth_answer(a, reqs, nreqs, answers);
	for (i = 0; i < nreqs; i++)
		if (answers[i] != expect[i])
			failed("answer path: request %zu answered %d, expected "
			    "%d", i + 1, answers[i], expect[i]);
	/* As written for a client that asked for reasons: one for each no */
	for (i = 0; i < nreqs; i++)
		if ((auth_answer_reason(a, i) == NULL) != (answers[i] == 1))
			failed("answer path: request %zu answered %d with "
			    "reason %s", i + 1, answers[i],
			    auth_answer_reason(a, i) ? auth_answer_reason(a, i) :
			    "(none)");
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(logf), STDERR_FILENO);
	auth_log_answered(a);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	auth_close(a);
	rewind(logf);
	while (fgets(line, sizeof(line), logf) != NULL) {
		lines++;
		if (strstr(line, NONCE) != NULL ||
		    names_a_signature(line, texts, nreqs))
			failed("answer path: a token in the log: %s", line);
	}
	fclose(logf);
	if (lines != nreqs)
		failed("answer path: %zu log lines for %zu logins", lines,
		    nreqs);
	else
		printf("ok   answer path: %zu logins answered (%d accepted, "
		       "the other valid ones replays), then logged\n", nreqs,
		    accepted > 0);
	snprintf(line, sizeof(line), "rm -rf '%s'", dir);
	if (system(line) != 0)
		failed("answer path: cannot remove %s", dir);
}

/* --- JWTs: an HS256 key, tracked ---------------------------------------- */

#define JWT_SECRET "ct-verify-hs256-secret-32-bytes!"
#define JWT_AUD	   "xmpp:example.org"

static struct jwks jwt_set;
static struct jwt_domain jwt_dom;
static struct config_domain jwt_domain_cfg;
static struct config jwt_cfg = { .domains = &jwt_domain_cfg, .ndomains = 1 };

/* The set of one HS256 key, keyed from a tracked copy of the secret. */
static int
jwt_setup(void)
{
	uint8_t secret[32];

	memcpy(secret, JWT_SECRET, 32);
	VALGRIND_MAKE_MEM_UNDEFINED(secret, sizeof(secret));
	strcpy(jwt_set.keys[0].kid, "hs");
	jwt_set.keys[0].alg = JWKS_HS256;
	jwt_set.keys[0].mac = mac_new("SHA256", secret, sizeof(secret));
	jwt_set.n = 1;
	jwt_set.secrets = 1;
	strcpy(jwt_set.path, "(tracked)");
	jwt_dom.keys = &jwt_set;
	strcpy(jwt_dom.audience, JWT_AUD);
	jwt_dom.max_lifetime = 300;
	jwt_dom.leeway = 30;
	jwt_domain_cfg.formats.params = &default_params;
	jwt_domain_cfg.formats.jwt = &jwt_dom;
	explicit_bzero(secret, sizeof(secret));
	return jwt_set.keys[0].mac == NULL ? -1 : 0;
}

/* A token of the claims, signed with the clear secret, its signature's
 * byte flip (if not -1) changed. */
static void
jwt_make(const char *claims, int flip, char *out)
{
	static const char header[] = "{\"alg\":\"HS256\",\"kid\":\"hs\"}";
	unsigned char sig[32];
	unsigned int len;
	size_t n;

	jwks_b64url_encode((const unsigned char *)header, strlen(header), out);
	n = strlen(out);
	out[n++] = '.';
	jwks_b64url_encode((const unsigned char *)claims, strlen(claims),
	    out + n);
	n += strlen(out + n);
	HMAC(EVP_sha256(), JWT_SECRET, 32, (const unsigned char *)out, n, sig,
	    &len);
	if (flip >= 0)
		sig[flip] ^= 1;
	out[n++] = '.';
	jwks_b64url_encode(sig, 32, out + n);
}

static void
jwt_case(const char *name, const char *claims, int flip,
    enum jwt_result expect)
{
	char text[1024];
	struct format_token ft;
	enum jwt_result r;
	enum auth_verdict av;
	struct jwt t;

	jwt_make(claims, flip, text);
	r = jwt_verify(text, strlen(text), JID(USER, DOMAIN), &jwt_dom,
	    TEST_NOW, &t, NULL, 0);
	av = auth_check(&jwt_cfg, JID(USER, DOMAIN), text, strlen(text),
	    TEST_NOW, &ft);
#ifndef CT_LEAKY
	if (!tainted(&r, sizeof(r)) || !tainted(&av, sizeof(av)))
		failed("JWT %s: the verdict is not derived from the secret "
		       "(nothing is tracked)", name);
#endif
	VALGRIND_MAKE_MEM_DEFINED(&r, sizeof(r));
	VALGRIND_MAKE_MEM_DEFINED(&av, sizeof(av));
	if (r != expect)
		failed("JWT %s: jwt_verify says %d, expected %d", name, r,
		    expect);
	else if ((av == AUTH_ACCEPTED) != (r == JWT_VALID))
		failed("JWT %s: auth_check says %s", name, auth_reason(av));
	else
		printf("ok   JWT %s: %s\n", name, auth_reason(av));
}

static void
check_jwt(void)
{
	char good[256], expired[256], aud[256];

	snprintf(good, sizeof(good), "{\"sub\":\"bob@example.org\",\"aud\":"
	    "\"" JWT_AUD "\",\"iat\":%d,\"exp\":%d,\"jti\":\"j1\"}", TEST_NOW,
	    TEST_NOW + 60);
	snprintf(expired, sizeof(expired), "{\"sub\":\"bob@example.org\","
	    "\"aud\":\"" JWT_AUD "\",\"iat\":%d,\"exp\":%d,\"jti\":\"j1\"}",
	    TEST_NOW - 400, TEST_NOW - 100);
	snprintf(aud, sizeof(aud), "{\"sub\":\"bob@example.org\",\"aud\":"
	    "\"other\",\"iat\":%d,\"exp\":%d,\"jti\":\"j1\"}", TEST_NOW,
	    TEST_NOW + 60);
	jwt_case("HS256 valid", good, -1, JWT_VALID);
	jwt_case("HS256 signature wrong in its first byte", good, 0,
	    JWT_BAD_SIGNATURE);
	jwt_case("HS256 signature wrong in its last byte", good, 31,
	    JWT_BAD_SIGNATURE);
	jwt_case("HS256 signature wrong in a middle byte", good, 16,
	    JWT_BAD_SIGNATURE);
	jwt_case("HS256 expired, right signature", expired, -1, JWT_EXPIRED);
	jwt_case("HS256 expired, signature wrong", expired, 31,
	    JWT_BAD_SIGNATURE);
	jwt_case("HS256 another audience, right signature", aud, -1,
	    JWT_BAD_CLAIMS);
	jwt_case("HS256 another audience, signature wrong", aud, 0,
	    JWT_BAD_SIGNATURE);
}

int
main(void)
{
	static const struct token_params six = { 6, 30, 0, 32 },
					 ten = { 10, 60, 3, 16 };
	const struct token_params *dp = &default_params;
	const struct recipe recipes[] = {
		{ "valid, made here", dp, 0, -1, USER, -1, 0, USER, 0, 0, 0 },
		{ "valid, one step old", dp, -30, -1, USER, -1, 0, USER, 0, 0, 0 },
		{ "valid, one step ahead", dp, 30, -1, USER, -1, 0, USER, 0, 0, 0 },
		{ "signature wrong in its first byte", dp, 0, -1, USER, 0, 0,
		    USER, TOKEN_BAD_SIG, 0, 0 },
		{ "signature wrong in its last byte", dp, 0, -1, USER, 31, 0,
		    USER, TOKEN_BAD_SIG, 0, 0 },
		{ "signature wrong in a middle byte", dp, 0, -1, USER, 16, 0,
		    USER, TOKEN_BAD_SIG, 0, 0 },
		{ "wrong OTP, right signature", dp, 3000, -1, USER, -1, 0, USER,
		    TOKEN_BAD_OTP, 0, 0 },
		{ "OTP off by one in its first digit", dp, 0, 0, USER, -1, 0,
		    USER, TOKEN_BAD_OTP, 0, 0 },
		{ "OTP off by one in its last digit", dp, 0, 7, USER, -1, 0,
		    USER, TOKEN_BAD_OTP, 0, 0 },
		{ "wrong OTP and wrong signature", dp, 3000, -1, USER, 0, 0,
		    USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 0, 0 },
		{ "OTP off by one digit and signature wrong in its last byte",
		    dp, 0, 7, USER, 31, 0, USER,
		    TOKEN_BAD_OTP | TOKEN_BAD_SIG, 0, 0 },
		{ "expired (two steps old)", dp, -60, -1, USER, -1, 0, USER,
		    TOKEN_BAD_OTP, 0, 0 },
		{ "expired (an hour old)", dp, 0, -1, USER, -1, 3600, USER,
		    TOKEN_BAD_OTP, 0, 0 },
		{ "from the future", dp, 0, -1, USER, -1, -3600, USER,
		    TOKEN_BAD_OTP, 0, 0 },
		{ "other user", dp, 0, -1, "alice", -1, 0, USER,
		    TOKEN_BAD_SIG, 0, 0 },
		{ "other user, expired", dp, 0, -1, "alice", -1, 3600, USER,
		    TOKEN_BAD_OTP | TOKEN_BAD_SIG, 0, 0 },
		{ "6 digits, window 0: valid", &six, 0, -1, USER, -1, 0, USER,
		    0, 0, 0 },
		{ "6 digits, window 0: one step old", &six, -30, -1, USER, -1,
		    0, USER, TOKEN_BAD_OTP, 0, 0 },
		{ "6 digits: signature wrong in its last byte", &six, 0, -1,
		    USER, 31, 0, USER, TOKEN_BAD_SIG, 0, 0 },
		{ "10 digits, window 3: valid three steps old", &ten, -180, -1,
		    USER, -1, 0, USER, 0, 0, 0 },
		{ "10 digits, window 3: OTP off in its last digit", &ten, 0, 9,
		    USER, -1, 0, USER, TOKEN_BAD_OTP, 0, 0 },
		{ "10 digits, window 3: wrong OTP and signature", &ten, 3000, 9,
		    USER, 0, 0, USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 0, 0 },
		{ "valid under the previous pair", dp, 0, -1, USER, -1, 0,
		    USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 1 },
		{ "valid under the previous pair, one step old", dp, -30, -1,
		    USER, -1, 0, USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 1 },
		{ "previous pair: signature wrong in its first byte", dp, 0,
		    -1, USER, 0, 0, USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 0 },
		{ "previous pair: signature wrong in its last byte", dp, 0, -1,
		    USER, 31, 0, USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 0 },
		{ "previous pair: OTP off by one in its last digit", dp, 0, 7,
		    USER, -1, 0, USER, TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 0 },
		{ "previous pair: expired", dp, -60, -1, USER, -1, 0, USER,
		    TOKEN_BAD_OTP | TOKEN_BAD_SIG, 1, 0 },
		{ "the previous pair's OTP, the current pair's signature", dp,
		    0, -1, USER, -1, 0, USER, TOKEN_BAD_OTP, 2, 0 },
		{ "the current pair's OTP, the previous pair's signature", dp,
		    0, -1, USER, -1, 0, USER, TOKEN_BAD_SIG, 3, 0 },
	};
	const char *const rounds[2] = { "", "rotating: " };
	char name[160];
	int round;
	char text[TOKEN_MAX_LEN + 1];
	time_t now = TEST_NOW;
	size_t i;

	if (!RUNNING_ON_VALGRIND) {
		fprintf(stderr, "ct_verify: run me under valgrind memcheck\n");
		return 2;
	}
	if (keys_new(&secret_keys, 1) != 0 || keys_new(&clear_keys, 0) != 0) {
		fprintf(stderr, "ct_verify: cannot make HMAC keys\n");
		return 2;
	}
	check_tracking();
	check("the reference token", TEST_TOKEN, dp, USER, now, 0);
	check("the reference token, for another user", TEST_TOKEN, dp,
	    "alice", now, TOKEN_BAD_SIG);
	check("the reference token, expired", TEST_TOKEN, dp, USER,
	    now + 120, TOKEN_BAD_OTP);
	/* Without a rotation, then with the previous pair in force: both
	 * pairs are then computed for every token, whichever matches. */
	for (round = 0; round < 2; round++) {
		secret_keys.previous_until = round ? now + 86400 : 0;
		for (i = 0; i < sizeof(recipes) / sizeof(recipes[0]); i++) {
			const struct recipe *r = &recipes[i];

			snprintf(name, sizeof(name), "%s%s", rounds[round],
			    r->name);
			memset(text, 0, sizeof(text));
			if (make_token(r, now, text) != 0) {
				failed("%s: cannot make the test token", name);
				continue;
			}
			check(name, text, r->params, r->user,
			    now + r->verify_offset,
			    round && r->valid_in_rotation ? 0 : r->expect);
		}
	}
	secret_keys.previous_until = time(NULL) + 86400;
	check_answer_path(recipes, sizeof(recipes) / sizeof(recipes[0]));
	if (jwt_setup() != 0)
		failed("JWT: cannot key the HS256 set");
	else
		check_jwt();
#ifdef CT_LEAKY
	leaky_lookup();
#endif
	keys_free(&secret_keys);
	keys_free(&clear_keys);
	printf("%d cases failed\n", failures);
	return failures == 0 ? 0 : 1;
}
