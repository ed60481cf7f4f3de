/*
 * Fuzz target: the JWT parser and verifier, with fixed test keys (an
 * Ed25519 key from a fixed seed, and an HS256 secret) in a JWK Set.
 *
 * Input: byte 0 picks the mode, the key and the time of verification.
 *   mode 0: the rest is the token's text, as a client sends it;
 *   mode 1: the rest is a header and claims, split at the first NUL, which
 *           the target encodes and signs with the chosen key, so that the
 *           fuzzer reaches the claims behind a good signature.
 * Invariants:
 * - never a crash, a leak or undefined behaviour;
 * - the helper's path (no explanation) and verify's (with one) agree, and
 *   auth_check's verdict is the format's;
 * - a token accepted carries the key's signature, names bob@example.org,
 *   the audience, a jti of 1 to 128 printable characters, and times that
 *   the checks allow (checked again here, from the decoded claims);
 * - its replay entry is a pure function of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "config.h"
#include "format_jwt.h"
#include "jwks.h"
#include "jwt.h"
#include "unit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000
#define AUD "xmpp:example.org"

static const unsigned char ed_seed[32] = "fuzz-jwt-fixed-ed25519-seed-0001";
static const unsigned char hs_key[32] = "fuzz-jwt-fixed-hs256-secret-0001";
static const long offsets[] = { 0, -400, 400, 86400 };

static EVP_PKEY *ed;
static struct config cfg;
static struct config_domain domain;

static void
setup(void)
{
	char path[4096], x[64], k[64], err[JWKS_ERR_LEN];
	const char *tmp = getenv("TMPDIR");
	unsigned char pub[32];
	size_t n = sizeof(pub);
	FILE *f;

	ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed, 32);
	if (ed == NULL || EVP_PKEY_get_raw_public_key(ed, pub, &n) != 1)
		abort();
	jwks_b64url_encode(pub, n, x);
	jwks_b64url_encode(hs_key, sizeof(hs_key), k);
	snprintf(path, sizeof(path), "%s/fuzz-jwt-%d.jwks",
	    tmp != NULL ? tmp : "/tmp", (int)getpid());
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
	    "\"%s\",\"kid\":\"ed\",\"alg\":\"EdDSA\"},{\"kty\":\"oct\",\"k\":"
	    "\"%s\",\"kid\":\"hs\",\"alg\":\"HS256\"}]}", x, k);
	fclose(f);
	chmod(path, 0600);
	domain.jwt.keys = jwks_load(path, err);
	unlink(path);
	if (domain.jwt.keys == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	strcpy(domain.jwt.audience, AUD);
	domain.jwt.max_lifetime = 300;
	domain.jwt.leeway = 30;
	domain.formats.params = &cfg.params;
	domain.formats.jwt = &domain.jwt;
	cfg.domains = &domain;
	cfg.ndomains = 1;
}

/* Mode 1: header and claims encoded and signed by the chosen key. */
static size_t
sign_parts(const uint8_t *data, size_t size, int use_hs, char *out,
    size_t room)
{
	const uint8_t *nul = memchr(data, 0, size);
	unsigned char sig[512];
	size_t hlen, n, siglen;
	unsigned int maclen;

	if (nul == NULL || size > 2000 || room < 4 * size + 200)
		return 0;
	hlen = (size_t)(nul - data);
	jwks_b64url_encode(data, hlen, out);
	n = strlen(out);
	out[n++] = '.';
	jwks_b64url_encode(nul + 1, size - hlen - 1, out + n);
	n += strlen(out + n);
	if (use_hs) {
		HMAC(EVP_sha256(), hs_key, sizeof(hs_key),
		    (const unsigned char *)out, n, sig, &maclen);
		siglen = maclen;
	} else if (jwt_sign(JWKS_EDDSA, ed, out, n, sig, &siglen) != 0) {
		abort();
	}
	out[n++] = '.';
	jwks_b64url_encode(sig, siglen, out + n);
	return n + strlen(out + n);
}

static int
printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < ' ' || s[i] > '~')
			return 0;
	return len > 0 && len <= JWT_MAX_JTI;
}

/* The accepted token's claims, decoded again and checked here. */
static void
check_accepted(const char *text, size_t len, time_t now)
{
	const char *dot1 = memchr(text, '.', len), *dot2;
	unsigned char raw[JWT_MAX_LEN];
	json_t *c, *jti;
	json_int_t exp, iat;
	int n;

	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text));
	n = jwks_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), raw);
	if (n <= 0 || (c = json_loadb((char *)raw, (size_t)n, 0, NULL)) ==
	    NULL) {
		fprintf(stderr, "accepted claims that do not decode\n");
		abort();
	}
	jti = json_object_get(c, "jti");
	exp = json_integer_value(json_object_get(c, "exp"));
	iat = json_integer_value(json_object_get(c, "iat"));
	if (!json_is_string(json_object_get(c, "sub")) ||
	    strcmp(json_string_value(json_object_get(c, "sub")),
		"bob@example.org") != 0 ||
	    !json_is_string(jti) ||
	    !printable(json_string_value(jti), json_string_length(jti)) ||
	    !json_is_integer(json_object_get(c, "exp")) ||
	    !json_is_integer(json_object_get(c, "iat")) ||
	    exp + 30 < now || iat > now + 30 || exp - iat > 300 ||
	    exp > now + 330) {
		fprintf(stderr, "accepted claims the checks forbid\n");
		abort();
	}
	json_decref(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4 * JWT_MAX_LEN + 256];
	struct replay_entry e1 = { 0 }, e2 = { 0 };
	struct format_token ft;
	struct jwt t, t2;
	char why[768];
	const char *text;
	enum jwt_result r, r2;
	enum auth_verdict v;
	size_t len;
	time_t now;
	int mode, use_hs;

	if (ed == NULL)
		setup();
	if (size < 1)
		return 0;
	mode = data[0] & 1;
	use_hs = (data[0] >> 1) & 1;
	now = NOW + offsets[(data[0] >> 2) % 4];
	if (mode == 0) {
		text = (const char *)data + 1;
		len = size - 1;
	} else {
		if ((len = sign_parts(data + 1, size - 1, use_hs, buf,
			 sizeof(buf))) == 0)
			return 0;
		text = buf;
	}
	r = jwt_verify(text, len, JID("bob", "example.org"), &domain.jwt, now,
	    &t, NULL, 0);
	r2 = jwt_verify(text, len, JID("bob", "example.org"), &domain.jwt, now,
	    &t2, why, sizeof(why));
	if (r != r2 || (r == JWT_VALID && memcmp(&t, &t2, sizeof(t)) != 0)) {
		fprintf(stderr, "jwt_verify says %d quietly, %d explaining\n",
		    r, r2);
		abort();
	}
	if (r == JWT_FAILURE) {
		fprintf(stderr, "jwt_verify: the library failed\n");
		abort();
	}
	if (jwt_shaped(text, len)) {
		v = auth_check(&cfg, JID("bob", "example.org"), text, len, now,
		    &ft);
		if ((v == AUTH_ACCEPTED) != (r == JWT_VALID)) {
			fprintf(stderr, "auth_check disagrees with jwt_verify\n");
			abort();
		}
	}
	if (r != JWT_VALID)
		return 0;
	if (jwt_signature_verifies(jwks_find(domain.jwt.keys, t.kid,
		strlen(t.kid)), text, len) != 1) {
		fprintf(stderr, "accepted without the key's signature\n");
		abort();
	}
	check_accepted(text, len, now);
	if (jwt_replay_entry(&t, JID("bob", "example.org"), NULL, &e1) != 0 ||
	    jwt_replay_entry(&t2, JID("bob", "example.org"), NULL, &e2) != 0 ||
	    memcmp(&e1, &e2, sizeof(e1)) != 0) {
		fprintf(stderr, "jwt_replay_entry failed or varied\n");
		abort();
	}
	return 0;
}
