/*
 * JWTs: the RFC 7515, RFC 7520 and RFC 8037 examples, tokens in every algorithm made
 * with keys made here, and every attack the format must refuse, each a
 * test. Keys and sets are written to a temporary directory.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "format.h"
#include "format_jwt.h"
#include "jwks.h"
#include "jwt.h"
#include "unit.h"

#define NOW  1700000000
#define AUD  "xmpp:example.org"
#define ISS  "https://app.example"
#define BOB  JID("bob", "example.org")

static char dir[] = "/tmp/pta-jwt.XXXXXX";
static EVP_PKEY *ed, *es, *rs, *other_ed;
static const unsigned char hs_secret[32] = "0123456789abcdef0123456789abcde";
static struct jwt_domain dom;

static void
b64(const unsigned char *in, size_t len, char *out)
{
	jwks_b64url_encode(in, len, out);
}

/* The public JWK of pkey, as a web application's library writes it. */
static void
jwk_of(EVP_PKEY *k, const char *kid, const char *alg, char *out, size_t len)
{
	unsigned char x[600], y[600];
	char bx[808], by[808];
	size_t n = sizeof(x);
	BIGNUM *bn = NULL, *be = NULL;

	if (strcmp(alg, "EdDSA") == 0) {
		ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, x, &n), 1);
		b64(x, n, bx);
		snprintf(out, len, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
		    "\"%s\",\"kid\":\"%s\",\"alg\":\"%s\"}", bx, kid, alg);
	} else if (strcmp(alg, "ES256") == 0) {
		ck_assert_int_eq(EVP_PKEY_get_octet_string_param(k,
		    OSSL_PKEY_PARAM_PUB_KEY, x, sizeof(x), &n), 1);
		ck_assert_uint_eq(n, 65);
		b64(x + 1, 32, bx);
		b64(x + 33, 32, by);
		snprintf(out, len, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		    "\"%s\",\"y\":\"%s\",\"kid\":\"%s\",\"alg\":\"%s\"}", bx, by,
		    kid, alg);
	} else {
		ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N,
		    &bn), 1);
		ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E,
		    &be), 1);
		b64(x, (size_t)BN_bn2bin(bn, x), bx);
		b64(y, (size_t)BN_bn2bin(be, y), by);
		snprintf(out, len, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\","
		    "\"kid\":\"%s\",\"alg\":\"%s\"}", bx, by, kid, alg);
		BN_free(bn);
		BN_free(be);
	}
}

/* Writes text to dir/name with mode; returns the path (static). */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void
setup(void)
{
	char set[10000], k1[2048], k2[2048], k3[2048], k4[2048], hs[80];
	char err[512];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	if (ed == NULL) {
		ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		other_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		es = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		rs = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
	ck_assert_ptr_nonnull(rs);
	jwk_of(ed, "ed", "EdDSA", k1, sizeof(k1));
	jwk_of(es, "es", "ES256", k2, sizeof(k2));
	jwk_of(rs, "rs", "RS256", k3, sizeof(k3));
	jwk_of(rs, "ps", "PS256", k4, sizeof(k4));
	b64(hs_secret, sizeof(hs_secret), hs);
	snprintf(set, sizeof(set), "{\"keys\":[%s,%s,%s,%s,{\"kty\":\"oct\","
	    "\"k\":\"%s\",\"kid\":\"hs\",\"alg\":\"HS256\"}]}", k1, k2, k3, k4,
	    hs);
	memset(&dom, 0, sizeof(dom));
	dom.keys = jwks_load(write_file("set.jwks", set, 0600), err);
	ck_assert_msg(dom.keys != NULL, "%s", err);
	strcpy(dom.audience, AUD);
	strcpy(dom.issuer, ISS);
	dom.max_lifetime = 300;
	dom.leeway = 30;
}

static void
teardown(void)
{
	char cmd[64 + sizeof(dir)];

	jwks_free(dom.keys);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/pta-jwt.XXXXXX");
}

/*
 * A token of the header and claims as written (JSON, or anything), signed
 * by signer under alg ("HS256": with secret), into out.
 */
static void
raw_token(const char *header, size_t hlen, const char *claims, size_t clen,
    const char *alg, EVP_PKEY *signer, const unsigned char *secret,
    size_t secretlen, char *out)
{
	unsigned char sig[512];
	size_t siglen = 0, n;
	unsigned int maclen;

	b64((const unsigned char *)header, hlen, out);
	n = strlen(out);
	out[n++] = '.';
	b64((const unsigned char *)claims, clen, out + n);
	n += strlen(out + n);
	if (strcmp(alg, "HS256") == 0) {
		ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)secretlen,
		    (const unsigned char *)out, n, sig, &maclen));
		siglen = maclen;
	} else if (signer != NULL) {
		ck_assert_int_eq(jwt_sign((enum jwks_alg)jwks_alg_of(alg,
		    strlen(alg)), signer, out, n, sig, &siglen), 0);
	}
	out[n++] = '.';
	b64(sig, siglen, out + n);
}

/* The key of the set named kid, as a test signs with it. */
static EVP_PKEY *
signer_of(const char *kid)
{
	if (strcmp(kid, "ed") == 0)
		return ed;
	if (strcmp(kid, "es") == 0)
		return es;
	return rs;
}

static const char *
alg_of(const char *kid)
{
	return strcmp(kid, "ed") == 0 ? "EdDSA" : strcmp(kid, "es") == 0 ?
	    "ES256" : strcmp(kid, "rs") == 0 ? "RS256" : strcmp(kid, "ps") ==
	    0 ? "PS256" : "HS256";
}

#define CLAIMS_FMT                                                            \
	"{\"sub\":\"bob@example.org\",\"aud\":\"" AUD "\",\"iss\":\"" ISS     \
	"\",\"iat\":%d,\"exp\":%d,\"jti\":\"%s\"%s}"

/* A token by key kid of the standard claims, with extra members. */
static void
token(const char *kid, const char *jti, const char *extra, char *out)
{
	char header[128], claims[2048];

	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
	    alg_of(kid), kid);
	snprintf(claims, sizeof(claims), CLAIMS_FMT, NOW, NOW + 120, jti,
	    extra);
	raw_token(header, strlen(header), claims, strlen(claims), alg_of(kid),
	    signer_of(kid), hs_secret, sizeof(hs_secret), out);
}

static enum jwt_result
verify_as(const char *text, const struct jid *j)
{
	struct jwt t;
	char why[512];
	enum jwt_result r, quiet;

	r = jwt_verify(text, strlen(text), j, &dom, NOW, &t, why, sizeof(why));
	/* The helper's path (no explanation) says the same. */
	quiet = jwt_verify(text, strlen(text), j, &dom, NOW, &t, NULL, 0);
	ck_assert_int_eq(r, quiet);
	return r;
}

static enum jwt_result
verify(const char *text)
{
	return verify_as(text, BOB);
}

/* The claims as written, signed well by kid. */
static enum jwt_result
claims_verdict(const char *kid, const char *claims)
{
	char header[128], out[8192];

	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
	    alg_of(kid), kid);
	raw_token(header, strlen(header), claims, strlen(claims), alg_of(kid),
	    signer_of(kid), hs_secret, sizeof(hs_secret), out);
	return verify(out);
}

/* The header as written, over good claims, signed by signer under alg. */
static enum jwt_result
header_verdict(const char *header, const char *alg, EVP_PKEY *signer,
    const unsigned char *secret, size_t secretlen)
{
	char claims[512], out[4096];

	snprintf(claims, sizeof(claims), CLAIMS_FMT, NOW, NOW + 120, "j1", "");
	raw_token(header, strlen(header), claims, strlen(claims), alg, signer,
	    secret, secretlen, out);
	return verify(out);
}

START_TEST(every_algorithm_accepted)
{
	static const char *const kids[] = { "ed", "es", "rs", "ps", "hs" };
	char t[4096];
	size_t i;

	for (i = 0; i < 5; i++) {
		token(kids[i], "j1", "", t);
		ck_assert_msg(jwt_shaped(t, strlen(t)), "%s", kids[i]);
		ck_assert_msg(verify(t) == JWT_VALID, "%s: %d", kids[i],
		    verify(t));
	}
}
END_TEST

/*
 * A key set larger than the JSON parser's arena (16 KiB: 32 keys, each
 * with a note of its own): what does not fit is allocated apart, and
 * every key, the last too, still verifies; and tokens after it are
 * parsed as before.
 */
START_TEST(key_set_larger_than_the_arena)
{
	static char set[65536];
	char jwk[2048], kid[16], note[600], t[4096], err[512];
	struct jwt_domain big = dom;
	size_t used;
	int i;

	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	used = (size_t)snprintf(set, sizeof(set), "{\"keys\":[");
	for (i = 0; i < 32; i++) {
		snprintf(kid, sizeof(kid), "r%d", i);
		jwk_of(rs, kid, "RS256", jwk, sizeof(jwk));
		/* (the JWK's closing brace taken back for the note) */
		used += (size_t)snprintf(set + used, sizeof(set) - used,
		    "%s%.*s,\"note\":\"%s\"}", i > 0 ? "," : "",
		    (int)strlen(jwk) - 1, jwk, note);
	}
	snprintf(set + used, sizeof(set) - used, "]}");
	ck_assert_uint_gt(strlen(set), 32000);
	big.keys = jwks_load(write_file("big.jwks", set, 0600), err);
	ck_assert_msg(big.keys != NULL, "%s", err);
	ck_assert_uint_eq(big.keys->n, 32);
	token("rs", "j1", "", t);
	ck_assert_int_eq(verify(t), JWT_VALID);
	/* (the same key's token under the last kid of the big set) */
	{
		char header[64], claims[512];
		struct jwt parsed;

		snprintf(header, sizeof(header), "{\"alg\":\"RS256\","
		    "\"kid\":\"r31\"}");
		snprintf(claims, sizeof(claims), CLAIMS_FMT, NOW, NOW + 120,
		    "j2", "");
		raw_token(header, strlen(header), claims, strlen(claims),
		    "RS256", rs, NULL, 0, t);
		ck_assert_int_eq(jwt_verify(t, strlen(t), BOB, &big, NOW,
		    &parsed, NULL, 0), JWT_VALID);
	}
	jwks_free(big.keys);
	token("hs", "j3", "", t);
	ck_assert_int_eq(verify(t), JWT_VALID);
}
END_TEST

START_TEST(minted_tokens_accepted)
{
	static const enum jwks_alg algs[] = { JWKS_EDDSA, JWKS_ES256,
		JWKS_RS256, JWKS_PS256 };
	static const char *const kids[] = { "ed", "es", "rs", "ps" };
	struct jwt t;
	char out[4096];
	size_t i;

	strcpy(dom.issuer, "");
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(jwt_mint(BOB, AUD, "", kids[i], algs[i],
		    signer_of(kids[i]), NOW, 60, out, sizeof(out)), 0);
		ck_assert_int_eq(jwt_verify(out, strlen(out), BOB, &dom, NOW,
		    &t, NULL, 0), JWT_VALID);
		ck_assert_str_eq(t.kid, kids[i]);
		ck_assert_int_eq(t.exp, NOW + 60);
	}
}
END_TEST

START_TEST(replay_entry_binds_jti_key_and_jid)
{
	struct replay_entry a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct jwt t;
	char text[4096];

	token("ed", "same", "", text);
	ck_assert_int_eq(jwt_verify(text, strlen(text), BOB, &dom, NOW, &t,
	    NULL, 0), JWT_VALID);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, NULL, &a), 0);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, NULL, &b), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	ck_assert_int_eq(jwt_replay_entry(&t, JID("alice", "example.org"), NULL,
	    &c), 0);
	ck_assert_mem_ne(a.key, c.key, sizeof(a.key));
	ck_assert_mem_ne(a.user, c.user, sizeof(a.user));
	strcpy(t.jti, "other");
	t.jtilen = 5;
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, NULL, &d), 0);
	ck_assert_mem_ne(a.key, d.key, sizeof(a.key));
	ck_assert_mem_eq(a.user, d.user, sizeof(a.user));
}
END_TEST

/* Under store_secret, as a nonce's: its own entry, and the key's. */
START_TEST(replay_entry_keyed_with_store_secret)
{
	static const char secret[] = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7";
	static const char other[] = "XVGR73KMZH2M4XMYXVGR73KMZH2M4XMY";
	struct replay_entry plain = { 0 }, a = { 0 }, b = { 0 }, c = { 0 };
	uint8_t user[REPLAY_USER_LEN];
	struct mac *k1, *k2;
	struct jwt t;
	char text[4096];

	k1 = mac_new("SHA256", (const uint8_t *)secret, sizeof(secret) - 1);
	k2 = mac_new("SHA256", (const uint8_t *)other, sizeof(other) - 1);
	ck_assert_ptr_nonnull(k1);
	ck_assert_ptr_nonnull(k2);
	token("ed", "keyed", "", text);
	ck_assert_int_eq(jwt_verify(text, strlen(text), BOB, &dom, NOW, &t,
	    NULL, 0), JWT_VALID);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, NULL, &plain), 0);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, k1, &a), 0);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, k1, &b), 0);
	ck_assert_int_eq(jwt_replay_entry(&t, BOB, k2, &c), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	ck_assert_mem_ne(a.key, plain.key, sizeof(a.key));
	ck_assert_mem_ne(a.user, plain.user, sizeof(a.user));
	ck_assert_mem_ne(a.key, c.key, sizeof(a.key));
	ck_assert_mem_ne(a.user, c.user, sizeof(a.user));
	/* The JID's key alone (its seen mark's) is the entry's, either way. */
	ck_assert_int_eq(format_replay_user(BOB, k1, user), 0);
	ck_assert_mem_eq(user, a.user, sizeof(user));
	ck_assert_int_eq(format_replay_user(BOB, NULL, user), 0);
	ck_assert_mem_eq(user, plain.user, sizeof(user));
	mac_free(k1);
	mac_free(k2);
}
END_TEST

/*
 * The store's mark is kept in a JWT's exp (format_jwt.c): the end of its
 * step, whatever the time it is checked at.
 */
START_TEST(step_end_is_exp)
{
	struct format_keys keys = { .jwt = &dom };
	struct format_token ft;
	char out[4096];

	token("ed", "step", "", out);
	ck_assert_int_eq(format_jwt.check(&keys, BOB, out, strlen(out), NOW,
	    &ft), AUTH_ACCEPTED);
	ck_assert_int_eq(ft.step_end, NOW + 120);
	ck_assert_int_eq(format_jwt.check(&keys, BOB, out, strlen(out),
	    NOW + 120 + dom.leeway, &ft), AUTH_ACCEPTED);
	ck_assert_int_eq(ft.step_end, NOW + 120);
	ck_assert_int_eq(format_jwt.check(&keys, BOB, out, strlen(out),
	    NOW + 121 + dom.leeway, &ft), AUTH_EXPIRED);
}
END_TEST

START_TEST(shape_tells_the_formats_apart)
{
	char t[4096];

	token("ed", "j1", "", t);
	ck_assert(format_of(t, strlen(t)) == &format_jwt);
	ck_assert(format_of(TEST_TOKEN, strlen(TEST_TOKEN)) ==
	    &format_converse);
	ck_assert(!jwt_shaped("a.b", 3));
	ck_assert(!jwt_shaped("a.b.c.d", 7));
	ck_assert(!jwt_shaped("a .b.c", 6));
	ck_assert(jwt_shaped("a.b.c", 5));
}
END_TEST

/* --- attacks -------------------------------------------------------------- */

START_TEST(alg_none_in_any_case)
{
	static const char *const nones[] = { "none", "None", "NONE", "nOnE" };
	char header[64], claims[512], out[2048];
	size_t i;

	snprintf(claims, sizeof(claims), CLAIMS_FMT, NOW, NOW + 120, "j1", "");
	for (i = 0; i < 4; i++) {
		snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":"
		    "\"ed\"}", nones[i]);
		raw_token(header, strlen(header), claims, strlen(claims),
		    "none", NULL, NULL, 0, out);
		ck_assert_int_eq(verify(out), JWT_MALFORMED);
		/* and with a signature of the key's after all */
		ck_assert_int_eq(header_verdict(header, "EdDSA", ed, NULL, 0),
		    JWT_MALFORMED);
	}
}
END_TEST

START_TEST(public_key_as_hs256_secret)
{
	unsigned char pub[600];
	size_t n = sizeof(pub);
	BIGNUM *bn = NULL;

	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(ed, pub, &n), 1);
	ck_assert_int_eq(header_verdict("{\"alg\":\"HS256\",\"kid\":\"ed\"}",
	    "HS256", NULL, pub, n), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(EVP_PKEY_get_bn_param(rs, OSSL_PKEY_PARAM_RSA_N, &bn),
	    1);
	n = (size_t)BN_bn2bin(bn, pub);
	BN_free(bn);
	ck_assert_int_eq(header_verdict("{\"alg\":\"HS256\",\"kid\":\"rs\"}",
	    "HS256", NULL, pub, n), JWT_UNKNOWN_KEY);
}
END_TEST

START_TEST(alg_other_than_the_keys)
{
	ck_assert_int_eq(header_verdict("{\"alg\":\"ES256\",\"kid\":\"ed\"}",
	    "ES256", es, NULL, 0), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(header_verdict("{\"alg\":\"PS256\",\"kid\":\"rs\"}",
	    "PS256", rs, NULL, 0), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(header_verdict("{\"alg\":\"RS256\",\"kid\":\"ps\"}",
	    "RS256", rs, NULL, 0), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(header_verdict("{\"alg\":\"HS512\",\"kid\":\"hs\"}",
	    "HS256", NULL, hs_secret, 32), JWT_MALFORMED);
}
END_TEST

START_TEST(unknown_or_absent_kid_with_several_keys)
{
	char err[512], set[2200], k[2048];

	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":\"nope\"}",
	    "EdDSA", ed, NULL, 0), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\"}", "EdDSA", ed,
	    NULL, 0), JWT_UNKNOWN_KEY);
	/* A set of one key: a token without kid is its. */
	jwk_of(ed, "only", "EdDSA", k, sizeof(k));
	snprintf(set, sizeof(set), "{\"keys\":[%s]}", k);
	jwks_free(dom.keys);
	dom.keys = jwks_load(write_file("one.jwks", set, 0644), err);
	ck_assert_msg(dom.keys != NULL, "%s", err);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\"}", "EdDSA", ed,
	    NULL, 0), JWT_VALID);
}
END_TEST

/*
 * A header read once is remembered with the key it names, for the tokens
 * that repeat it byte for byte: that key alone. The same header over
 * another key's signature is a bad signature, another header is read
 * afresh, and a set loaded again (a rotation) remembers nothing.
 */
START_TEST(remembered_header_names_its_key_only)
{
	static const char header[] = "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}";
	char a[4096], b[4096], forged[4096], claims[512], err[512];
	char set[2200], k[2048];

	token("ed", "m1", "", a);
	ck_assert_int_eq(verify(a), JWT_VALID);
	ck_assert_ptr_eq(dom.keys->last_key, &dom.keys->keys[0]);
	snprintf(claims, sizeof(claims), CLAIMS_FMT, NOW, NOW + 120, "m2", "");
	raw_token(header, strlen(header), claims, strlen(claims), "EdDSA",
	    other_ed, NULL, 0, forged);
	ck_assert_int_eq(verify(forged), JWT_BAD_SIGNATURE);
	token("es", "m3", "", b);
	ck_assert_int_eq(verify(b), JWT_VALID);
	ck_assert_ptr_eq(dom.keys->last_key, &dom.keys->keys[1]);
	ck_assert_int_eq(header_verdict("{\"alg\":\"ES256\",\"kid\":\"ed\"}",
	    "ES256", es, NULL, 0), JWT_UNKNOWN_KEY);
	ck_assert_int_eq(verify(b), JWT_VALID);

	/* kid ed is now another key. */
	jwk_of(other_ed, "ed", "EdDSA", k, sizeof(k));
	snprintf(set, sizeof(set), "{\"keys\":[%s]}", k);
	jwks_free(dom.keys);
	dom.keys = jwks_load(write_file("rotated.jwks", set, 0644), err);
	ck_assert_msg(dom.keys != NULL, "%s", err);
	ck_assert_ptr_null(dom.keys->last_key);
	ck_assert_int_eq(verify(forged), JWT_VALID);
	ck_assert_int_eq(verify(a), JWT_BAD_SIGNATURE);
}
END_TEST

START_TEST(kid_with_path_or_control_characters)
{
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":"
	    "\"../../etc/passwd\"}", "EdDSA", ed, NULL, 0), JWT_MALFORMED);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":"
	    "\"ed\\u0000\"}", "EdDSA", ed, NULL, 0), JWT_MALFORMED);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":"
	    "\"e\\nd\"}", "EdDSA", ed, NULL, 0), JWT_MALFORMED);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":7}",
	    "EdDSA", ed, NULL, 0), JWT_MALFORMED);
}
END_TEST

START_TEST(crit_refused)
{
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":\"ed\","
	    "\"crit\":[\"exp\"],\"exp\":1}", "EdDSA", ed, NULL, 0),
	    JWT_MALFORMED);
}
END_TEST

START_TEST(keys_in_the_header_never_used)
{
	char k[2048], header[2400];

	/* The attacker's own key, carried in the header: not used. */
	jwk_of(other_ed, "ed", "EdDSA", k, sizeof(k));
	snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"ed\","
	    "\"jwk\":%s,\"jku\":\"https://evil.example/k\"}", k);
	ck_assert_int_eq(header_verdict(header, "EdDSA", other_ed, NULL, 0),
	    JWT_BAD_SIGNATURE);
}
END_TEST

START_TEST(signature_by_another_key)
{
	unsigned char wrong[32];

	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":\"ed\"}",
	    "EdDSA", other_ed, NULL, 0), JWT_BAD_SIGNATURE);
	memcpy(wrong, hs_secret, 32);
	wrong[31] ^= 1;
	ck_assert_int_eq(header_verdict("{\"alg\":\"HS256\",\"kid\":\"hs\"}",
	    "HS256", NULL, wrong, 32), JWT_BAD_SIGNATURE);
	ck_assert_int_eq(header_verdict("{\"alg\":\"ES256\",\"kid\":\"es\"}",
	    "EdDSA", ed, NULL, 0), JWT_BAD_SIGNATURE);
	ck_assert_int_eq(header_verdict("{\"alg\":\"RS256\",\"kid\":\"rs\"}",
	    "PS256", rs, NULL, 0), JWT_BAD_SIGNATURE);
}
END_TEST

START_TEST(bad_signature_wins_over_bad_claims)
{
	char header[] = "{\"alg\":\"HS256\",\"kid\":\"hs\"}", out[2048];
	unsigned char wrong[32] = { 1 };
	const char *claims = "{\"sub\":\"eve@example.org\",\"iat\":1,"
	    "\"exp\":2}";

	raw_token(header, strlen(header), claims, strlen(claims), "HS256",
	    NULL, wrong, 32, out);
	ck_assert_int_eq(verify(out), JWT_BAD_SIGNATURE);
}
END_TEST

/* Claims with the times given. */
static enum jwt_result
times(long iat, long exp, const char *extra)
{
	char claims[512];

	snprintf(claims, sizeof(claims), CLAIMS_FMT, (int)iat, (int)exp, "j1",
	    extra);
	return claims_verdict("es", claims);
}

START_TEST(exp_past)
{
	ck_assert_int_eq(times(NOW - 200, NOW - 31, ""), JWT_EXPIRED);
	ck_assert_int_eq(times(NOW - 200, NOW - 29, ""), JWT_VALID);
}
END_TEST

START_TEST(nbf_and_iat_in_the_future)
{
	char nbf[64];

	snprintf(nbf, sizeof(nbf), ",\"nbf\":%d", NOW + 31);
	ck_assert_int_eq(times(NOW, NOW + 100, nbf), JWT_NOT_YET_VALID);
	snprintf(nbf, sizeof(nbf), ",\"nbf\":%d", NOW + 29);
	ck_assert_int_eq(times(NOW, NOW + 100, nbf), JWT_VALID);
	ck_assert_int_eq(times(NOW + 31, NOW + 100, ""), JWT_NOT_YET_VALID);
	ck_assert_int_eq(times(NOW + 29, NOW + 100, ""), JWT_VALID);
}
END_TEST

START_TEST(lifetime_over_the_maximum)
{
	ck_assert_int_eq(times(NOW, NOW + 301, ""), JWT_TOO_LONG);
	ck_assert_int_eq(times(NOW, NOW + 300, ""), JWT_VALID);
	/* iat far back, exp far ahead of now */
	ck_assert_int_eq(times(NOW - 1000, NOW + 100, ""), JWT_TOO_LONG);
	ck_assert_int_eq(times(NOW + 20, NOW + 340, ""), JWT_TOO_LONG);
}
END_TEST

START_TEST(audience_absent_or_other)
{
	char c[512];

	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"iss\":\"" ISS
	    "\",\"iat\":%d,\"exp\":%d,\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":"
	    "\"xmpp:other.org\",\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%d,"
	    "\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":"
	    "[\"a\",\"" AUD "\"],\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%d,"
	    "\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_VALID);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":"
	    "[\"a\"],\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%d,"
	    "\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
}
END_TEST

START_TEST(issuer_other_or_absent)
{
	char c[512];

	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":\"" AUD
	    "\",\"iss\":\"https://evil.example\",\"iat\":%d,\"exp\":%d,"
	    "\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":\"" AUD
	    "\",\"iat\":%d,\"exp\":%d,\"jti\":\"j\"}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	strcpy(dom.issuer, "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_VALID);
}
END_TEST

START_TEST(sub_another_jid_or_case)
{
	char t[4096];

	token("ed", "j1", "", t);
	ck_assert_int_eq(verify_as(t, JID("alice", "example.org")),
	    JWT_BAD_CLAIMS);
	ck_assert_int_eq(verify_as(t, JID("bob", "example.net")),
	    JWT_BAD_CLAIMS);
	ck_assert_int_eq(verify_as(t, JID("Bob", "example.org")),
	    JWT_BAD_CLAIMS);
	ck_assert_int_eq(verify_as(t, JID("bo", "b@example.org")),
	    JWT_BAD_CLAIMS);
	ck_assert_int_eq(verify_as(t, BOB), JWT_VALID);
}
END_TEST

START_TEST(jti_absent_empty_or_too_long)
{
	char c[1024], jti[200];

	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":\"" AUD
	    "\",\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%d}", NOW, NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "", "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	memset(jti, 'x', 129);
	jti[129] = '\0';
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, jti, "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	jti[128] = '\0';
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, jti, "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_VALID);
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "a\\u0001b", "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":\"" AUD
	    "\",\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%d,\"jti\":5}", NOW,
	    NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_BAD_CLAIMS);
}
END_TEST

START_TEST(duplicate_claim_names)
{
	char c[512];

	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j",
	    ",\"sub\":\"alice@example.org\"");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	ck_assert_int_eq(header_verdict("{\"alg\":\"EdDSA\",\"kid\":\"ed\","
	    "\"alg\":\"HS256\"}", "EdDSA", ed, NULL, 0), JWT_MALFORMED);
}
END_TEST

START_TEST(deep_or_large_claims)
{
	char c[8192], extra[6000];
	size_t i, n = 0;

	n += (size_t)snprintf(extra + n, sizeof(extra) - n, ",\"x\":");
	for (i = 0; i < 20; i++)
		extra[n++] = '[';
	for (i = 0; i < 20; i++)
		extra[n++] = ']';
	extra[n] = '\0';
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j", extra);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	/* many members */
	for (i = 0, n = 0; i < 80; i++)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n,
		    ",\"m%zu\":1", i);
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j", extra);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	/* a token over 4 KiB */
	memset(extra, 'a', 4000);
	memcpy(extra, ",\"pad\":\"", 8);
	strcpy(extra + 3990, "\"");
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j", extra);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	/* a few nested levels and members are fine */
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j",
	    ",\"ctx\":{\"a\":[1,{\"b\":null}]}");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_VALID);
}
END_TEST

START_TEST(padded_or_noncanonical_base64url)
{
	char t[4096], u[4200];
	size_t n;
	char *dot;

	token("hs", "j1", "", t);
	ck_assert_int_eq(verify(t), JWT_VALID);
	/* padding after the signature (43 characters + "=") */
	snprintf(u, sizeof(u), "%s=", t);
	ck_assert_int_eq(verify(u), JWT_MALFORMED);
	/* padding inside: after the header */
	dot = strchr(t, '.');
	n = (size_t)(dot - t);
	snprintf(u, sizeof(u), "%.*s==%s", (int)n, t, dot);
	ck_assert_int_eq(verify(u), JWT_MALFORMED);
	/* the last character of the signature with its spare bits set:
	 * 32 bytes leave 2 spare bits in 43 characters */
	strcpy(u, t);
	n = strlen(u);
	u[n - 1] = u[n - 1] == 'A' ? 'B' : (char)(u[n - 1] ^ 1);
	ck_assert_int_eq(verify(u), JWT_MALFORMED);
	/* standard base64's alphabet */
	strcpy(u, t);
	for (n = 0; u[n] != '\0'; n++) {
		if (u[n] == '-')
			u[n] = '+';
		if (u[n] == '_')
			u[n] = '/';
	}
	if (strcmp(u, t) != 0)
		ck_assert_int_eq(verify(u), JWT_MALFORMED);
	ck_assert_int_eq(verify("e30.e30.*"), JWT_MALFORMED);
}
END_TEST

START_TEST(invalid_utf8)
{
	char c[512];

	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j\xc3\x28", "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j\xed\xa0\x80", "");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
}
END_TEST

START_TEST(times_as_strings_floats_or_huge)
{
	static const char *const exps[] = { "\"1700000060\"", "1700000060.0",
		"1.70000006e9", "99999999999999999999", "1e400", "-1",
		"253402300800", "true", "null" };
	char c[512];
	size_t i;

	for (i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
		snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":"
		    "\"" AUD "\",\"iss\":\"" ISS "\",\"iat\":%d,\"exp\":%s,"
		    "\"jti\":\"j\"}", NOW, exps[i]);
		ck_assert_msg(claims_verdict("ed", c) == JWT_MALFORMED, "%s",
		    exps[i]);
	}
	snprintf(c, sizeof(c), CLAIMS_FMT, NOW, NOW + 60, "j",
	    ",\"nbf\":\"0\"");
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
	snprintf(c, sizeof(c), "{\"sub\":\"bob@example.org\",\"aud\":\"" AUD
	    "\",\"iss\":\"" ISS "\",\"exp\":%d,\"jti\":\"j\"}", NOW + 60);
	ck_assert_int_eq(claims_verdict("ed", c), JWT_MALFORMED);
}
END_TEST

START_TEST(not_objects)
{
	ck_assert_int_eq(claims_verdict("ed", "[1,2]"), JWT_MALFORMED);
	ck_assert_int_eq(claims_verdict("ed", "\"bob\""), JWT_MALFORMED);
	ck_assert_int_eq(header_verdict("[\"EdDSA\"]", "EdDSA", ed, NULL, 0),
	    JWT_MALFORMED);
	ck_assert_int_eq(verify(".."), JWT_MALFORMED);
}
END_TEST

/* --- RFC examples --------------------------------------------------------- */

/* RFC 7515 A.1: HS256, the key and the token of the example. */
START_TEST(rfc7515_a1_hs256)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"oct\",\"kid\":"
	    "\"a1\",\"alg\":\"HS256\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMko"
	    "qQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";
	static const char tok[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	char err[512], bad[sizeof(tok)];
	struct jwks *s = jwks_load(write_file("a1.jwks", set, 0600), err);

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], tok,
	    strlen(tok)), 1);
	strcpy(bad, tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'X' ? 'Y' : 'X';
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], bad,
	    strlen(bad)), 0);
	jwks_free(s);
}
END_TEST

/* RFC 7515 A.3: ES256, the example's key and its signature. */
START_TEST(rfc7515_a3_es256)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":"
	    "\"P-256\",\"kid\":\"a3\",\"alg\":\"ES256\",\"x\":\"f83OJ3D2xF1Bg8v"
	    "ub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6"
	    "pCyStikYjKIWI5a0\"}]}";
	static const char tok[] = "eyJhbGciOiJFUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
	    "pmWQxfKTUJqPP3-Kg6NU1Q";
	char err[512];
	struct jwks *s = jwks_load(write_file("a3.jwks", set, 0644), err);

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], tok,
	    strlen(tok)), 1);
	jwks_free(s);
}
END_TEST

/* RFC 7520 4.4: HS256 over a payload that is not JSON (so, as a login,
 * malformed), with the key of RFC 7520 3.5 and its kid. */
START_TEST(rfc7520_4_4_hs256)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"oct\",\"kid\":"
	    "\"018c0ae5-4d9b-471b-bfd6-eef314bc7037\",\"use\":\"sig\","
	    "\"alg\":\"HS256\",\"k\":\"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6"
	    "mxCcYg\"}]}";
	static const char tok[] = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTR"
	    "kOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1"
	    "c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB"
	    "0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJ"
	    "lzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6K"
	    "ThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";
	char err[512];
	struct jwks *s = jwks_load(write_file("7520.jwks", set, 0600), err);

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], tok,
	    strlen(tok)), 1);
	jwks_free(dom.keys);
	dom.keys = s;
	ck_assert_int_eq(verify(tok), JWT_MALFORMED);
}
END_TEST

/* RFC 7520 4.1: RS256 (RSASSA-PKCS1-v1_5) with the RSA key of RFC 7520 3.4,
 * over the same prose payload as 4.4: its signature verifies, one changed
 * character makes it fail, and as a login it is malformed, not a bad
 * signature. */
START_TEST(rfc7520_4_1_rs256)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":"
	    "\"bilbo.baggins@hobbiton.example\",\"use\":\"sig\",\"alg\":"
	    "\"RS256\",\"n\":\"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4"
	    "rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_N"
	    "sYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-"
	    "OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0"
	    "FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhu"
	    "axwUkRz5iaiQkqgc5gHdrNP5zw\",\"e\":\"AQAB\"}]}";
	static const char tok[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2d"
	    "pbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzL"
	    "CBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9h"
	    "ZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGt"
	    "ub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.MRjdkly7_-oTPT"
	    "S3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx9"
	    "96ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuY"
	    "v746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9Uz"
	    "pERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-Zn"
	    "mKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg";
	char err[512], bad[sizeof(tok)];
	struct jwks *s = jwks_load(write_file("7520-rsa.jwks", set, 0644),
	    err);

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_int_eq(s->keys[0].alg, JWKS_RS256);
	ck_assert_int_eq(s->keys[0].bits, 2048);
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], tok,
	    strlen(tok)), 1);
	/* A changed signature, then a changed payload. */
	strcpy(bad, tok);
	bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], bad,
	    strlen(bad)), 0);
	strcpy(bad, tok);
	bad[80] = bad[80] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], bad,
	    strlen(bad)), 0);
	jwks_free(dom.keys);
	dom.keys = s;
	ck_assert_int_eq(verify(tok), JWT_MALFORMED);
}
END_TEST

/* RFC 8037 A.1, A.3 and A.4: Ed25519, its thumbprint and signature. */
START_TEST(rfc8037_ed25519)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":"
	    "\"Ed25519\",\"kid\":\"a4\",\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS"
	    "_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
	static const char tok[] = "eyJhbGciOiJFZERTQSJ9."
	    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
	    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5B"
	    "hVsPt9g7sVvpAr_MuM0KAg";
	char err[512];
	struct jwks *s = jwks_load(write_file("a4.jwks", set, 0644), err);

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_str_eq(s->keys[0].thumbprint,
	    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	ck_assert_int_eq(jwt_signature_verifies(&s->keys[0], tok,
	    strlen(tok)), 1);
	jwks_free(s);
}
END_TEST


/* Our own vectors, published in doc/jwt.md with their keys. */
START_TEST(own_vectors)
{
	static const char set[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":"
	    "\"Ed25519\",\"kid\":\"rfc8037\",\"alg\":\"EdDSA\",\"x\":"
	    "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},{\"kty\":\"oct\","
	    "\"kid\":\"vector-hs\",\"alg\":\"HS256\",\"k\":"
	    "\"cHJvc29keS10b2tlbi1hdXRoIHRlc3QgdmVjdG9yIGtleSEh\"}]}";
	static const char *const vectors[] = {
		"eyJhbGciOiJFZERTQSIsImtpZCI6InJmYzgwMzcifQ.eyJhdWQiOiJ4bXBwOmV4"
		"YW1wbGUub3JnIiwiZXhwIjoxNzAwMDAwMDYwLCJpYXQiOjE3MDAwMDAwMDAsImp0"
		"aSI6InZlY3Rvci0xIiwic3ViIjoiYm9iQGV4YW1wbGUub3JnIn0.FYsAwPO_CZ4w"
		"0J4U2JdpOadenPj1ptdjWbKM4JzyROHVSX2LujBx9XEjHnR-zVz7vFwYUbQuq8IV"
		"lGOnqYyNCw",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6InZlY3Rvci1ocyJ9.eyJhdWQiOiJ4bXBwOmV"
		"4YW1wbGUub3JnIiwiZXhwIjoxNzAwMDAwMDYwLCJpYXQiOjE3MDAwMDAwMDAsImp"
		"0aSI6InZlY3Rvci0xIiwic3ViIjoiYm9iQGV4YW1wbGUub3JnIn0.WvEG8DG_UZY"
		"9bAzDbztDFSkw56be07tR7TqBbpV6bjQ",
	};
	char err[512];
	struct jwt t;
	size_t i;

	jwks_free(dom.keys);
	dom.keys = jwks_load(write_file("vectors.jwks", set, 0600), err);
	ck_assert_msg(dom.keys != NULL, "%s", err);
	strcpy(dom.issuer, "");
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(jwt_verify(vectors[i], strlen(vectors[i]), BOB,
		    &dom, NOW, &t, NULL, 0), JWT_VALID);
		ck_assert_str_eq(t.jti, "vector-1");
		ck_assert_int_eq(jwt_verify(vectors[i], strlen(vectors[i]), BOB,
		    &dom, NOW + 91, &t, NULL, 0), JWT_EXPIRED);
	}
}
END_TEST

/* --- the JWK Set ---------------------------------------------------------- */

static void
set_refused(const char *set, mode_t mode, const char *why)
{
	char err[512];
	struct jwks *s = jwks_load(write_file("bad.jwks", set, mode), err);

	ck_assert_msg(s == NULL, "accepted: %s", set);
	ck_assert_msg(strstr(err, why) != NULL, "%s (expected '%s')", err,
	    why);
	ck_assert_msg(strstr(err, "bad.jwks") != NULL, "%s", err);
}

START_TEST(weak_or_malformed_keys_refused)
{
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char k[2048], set[2200];

	jwk_of(small, "small", "RS256", k, sizeof(k));
	snprintf(set, sizeof(set), "{\"keys\":[%s]}", k);
	set_refused(set, 0644, "at least 2048");
	EVP_PKEY_free(small);
	set_refused("{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":"
	    "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}", 0600,
	    "no kid");
	set_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"k\":"
	    "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}", 0600,
	    "no alg");
	set_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"alg\":"
	    "\"HS256\",\"k\":\"c2hvcnQ\"}]}", 0600, "at least 32");
	set_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"alg\":"
	    "\"HS256\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}",
	    0644, "readable by other users");
	set_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"alg\":"
	    "\"none\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}",
	    0600, "no alg");
	set_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
	    "\"a\",\"alg\":\"ES256\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwI"
	    "aaPcHURo\"}]}", 0644, "takes alg EdDSA");
	set_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
	    "\"a\",\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwI"
	    "aaPcHURo\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}]}",
	    0644, "private key");
	set_refused("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":"
	    "\"a\",\"alg\":\"ES256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9"
	    "uPHvRVEU\",\"y\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}]}",
	    0644, "not a point");
	set_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
	    "\"a\",\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwI"
	    "aaPcHURo\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\","
	    "\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHU"
	    "Ro\"}]}", 0644, "each names one key");
	set_refused("{\"keys\":[]}", 0644, "no key");
	set_refused("{\"keys\":[], \"keys\":[]}", 0644, "not JSON");
	set_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
	    "\"a\",\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwI"
	    "aaPcHURo\"}]}", 0664, "writable by its group");
}
END_TEST

START_TEST(symlink_refused)
{
	char link[300], err[512];
	const char *path = write_file("real.jwks", "{\"keys\":[]}", 0644);

	snprintf(link, sizeof(link), "%s/link.jwks", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_ptr_null(jwks_load(link, err));
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
}
END_TEST

START_TEST(base64url_canonical)
{
	unsigned char out[16];

	ck_assert_int_eq(jwks_b64url_decode("QQ", 2, out), 1);
	ck_assert_int_eq(jwks_b64url_decode("QR", 2, out), -1);
	ck_assert_int_eq(jwks_b64url_decode("QQ==", 4, out), -1);
	ck_assert_int_eq(jwks_b64url_decode("Q", 1, out), -1);
	ck_assert_int_eq(jwks_b64url_decode("+/", 2, out), -1);
	ck_assert_int_eq(jwks_b64url_decode("-_8", 3, out), 2);
}
END_TEST

/* Eight characters are decoded at a time: every length round-trips, every
 * character of the alphabet at every place decodes as it should, and a
 * character next to the alphabet's ranges, at any place, is refused. */
START_TEST(base64url_every_length_and_place)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789-_";
	static const char near[] = "@[`{/:,.^+= \x7f\x80\xc1\xff";
	unsigned char raw[96], back[96];
	char text[160], bad[160];
	size_t len, i, j;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	for (len = 0; len <= sizeof(raw); len++) {
		b64(raw, len, text);
		ck_assert_int_eq(jwks_b64url_decode(text, strlen(text), back),
		    (int)len);
		ck_assert_mem_eq(back, raw, len);
	}
	/* 64 characters, each of the alphabet once, at each place in turn. */
	for (i = 0; i < 64; i++) {
		for (j = 0; j < 64; j++)
			text[j] = abc[(i + j) % 64];
		ck_assert_int_eq(jwks_b64url_decode(text, 64, back), 48);
		for (j = 0; j < 48; j++) {
			unsigned v = (unsigned)(i + j / 3 * 4) % 64 << 18 |
			    (unsigned)(i + j / 3 * 4 + 1) % 64 << 12 |
			    (unsigned)(i + j / 3 * 4 + 2) % 64 << 6 |
			    (unsigned)(i + j / 3 * 4 + 3) % 64;

			ck_assert_uint_eq(back[j], (v >> (16 - 8 * (j % 3))) &
			    0xff);
		}
	}
	for (i = 0; i < 64; i++) {
		for (j = 0; j < sizeof(near) - 1; j++) {
			memcpy(bad, text, 64);
			bad[i] = near[j];
			ck_assert_int_eq(jwks_b64url_decode(bad, 64, back), -1);
		}
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("jwt");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	ADD(tc, every_algorithm_accepted);
	ADD(tc, key_set_larger_than_the_arena);
	ADD(tc, minted_tokens_accepted);
	ADD(tc, replay_entry_binds_jti_key_and_jid);
	ADD(tc, replay_entry_keyed_with_store_secret);
	ADD(tc, step_end_is_exp);
	ADD(tc, shape_tells_the_formats_apart);
	ADD(tc, alg_none_in_any_case);
	ADD(tc, public_key_as_hs256_secret);
	ADD(tc, alg_other_than_the_keys);
	ADD(tc, unknown_or_absent_kid_with_several_keys);
	ADD(tc, remembered_header_names_its_key_only);
	ADD(tc, kid_with_path_or_control_characters);
	ADD(tc, crit_refused);
	ADD(tc, keys_in_the_header_never_used);
	ADD(tc, signature_by_another_key);
	ADD(tc, bad_signature_wins_over_bad_claims);
	ADD(tc, exp_past);
	ADD(tc, nbf_and_iat_in_the_future);
	ADD(tc, lifetime_over_the_maximum);
	ADD(tc, audience_absent_or_other);
	ADD(tc, issuer_other_or_absent);
	ADD(tc, sub_another_jid_or_case);
	ADD(tc, jti_absent_empty_or_too_long);
	ADD(tc, duplicate_claim_names);
	ADD(tc, deep_or_large_claims);
	ADD(tc, padded_or_noncanonical_base64url);
	ADD(tc, invalid_utf8);
	ADD(tc, times_as_strings_floats_or_huge);
	ADD(tc, not_objects);
	ADD(tc, rfc7515_a1_hs256);
	ADD(tc, rfc7515_a3_es256);
	ADD(tc, rfc7520_4_1_rs256);
	ADD(tc, rfc7520_4_4_hs256);
	ADD(tc, rfc8037_ed25519);
	ADD(tc, own_vectors);
	ADD(tc, weak_or_malformed_keys_refused);
	ADD(tc, symlink_refused);
	ADD(tc, base64url_canonical);
	ADD(tc, base64url_every_length_and_place);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(suite());
}
