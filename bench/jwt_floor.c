/*
 * JWT verification in process, beside its floor: for each algorithm, the
 * rate of OpenSSL's own signature verification over the same signing
 * input (the cost no parser can avoid), and the rate of jwt_verify (base64url,
 * JSON, the key, the signature, the claims) on the same tokens, and their
 * ratio. No framing, no replay store.
 *
 *   jwt_floor [--seconds S] [--only ALG] [--emit DIR N]
 *       S seconds per figure, the best of three runs of S/3 alternating
 *       (default 2), for every algorithm or for ALG alone (so that HS256's
 *       requests can be as many as today's tokens', which would take RSA
 *       minutes to sign); with --emit, also writes for each algorithm its
 *       set, DIR/ALG.jwks, and N requests for the helper, DIR/ALG.req
 *       ("auth:uI:example.org:TOKEN", I from 0 to N/2 - 1 in turn, each
 *       token its own jti), so that the helper is measured on the same
 *       keys, and its store holds one or two live jti a JID, as for the
 *       load generator's tokens in the bench.
 *
 * Keys are made at start; 64 tokens per algorithm, with distinct jti, for
 * bob@example.org.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "jwks.h"
#include "jwt.h"

#define TOKENS	 64
#define AUD	 "xmpp:example.org"
/* Tokens live an hour, so that a bench that measures the helper on them
 * in turn with the floor, several times, does not outlast them; the
 * helper's config sets jwt_max_lifetime to MAX_LIFETIME as here. */
#define LIFETIME     3000
#define MAX_LIFETIME 3600

static const struct jid bob = { .user = "bob", .userlen = 3,
	.domain = "example.org", .domainlen = 11 };
static const unsigned char hs_key[32] = "jwt-floor-hs256-secret-32-bytes!";

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
b64(const unsigned char *in, size_t len, char *out)
{
	jwks_b64url_encode(in, len, out);
}

/* The JWK of k (public), or of the HS256 secret. */
static void
jwk_of(EVP_PKEY *k, enum jwks_alg alg, char *out, size_t len)
{
	unsigned char x[600], y[8];
	char bx[808], by[16];
	size_t n = sizeof(x);
	BIGNUM *bn = NULL, *be = NULL;

	if (alg == JWKS_HS256) {
		b64(hs_key, sizeof(hs_key), bx);
		snprintf(out, len, "{\"kty\":\"oct\",\"k\":\"%s\"", bx);
	} else if (alg == JWKS_EDDSA) {
		EVP_PKEY_get_raw_public_key(k, x, &n);
		b64(x, n, bx);
		snprintf(out, len, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		    "\"x\":\"%s\"", bx);
	} else if (alg == JWKS_ES256) {
		EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, x,
		    sizeof(x), &n);
		b64(x + 1, 32, bx);
		b64(x + 33, 32, bx + 404);
		snprintf(out, len, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		    "\"%s\",\"y\":\"%s\"", bx, bx + 404);
	} else {
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn);
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &be);
		b64(x, (size_t)BN_bn2bin(bn, x), bx);
		b64(y, (size_t)BN_bn2bin(be, y), by);
		snprintf(out, len, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"",
		    bx, by);
		BN_free(bn);
		BN_free(be);
	}
	snprintf(out + strlen(out), len - strlen(out),
	    ",\"kid\":\"k\",\"alg\":\"%s\"}", jwks_alg_name(alg));
}

/* A token for user@example.org by key k under alg, with jti number i. */
static void
mint(EVP_PKEY *k, enum jwks_alg alg, int i, const char *user, time_t now,
    char *out)
{
	char header[64], claims[256];
	unsigned char sig[512];
	size_t n, siglen;
	unsigned int maclen;

	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"k\"}",
	    jwks_alg_name(alg));
	snprintf(claims, sizeof(claims), "{\"sub\":\"%s@example.org\","
	    "\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":"
	    "\"bench-%08d\"}", user, (long long)now,
	    (long long)now + LIFETIME, i);
	b64((unsigned char *)header, strlen(header), out);
	n = strlen(out);
	out[n++] = '.';
	b64((unsigned char *)claims, strlen(claims), out + n);
	n += strlen(out + n);
	if (alg == JWKS_HS256) {
		HMAC(EVP_sha256(), hs_key, 32, (unsigned char *)out, n, sig,
		    &maclen);
		siglen = maclen;
	} else if (jwt_sign(alg, k, out, n, sig, &siglen) != 0) {
		fprintf(stderr, "jwt_floor: cannot sign\n");
		exit(1);
	}
	out[n++] = '.';
	b64(sig, siglen, out + n);
}

/* OpenSSL's verification of the token's signature alone, per second. */
static double
floor_rate(const struct jwks_key *k, char tokens[][1024], double seconds)
{
	double start = now_seconds();
	unsigned long done = 0;

	while (done % 256 != 0 || now_seconds() - start < seconds) {
		if (jwt_signature_verifies(k, tokens[done % TOKENS],
			strlen(tokens[done % TOKENS])) != 1) {
			fprintf(stderr, "jwt_floor: a signature failed\n");
			exit(1);
		}
		done++;
	}
	return (double)done / (now_seconds() - start);
}

static double
verify_rate(const struct jwt_domain *d, char tokens[][1024], time_t now,
    double seconds)
{
	double start = now_seconds();
	unsigned long done = 0;
	struct jwt t;

	while (done % 256 != 0 || now_seconds() - start < seconds) {
		if (jwt_verify(tokens[done % TOKENS],
			strlen(tokens[done % TOKENS]), &bob, d, now, &t, NULL,
			0) != JWT_VALID) {
			fprintf(stderr, "jwt_floor: a token was refused\n");
			exit(1);
		}
		done++;
	}
	return (double)done / (now_seconds() - start);
}

/* DIR/ALG.jwks (the set) and DIR/ALG.req (n requests). */
static int
emit(const char *dir, EVP_PKEY *k, enum jwks_alg alg, const char *set,
    long n, time_t now)
{
	char path[4096], user[24], token[1024];
	FILE *f;
	long i, users = n / 2 > 0 ? n / 2 : 1;

	snprintf(path, sizeof(path), "%s/%s.jwks", dir, jwks_alg_name(alg));
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(set, f);
	fclose(f);
	chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/%s.req", dir, jwks_alg_name(alg));
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "u%ld", i % users);
		mint(k, alg, (int)(1000000 + i), user, now, token);
		fprintf(f, "auth:%s:example.org:%s\n", user, token);
	}
	return fclose(f);
}

int
main(int argc, char **argv)
{
	static char tokens[TOKENS][1024];
	static const enum jwks_alg algs[] = { JWKS_EDDSA, JWKS_ES256,
		JWKS_RS256, JWKS_PS256, JWKS_HS256 };
	double seconds = argc >= 3 && strcmp(argv[1], "--seconds") == 0 ?
	    atof(argv[2]) : 2, fl, v;
	const char *emit_dir = NULL, *only = NULL;
	long emit_n = 0;
	char path[] = "/tmp/jwt-floor.XXXXXX", file[64], set[2048], jwk[1900];
	char err[JWKS_ERR_LEN];
	struct jwt_domain d;
	time_t now = time(NULL);
	EVP_PKEY *k = NULL;
	FILE *f;
	size_t a;
	int i;

	for (i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--only") == 0)
			only = argv[i + 1];
		if (strcmp(argv[i], "--emit") == 0 && i + 2 < argc) {
			emit_dir = argv[i + 1];
			emit_n = atol(argv[i + 2]);
		}
	}
	if (mkdtemp(path) == NULL)
		return 1;
	printf("%-6s %14s %14s %7s\n", "alg", "floor (/s)", "jwt_verify (/s)",
	    "ratio");
	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		if (only != NULL && strcmp(only, jwks_alg_name(algs[a])) != 0)
			continue;
		k = algs[a] == JWKS_EDDSA ? EVP_PKEY_Q_keygen(NULL, NULL,
		    "ED25519") : algs[a] == JWKS_ES256 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
		    algs[a] == JWKS_HS256 ? NULL :
		    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		jwk_of(k, algs[a], jwk, sizeof(jwk));
		snprintf(set, sizeof(set), "{\"keys\":[%s]}", jwk);
		snprintf(file, sizeof(file), "%s/set.jwks", path);
		if ((f = fopen(file, "w")) == NULL)
			return 1;
		fputs(set, f);
		fclose(f);
		chmod(file, 0600);
		memset(&d, 0, sizeof(d));
		if ((d.keys = jwks_load(file, err)) == NULL) {
			fprintf(stderr, "jwt_floor: %s\n", err);
			return 1;
		}
		strcpy(d.audience, AUD);
		d.max_lifetime = MAX_LIFETIME;
		d.leeway = 30;
		for (i = 0; i < TOKENS; i++)
			mint(k, algs[a], i, "bob", now, tokens[i]);
		/* The best of three, alternating: the machine's noise only
		 * ever slows a figure down. */
		for (fl = v = 0, i = 0; i < 3; i++) {
			double x = floor_rate(&d.keys->keys[0], tokens,
			    seconds / 3), y = verify_rate(&d, tokens, now,
			    seconds / 3);

			fl = x > fl ? x : fl;
			v = y > v ? y : v;
		}
		printf("%-6s %14.0f %14.0f %6.0f%%\n", jwks_alg_name(algs[a]),
		    fl, v, 100 * v / fl);
		fflush(stdout);
		if (emit_dir != NULL && emit(emit_dir, k, algs[a], set, emit_n,
		    now) != 0) {
			fprintf(stderr, "jwt_floor: cannot write to %s\n",
			    emit_dir);
			return 1;
		}
		jwks_free(d.keys);
		EVP_PKEY_free(k);
		unlink(file);
	}
	rmdir(path);
	return 0;
}
