/*
 * Verification times, measured: a leakage test in the manner of dudect.
 * With a previous pair in force (a rotation), seven classes of well-formed
 * tokens for bob@example.org, valid under either pair or invalid in
 * different ways under either, are verified
 * over and over, the class chosen at random for each measurement so that
 * drift and noise fall on all of them alike; each verification is timed in CPU
 * cycles, and Welch's t-test compares the times of every pair of classes,
 * on all measurements and again with the slow tail cropped at several
 * percentiles (interrupts and cache misses only ever add time). Each class
 * is a set of tokens with random nonces, so that the public text varies
 * alike in all of them, and every measurement runs on the same buffer.
 *
 *   |t| < 4.5    no evidence that the time depends on the class
 *
 * Measured three times: token_verify alone (the constant-time core);
 * token_parse and token_verify from the token's text; and auth_check, which
 * adds the domain lookup and turns the verdict into a reason. Then JWTs
 * signed with an HS256 key, through auth_check: the same claims (a random
 * jti of one length), the signature right or wrong in one of its bytes.
 *
 * usage: ct_report [MEASUREMENTS]     (per target; default 2000000)
 *
 * A report, not a test: on a shared or busy machine the noise can swamp or
 * fake a difference, so run it on an idle one and read the figures.
 */
#include <sched.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "base32.h"
#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "token.h"
#include "unit.h"

#define NCLASSES 7
#define NTARGETS 4
#define NJWT_CLASSES 4
#define JWT_SECRET "ct-report-hs256-secret-32-bytes!"
#define NVARIANTS 64 /* tokens per class */
#define BATCH	 100000
#define WARMUP	 20000
#define TOKEN_LEN (8 + 32 + 1 + TOKEN_SIG_B64_LEN)

static const char *const class_names[NCLASSES] = {
	"signature wrong in its first byte",
	"signature wrong in its last byte",
	"wrong OTP (signature right)",
	"wrong OTP and wrong signature",
	"previous pair, signature wrong",
	"valid under the current pair",
	"valid under the previous pair",
};

/* The pair a rotation replaced, in force for the whole measurement. */
#define PREVIOUS_SEED	"HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M"
#define PREVIOUS_SECRET "NOTTHESECRETNOTTHESECRET32CHARS0"

/* Percentiles the slow tail is cropped at; 100 keeps every measurement. */
static const double crop_percent[] = { 100, 99.9, 99.5, 99, 98, 95, 90, 80,
	70, 50 };
#define NCROPS (sizeof(crop_percent) / sizeof(crop_percent[0]))

struct welch {
	double n, mean, m2; /* Welford's running mean and squared deviations */
};

struct target {
	const char *name;
	int nclasses;
	const char *const *names;
	double threshold[NCROPS];
	struct welch stat[NCROPS][NCLASSES];
};

static const struct token_params params = { 8, 30, 1, 32 };
static struct config cfg;
static struct token tokens[NCLASSES][NVARIANTS];
static char texts[NCLASSES][NVARIANTS][TOKEN_MAX_LEN + 1];
static volatile unsigned sink;

static const char *const jwt_class_names[NJWT_CLASSES] = {
	"HS256 signature wrong in its first byte",
	"HS256 signature wrong in its last byte",
	"HS256 signature wrong in a middle byte",
	"HS256 valid",
};
static const unsigned expected_jwt[NJWT_CLASSES] = { AUTH_BAD_SIGNATURE,
	AUTH_BAD_SIGNATURE, AUTH_BAD_SIGNATURE, AUTH_ACCEPTED };
static char jwt_texts[NJWT_CLASSES][NVARIANTS][512];
static size_t jwt_len;
static struct jwks jwt_set;
static struct jwt_domain jwt_dom;
static struct config_domain jwt_domain_cfg;
static struct config jwt_cfg = { .domains = &jwt_domain_cfg, .ndomains = 1 };

static inline uint64_t
cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;

	__asm__ volatile("lfence\n\trdtsc\n\tlfence"
			 : "=a"(lo), "=d"(hi)
			 :
			 : "memory");
	return (uint64_t)hi << 32 | lo;
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static void
add(struct welch *w, double x)
{
	double d = x - w->mean;

	w->n += 1;
	w->mean += d / w->n;
	w->m2 += d * (x - w->mean);
}

static double
welch_t(const struct welch *a, const struct welch *b)
{
	double va, vb;

	if (a->n < 2 || b->n < 2)
		return 0;
	va = a->m2 / (a->n - 1);
	vb = b->m2 / (b->n - 1);
	if (va + vb == 0)
		return 0;
	return (a->mean - b->mean) / sqrt(va / a->n + vb / b->n);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The tokens of each class, for bob@example.org at TEST_NOW: NVARIANTS of
 * each, with random nonces (and, for a wrong OTP, the OTP of a random other
 * step), so that the public text of the tokens varies alike in every class
 * and only what the class is about differs between classes.
 */
static int
make_tokens(const struct token_keys *k)
{
	char nonce[33], good[TOKEN_MAX_LEN + 1], stale[TOKEN_MAX_LEN + 1];
	char old[TOKEN_MAX_LEN + 1];
	uint8_t rnd[34];
	struct token t;
	int c, v, i;

	for (v = 0; v < NVARIANTS; v++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		for (i = 0; i < 32; i++)
			nonce[i] = (char)('0' + rnd[i] % 10);
		nonce[32] = '\0';
		if (token_format(nonce, JID("bob", "example.org"), &k->current,
			&params, TEST_NOW, good) != 0 ||
		    token_format(nonce, JID("bob", "example.org"), &k->current,
			&params, TEST_NOW + 30 * (100 + (rnd[32] | rnd[33] << 8)),
			stale) != 0 ||
		    token_format(nonce, JID("bob", "example.org"),
			&k->previous, &params, TEST_NOW, old) != 0)
			return -1;
		for (c = 0; c < NCLASSES; c++) {
			if (token_parse(c == 0 || c == 1 || c == 5 ? good :
				c == 4 || c == 6 ? old : stale, TOKEN_LEN,
				&params, &t) != 0)
				return -1;
			if (c == 0 || c == 3 || c == 4)
				t.sig[0] ^= 0x01;
			if (c == 1)
				t.sig[TOKEN_SIG_LEN - 1] ^= 0x80;
			tokens[c][v] = t;
			memcpy(texts[c][v], t.otp, params.otp_digits);
			memcpy(texts[c][v] + params.otp_digits, t.nonce,
			    params.nonce_digits);
			texts[c][v][params.otp_digits + params.nonce_digits] =
			    ' ';
			EVP_EncodeBlock((unsigned char *)texts[c][v] +
				params.otp_digits + params.nonce_digits + 1,
			    t.sig, TOKEN_SIG_LEN);
		}
	}
	return 0;
}

static const unsigned expected_verdict[NCLASSES] = { TOKEN_BAD_SIG,
	TOKEN_BAD_SIG, TOKEN_BAD_OTP, TOKEN_BAD_OTP | TOKEN_BAD_SIG,
	TOKEN_BAD_OTP | TOKEN_BAD_SIG, 0, 0 };
static const unsigned expected_auth[NCLASSES] = { AUTH_BAD_SIGNATURE,
	AUTH_BAD_SIGNATURE, AUTH_BAD_OTP, AUTH_BAD_OTP_AND_SIGNATURE,
	AUTH_BAD_OTP_AND_SIGNATURE, AUTH_ACCEPTED, AUTH_ACCEPTED };

/*
 * Every class is measured on the same buffer, filled before the clock
 * starts: otherwise where each class's input lies (its cache lines, their
 * alignment) would itself make a difference in time.
 */
static struct token cur_token;
static char cur_text[TOKEN_MAX_LEN + 1];
static char cur_jwt[512];

static inline void
prepare(int which, int c, int v)
{
	if (which == 0)
		memcpy(&cur_token, &tokens[c][v], sizeof(cur_token));
	else if (which == 3)
		memcpy(cur_jwt, jwt_texts[c][v], sizeof(cur_jwt));
	else
		memcpy(cur_text, texts[c][v], sizeof(cur_text));
}

static inline unsigned
run_jwt(void)
{
	struct format_token t;

	return (unsigned)auth_check(&jwt_cfg, JID("bob", "example.org"),
	    cur_jwt, jwt_len, TEST_NOW, &t);
}

/* The HS256 set, and NVARIANTS tokens of each class (random jti). */
static int
make_jwts(void)
{
	static const char header[] = "{\"alg\":\"HS256\",\"kid\":\"hs\"}";
	static const int flip[NJWT_CLASSES] = { 0, 31, 16, -1 };
	char claims[256], *out;
	unsigned char sig[32], rnd[8];
	unsigned int len;
	size_t n;
	int c, v;

	strcpy(jwt_set.keys[0].kid, "hs");
	jwt_set.keys[0].alg = JWKS_HS256;
	jwt_set.keys[0].mac = mac_new("SHA256", (const uint8_t *)JWT_SECRET,
	    32);
	jwt_set.n = 1;
	jwt_dom.keys = &jwt_set;
	strcpy(jwt_dom.audience, "xmpp:example.org");
	jwt_dom.max_lifetime = 300;
	jwt_dom.leeway = 30;
	jwt_domain_cfg.formats.params = &params;
	jwt_domain_cfg.formats.jwt = &jwt_dom;
	if (jwt_set.keys[0].mac == NULL)
		return -1;
	for (v = 0; v < NVARIANTS; v++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		snprintf(claims, sizeof(claims), "{\"sub\":\"bob@example.org\","
		    "\"aud\":\"xmpp:example.org\",\"iat\":%d,\"exp\":%d,"
		    "\"jti\":\"%02x%02x%02x%02x%02x%02x%02x%02x\"}", TEST_NOW,
		    TEST_NOW + 60, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		    rnd[5], rnd[6], rnd[7]);
		for (c = 0; c < NJWT_CLASSES; c++) {
			out = jwt_texts[c][v];
			jwks_b64url_encode((const unsigned char *)header,
			    strlen(header), out);
			n = strlen(out);
			out[n++] = '.';
			jwks_b64url_encode((const unsigned char *)claims,
			    strlen(claims), out + n);
			n += strlen(out + n);
			HMAC(EVP_sha256(), JWT_SECRET, 32,
			    (const unsigned char *)out, n, sig, &len);
			if (flip[c] >= 0)
				sig[flip[c]] ^= 0x01;
			out[n++] = '.';
			jwks_b64url_encode(sig, 32, out + n);
			jwt_len = strlen(out);
		}
	}
	return 0;
}

static inline unsigned
run_verify(void)
{
	return token_verify(&cur_token, JID("bob", "example.org"),
	    &cfg.domains[0].keys, &params, TEST_NOW);
}

static inline unsigned
run_parse_verify(void)
{
	struct token t;

	if (token_parse(cur_text, TOKEN_LEN, &params, &t) != 0)
		return TOKEN_FAILURE;
	return token_verify(&t, JID("bob", "example.org"),
	    &cfg.domains[0].keys, &params, TEST_NOW);
}

static inline unsigned
run_auth(void)
{
	struct format_token t;

	return (unsigned)auth_check(&cfg, JID("bob", "example.org"),
	    cur_text, TOKEN_LEN, TEST_NOW, &t);
}

/* One batch of n measurements with random classes. */
static void
measure(int which, int nclasses, size_t n, uint8_t *cls, uint64_t *t)
{
	static uint8_t variant[BATCH + WARMUP];
	size_t i;
	uint64_t t0;

	if (getrandom(cls, n, 0) != (ssize_t)n ||
	    getrandom(variant, n, 0) != (ssize_t)n) {
		perror("getrandom");
		exit(2);
	}
	for (i = 0; i < n; i++) {
		int c = cls[i] % nclasses;

		cls[i] = (uint8_t)c;
		prepare(which, c, variant[i] % NVARIANTS);
		t0 = cycles();
		sink = which == 0 ? run_verify() :
		    which == 1	  ? run_parse_verify() :
		    which == 2	  ? run_auth() :
				    run_jwt();
		t[i] = cycles() - t0;
	}
}

static void
run_target(struct target *tg, int which, size_t total, uint8_t *cls,
    uint64_t *t, uint64_t *sorted)
{
	size_t done = 0, i, k, n;

	/* Warm up, then take the crop thresholds from a first batch. */
	measure(which, tg->nclasses, WARMUP, cls, t);
	measure(which, tg->nclasses, BATCH, cls, t);
	memcpy(sorted, t, BATCH * sizeof(*t));
	qsort(sorted, BATCH, sizeof(*sorted), cmp_u64);
	for (k = 0; k < NCROPS; k++)
		tg->threshold[k] = crop_percent[k] >= 100 ? INFINITY :
		    (double)sorted[(size_t)(crop_percent[k] / 100 * (BATCH - 1))];
	while (done < total) {
		n = total - done < BATCH ? total - done : BATCH;
		measure(which, tg->nclasses, n, cls, t);
		for (i = 0; i < n; i++)
			for (k = 0; k < NCROPS; k++)
				if ((double)t[i] <= tg->threshold[k])
					add(&tg->stat[k][cls[i]], (double)t[i]);
		done += n;
	}
}

static double
report(const struct target *tg)
{
	double worst = 0;
	int a, b;
	size_t k, best;

	printf("\n%s\n", tg->name);
	for (a = 0; a < tg->nclasses; a++)
		printf("  class %d: %-36s n=%.0f  mean %.1f cycles\n", a,
		    tg->names[a], tg->stat[0][a].n, tg->stat[0][a].mean);
	printf("  %-7s %14s %10s %12s %s\n", "pair", "mean a - b", "t (all)",
	    "max |t|", "(at crop)");
	for (a = 0; a < tg->nclasses; a++)
		for (b = a + 1; b < tg->nclasses; b++) {
			double t0 = welch_t(&tg->stat[0][a], &tg->stat[0][b]);

			best = 0;
			for (k = 1; k < NCROPS; k++)
				if (fabs(welch_t(&tg->stat[k][a],
					&tg->stat[k][b])) >
				    fabs(welch_t(&tg->stat[best][a],
					&tg->stat[best][b])))
					best = k;
			printf("  %d vs %d  %7.1f cycles %10.2f %12.2f (%g%%)\n", a,
			    b, tg->stat[0][a].mean - tg->stat[0][b].mean, t0,
			    fabs(welch_t(&tg->stat[best][a],
				&tg->stat[best][b])),
			    crop_percent[best]);
			if (fabs(welch_t(&tg->stat[best][a],
				&tg->stat[best][b])) > worst)
				worst = fabs(welch_t(&tg->stat[best][a],
				    &tg->stat[best][b]));
		}
	printf("  verdict: max |t| = %.2f: %s\n", worst,
	    worst < 4.5 ? "no evidence of a timing leak (|t| < 4.5)" :
	    worst < 10	? "possible leak, or noise: rerun on an idle machine" :
			  "timing depends on the class (|t| >= 10)");
	return worst;
}

int
main(int argc, char **argv)
{
	static struct target targets[NTARGETS] = {
		{ .name = "token_verify: time by class", .nclasses = NCLASSES,
		    .names = class_names },
		{ .name = "token_parse + token_verify, from the token's text: "
			  "time by class", .nclasses = NCLASSES,
		    .names = class_names },
		{ .name = "auth_check (parse, verify, verdict): time by class",
		    .nclasses = NCLASSES, .names = class_names },
		{ .name = "JWT HS256 through auth_check (JSON, claims, "
			  "signature, verdict): time by class",
		    .nclasses = NJWT_CLASSES, .names = jwt_class_names },
	};
	uint8_t seed[32];
	struct token_keys *k;
	size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	uint8_t *cls;
	uint64_t *t, *sorted;
	cpu_set_t cpu;
	int n, c, v, which;

	if (total < BATCH)
		total = BATCH;
	/* Stay on one CPU: a migration changes the clock and the caches. */
	CPU_ZERO(&cpu);
	CPU_SET(sched_getcpu(), &cpu);
	sched_setaffinity(0, sizeof(cpu), &cpu);

	n = base32_decode(TEST_SEED, strlen(TEST_SEED), seed);
	cfg.params = params;
	cfg.ndomains = 1;
	cfg.domains = calloc(1, sizeof(*cfg.domains));
	cls = malloc(BATCH + WARMUP);
	t = malloc((BATCH + WARMUP) * sizeof(*t));
	sorted = malloc(BATCH * sizeof(*sorted));
	if (n <= 0 || cfg.domains == NULL || cls == NULL || t == NULL ||
	    sorted == NULL)
		return 2;
	k = &cfg.domains[0].keys;
	cfg.domains[0].formats = (struct format_keys){ .params = &cfg.params,
		.converse = k };
	k->current.otp = mac_new("SHA1", seed, (size_t)n);
	k->current.sig = mac_new("SHA256", (const uint8_t *)TEST_SECRET,
	    strlen(TEST_SECRET));
	n = base32_decode(PREVIOUS_SEED, strlen(PREVIOUS_SEED), seed);
	k->previous.otp = n > 0 ? mac_new("SHA1", seed, (size_t)n) : NULL;
	k->previous.sig = mac_new("SHA256", (const uint8_t *)PREVIOUS_SECRET,
	    strlen(PREVIOUS_SECRET));
	k->previous_until = TEST_NOW + 86400;
	/* as the config makes them: the window's codes kept per time step */
	k->current.window = totp_window_new();
	k->previous.window = totp_window_new();
	if (k->current.window == NULL || k->previous.window == NULL ||
	    k->current.otp == NULL || k->current.sig == NULL ||
	    k->previous.otp == NULL || k->previous.sig == NULL ||
	    make_tokens(k) != 0) {
		fprintf(stderr, "ct_report: cannot set up the test tokens\n");
		return 2;
	}
	for (c = 0; c < NCLASSES; c++)
		for (v = 0; v < NVARIANTS; v++) {
			prepare(0, c, v);
			prepare(1, c, v);
			if (run_verify() != expected_verdict[c] ||
			    run_parse_verify() != expected_verdict[c] ||
			    run_auth() != expected_auth[c]) {
				fprintf(stderr, "ct_report: class %d has the "
				    "wrong verdict\n", c);
				return 2;
			}
		}

	if (make_jwts() != 0) {
		fprintf(stderr, "ct_report: cannot set up the test JWTs\n");
		return 2;
	}
	for (c = 0; c < NJWT_CLASSES; c++)
		for (v = 0; v < NVARIANTS; v++) {
			prepare(3, c, v);
			if (run_jwt() != expected_jwt[c]) {
				fprintf(stderr, "ct_report: JWT class %d has "
				    "the wrong verdict\n", c);
				return 2;
			}
		}

	printf("Welch's t-test on verification times, a previous pair in "
	       "force, %zu measurements per "
	       "target, classes interleaved at random\n(timer: %s; |t| < 4.5: "
	       "no evidence of a leak)\n",
	    total,
#if defined(__x86_64__) || defined(__i386__)
	    "rdtsc"
#else
	    "clock_gettime"
#endif
	);
	for (which = 0; which < NTARGETS; which++) {
		run_target(&targets[which], which, total, cls, t, sorted);
		report(&targets[which]);
		fflush(stdout);
	}
	config_free(&cfg);
	free(cls);
	free(t);
	free(sorted);
	return 0;
}
