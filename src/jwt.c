/*
 * Security rules for this file:
 * 1. Parsing with bounds, rejecting rather than repairing: at most
 *    JWT_MAX_LEN bytes; canonical base64url (no padding, no other
 *    alphabet); the header and the claims JSON objects in valid UTF-8 with
 *    no duplicate member, bounded depth and size; times integers in range.
 * 2. The key pins the algorithm: a header's alg must be its key's; "none",
 *    crit, and keys carried in the header (jku, jwk, x5u, x5c) are never
 *    used, and nothing is ever fetched.
 * 3. Constant time where there is a secret: an HS256 signature is compared
 *    with CRYPTO_memcmp, the claims are checked whatever the signature,
 *    and the two are combined with masks, never a branch on the result.
 *    A public key's signature holds no secret.
 * 4. No I/O, no clock: the caller passes the time and keeps the store.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "jwt.h"

#define MAX_SIG 512 /* bytes: RSA of 4096 bits */

/* A token cut at its dots. */
struct parts {
	const char *header, *claims, *sig;
	size_t headerlen, claimslen, siglen;
};

static void explain(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
explain(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int
jwt_shaped(const char *text, size_t len)
{
	const char *dot1, *dot2;

	if (memchr(text, ' ', len) != NULL ||
	    (dot1 = memchr(text, '.', len)) == NULL)
		return 0;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text));
	return dot2 != NULL &&
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - text)) == NULL;
}

static void
cut(const char *text, size_t len, struct parts *p)
{
	const char *dot1 = memchr(text, '.', len);
	const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 -
	    text));

	p->header = text;
	p->headerlen = (size_t)(dot1 - text);
	p->claims = dot1 + 1;
	p->claimslen = (size_t)(dot2 - p->claims);
	p->sig = dot2 + 1;
	p->siglen = len - (size_t)(p->sig - text);
}

/* Whether j nests no deeper than depth and holds few enough members. */
static int
bounded(json_t *j, int depth, size_t *members)
{
	const char *name;
	json_t *v;
	size_t i;

	if (depth > JWT_MAX_DEPTH)
		return 0;
	if (json_is_object(j)) {
		json_object_foreach(j, name, v) {
			if (++*members > JWT_MAX_MEMBERS ||
			    !bounded(v, depth + 1, members))
				return 0;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (++*members > JWT_MAX_MEMBERS ||
			    !bounded(v, depth + 1, members))
				return 0;
		}
	}
	return 1;
}

/* A part decoded and parsed: a JSON object within the bounds, or NULL. */
static json_t *
object_of(const char *b64, size_t len, const char *what, char *why,
    size_t whylen)
{
	unsigned char raw[JWT_MAX_LEN];
	json_error_t e;
	json_t *j;
	size_t members = 0;
	int n;

	if ((n = jwks_b64url_decode(b64, len, raw)) <= 0) {
		explain(why, whylen, "the %s is not base64url (RFC 7515: "
		    "letters, digits, '-' and '_', no '=' padding, the last "
		    "character canonical)", what);
		return NULL;
	}
	if ((j = json_loadb((const char *)raw, (size_t)n,
		 JSON_REJECT_DUPLICATES, &e)) == NULL) {
		explain(why, whylen, "the %s is not JSON (or not UTF-8, or "
		    "names a member twice): %s", what, e.text);
		return NULL;
	}
	if (!json_is_object(j) || !bounded(j, 1, &members)) {
		explain(why, whylen, "the %s is not a JSON object of at most "
		    "%d members nested %d deep", what, JWT_MAX_MEMBERS,
		    JWT_MAX_DEPTH);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The header: its alg (a known one) and kid (NULL if absent). */
static enum jwt_result
read_header(json_t *h, int *alg, const char **kid, size_t *kidlen,
    char *why, size_t whylen)
{
	json_t *a = json_object_get(h, "alg"), *k = json_object_get(h, "kid");
	const char *s;
	size_t i;

	if (json_object_get(h, "crit") != NULL) {
		explain(why, whylen, "the header has crit: no extension is "
		    "understood here, so none may be critical");
		return JWT_MALFORMED;
	}
	if (!json_is_string(a)) {
		explain(why, whylen, "the header has no alg");
		return JWT_MALFORMED;
	}
	if ((*alg = jwks_alg_of(json_string_value(a),
		 json_string_length(a))) < 0) {
		explain(why, whylen, "the header's alg '%.16s' is not one of "
		    "EdDSA, ES256, RS256, PS256, HS256 (none never is)",
		    json_string_value(a));
		return JWT_MALFORMED;
	}
	*kid = NULL;
	*kidlen = 0;
	if (k == NULL)
		return JWT_VALID;
	if (!json_is_string(k) || json_string_length(k) == 0 ||
	    json_string_length(k) > JWKS_MAX_KID) {
		explain(why, whylen, "the header's kid is not a string of 1 "
		    "to %d characters", JWKS_MAX_KID);
		return JWT_MALFORMED;
	}
	s = json_string_value(k);
	for (i = 0; i < json_string_length(k); i++) {
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '/' || s[i] == '\\') {
			explain(why, whylen, "the header's kid holds white "
			    "space, a control character, '/' or '\\'");
			return JWT_MALFORMED;
		}
	}
	*kid = s;
	*kidlen = json_string_length(k);
	return JWT_VALID;
}

/* The key the header names, and whose algorithm it is. */
static const struct jwks_key *
key_of(const struct jwks *set, int alg, const char *kid, size_t kidlen,
    char *why, size_t whylen)
{
	const struct jwks_key *k = jwks_find(set, kid, kidlen);

	if (k == NULL) {
		if (kid == NULL)
			explain(why, whylen, "the header has no kid, and %s "
			    "holds %zu keys: name one", set->path, set->n);
		else
			explain(why, whylen, "kid '%.*s' is not in %s",
			    (int)kidlen, kid, set->path);
		return NULL;
	}
	if ((int)k->alg != alg) {
		explain(why, whylen, "the header's alg %s is not its key's "
		    "(kid '%s' is for %s only)", jwks_alg_name((enum jwks_alg)alg),
		    k->kid, jwks_alg_name(k->alg));
		return NULL;
	}
	return k;
}

/*
 * The key of a header that is, byte for byte, the last one read and found
 * good with this set: tokens from one web application share their header,
 * which is then read once rather than at every login. The set holds it, so
 * it goes with the keys on a reload; a header names nothing secret.
 */
static const struct jwks_key *
remembered_key(const struct jwks *set, const struct parts *p)
{
	if (set->last_key == NULL || p->headerlen != set->last_headerlen ||
	    memcmp(p->header, set->last_header, p->headerlen) != 0)
		return NULL;
	return set->last_key;
}

static void
remember_key(struct jwks *set, const struct parts *p,
    const struct jwks_key *k)
{
	if (p->headerlen > sizeof(set->last_header))
		return;
	memcpy(set->last_header, p->header, p->headerlen);
	set->last_headerlen = p->headerlen;
	set->last_key = k;
}

/* ES256's r || s (RFC 7518 3.4) as the DER OpenSSL verifies. */
static int
ecdsa_der(const unsigned char *rs, unsigned char *der, size_t *derlen)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, 32, NULL), *ss = BN_bin2bn(rs + 32, 32, NULL);
	unsigned char *p = der;
	int n = -1;

	if (s != NULL && r != NULL && ss != NULL && ECDSA_SIG_set0(s, r, ss)) {
		r = ss = NULL;
		n = i2d_ECDSA_SIG(s, &p);
	}
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	if (n <= 0)
		return -1;
	*derlen = (size_t)n;
	return 0;
}

/* 1 if a public key's signature over msg verifies, 0 if not, -1: failed. */
static int
public_verify(const struct jwks_key *k, const char *msg, size_t msglen,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];
	int rc = -1;

	if (k->alg == JWKS_ES256) {
		if (siglen != 64 || ecdsa_der(sig, der, &siglen) == -1)
			rc = siglen != 64 ? 0 : -1;
		sig = der;
	}
	if (ctx == NULL || rc == 0 ||
	    EVP_MD_CTX_copy_ex(ctx, k->verifier) != 1)
		goto out;
	rc = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg,
	    msglen) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * All ones if the signature verifies, else 0; *failed if the library
 * failed. An HS256 one in constant time: the length is public, the MAC is
 * compared whole.
 */
static unsigned
signature_ok(const struct jwks_key *k, const struct parts *p,
    const unsigned char *sig, size_t siglen, unsigned *failed)
{
	const uint8_t *msg[] = { (const uint8_t *)p->header };
	const size_t len[] = { p->headerlen + 1 + p->claimslen };
	uint8_t mac[MAC_MAX_LEN];
	unsigned ok;
	int rc;

	if (k->alg != JWKS_HS256) {
		rc = public_verify(k, p->header, len[0], sig, siglen);
		*failed |= rc == -1;
		return 0U - (unsigned)(rc == 1);
	}
	*failed |= mac_compute(k->mac, msg, len, 1, mac) != 0;
	ok = (unsigned)(siglen == 32) &
	    (unsigned)(CRYPTO_memcmp(mac, sig, 32) == 0);
	explicit_bzero(mac, sizeof(mac));
	return 0U - ok;
}

/* A time claim: an integer in range, or absent (optional). */
static int
time_claim(json_t *c, const char *name, int required, int64_t *out,
    char *why, size_t whylen)
{
	json_t *v = json_object_get(c, name);

	if (v == NULL && !required) {
		*out = -1;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > JWT_MAX_TIME) {
		explain(why, whylen, "%s is %s: expected seconds since 1970 "
		    "as an integer (RFC 7519 NumericDate) up to year 9999",
		    name, v == NULL ? "missing" : "not an integer in range");
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
audience_has(json_t *aud, const char *want)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0 &&
		    json_string_length(aud) == strlen(want);
	if (!json_is_array(aud) || json_array_size(aud) > JWT_MAX_AUDIENCES)
		return 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && json_string_length(v) == strlen(want) &&
		    strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

/* sub, aud, iss and jti as the domain requires. */
static enum jwt_result
identity_claims(json_t *c, const struct jid *j, const struct jwt_domain *d,
    struct jwt *t, char *why, size_t whylen)
{
	json_t *sub = json_object_get(c, "sub"), *iss, *jti;
	const char *s;
	size_t i;

	if (!json_is_string(sub) ||
	    json_string_length(sub) != j->userlen + 1 + j->domainlen ||
	    memcmp(json_string_value(sub), j->user, j->userlen) != 0 ||
	    json_string_value(sub)[j->userlen] != '@' ||
	    memcmp(json_string_value(sub) + j->userlen + 1, j->domain,
		j->domainlen) != 0) {
		explain(why, whylen, "sub is %s%.80s%s, expected '%.*s@%.*s' "
		    "(the whole JID, in the lower case the server uses)",
		    json_is_string(sub) ? "'" : "", json_is_string(sub) ?
		    json_string_value(sub) : "missing or not a string",
		    json_is_string(sub) ? "'" : "", (int)j->userlen, j->user,
		    (int)j->domainlen, j->domain);
		return JWT_BAD_CLAIMS;
	}
	if (!audience_has(json_object_get(c, "aud"), d->audience)) {
		explain(why, whylen, "aud is missing or does not hold '%s' "
		    "(jwt_audience)", d->audience);
		return JWT_BAD_CLAIMS;
	}
	iss = json_object_get(c, "iss");
	if (d->issuer[0] != '\0' && (!json_is_string(iss) ||
	    json_string_length(iss) != strlen(d->issuer) ||
	    strcmp(json_string_value(iss), d->issuer) != 0)) {
		explain(why, whylen, "iss is not '%s' (jwt_issuer)", d->issuer);
		return JWT_BAD_CLAIMS;
	}
	jti = json_object_get(c, "jti");
	if (!json_is_string(jti) || json_string_length(jti) == 0 ||
	    json_string_length(jti) > JWT_MAX_JTI) {
		explain(why, whylen, "jti is missing, empty or longer than %d "
		    "characters: each token needs its own, for single use",
		    JWT_MAX_JTI);
		return JWT_BAD_CLAIMS;
	}
	s = json_string_value(jti);
	for (i = 0; i < json_string_length(jti); i++) {
		if (s[i] < ' ' || s[i] > '~') {
			explain(why, whylen, "jti holds a character that is "
			    "not printable ASCII");
			return JWT_BAD_CLAIMS;
		}
	}
	memcpy(t->jti, s, json_string_length(jti));
	t->jti[json_string_length(jti)] = '\0';
	t->jtilen = json_string_length(jti);
	return JWT_VALID;
}

/* exp, iat and nbf against now, the leeway and the longest lifetime. */
static enum jwt_result
time_claims(json_t *c, const struct jwt_domain *d, time_t now, struct jwt *t,
    char *why, size_t whylen)
{
	int64_t exp, iat, nbf, n = (int64_t)now, lee = d->leeway;

	if (time_claim(c, "exp", 1, &exp, why, whylen) == -1 ||
	    time_claim(c, "iat", 1, &iat, why, whylen) == -1 ||
	    time_claim(c, "nbf", 0, &nbf, why, whylen) == -1)
		return JWT_MALFORMED;
	t->exp = exp;
	if (exp + lee < n) {
		explain(why, whylen, "expired %lld s ago (exp, with a leeway of "
		    "%lld s): an old token, or the web application's clock is "
		    "behind this server's", (long long)(n - exp), (long long)lee);
		return JWT_EXPIRED;
	}
	if (nbf > n + lee || iat > n + lee) {
		explain(why, whylen, "not valid for another %lld s (%s, with a "
		    "leeway of %lld s): the web application's clock is ahead "
		    "of this server's", (long long)((nbf > iat ? nbf : iat) - n),
		    nbf > iat ? "nbf" : "iat", (long long)lee);
		return JWT_NOT_YET_VALID;
	}
	if (exp - iat > (int64_t)d->max_lifetime ||
	    exp > n + (int64_t)d->max_lifetime + lee) {
		explain(why, whylen, "a lifetime of %lld s, over jwt_max_"
		    "lifetime (%u s): make tokens that live shorter",
		    (long long)(exp - iat > exp - n ? exp - iat : exp - n),
		    d->max_lifetime);
		return JWT_TOO_LONG;
	}
	return JWT_VALID;
}

static enum jwt_result
claims_verdict(json_t *c, const struct jid *j, const struct jwt_domain *d,
    time_t now, struct jwt *t, char *why, size_t whylen)
{
	enum jwt_result r = time_claims(c, d, now, t, why, whylen);

	if (r != JWT_VALID)
		return r;
	return identity_claims(c, j, d, t, why, whylen);
}

enum jwt_result
jwt_verify(const char *text, size_t len, const struct jid *j,
    const struct jwt_domain *d, time_t now, struct jwt *t, char *why,
    size_t whylen)
{
	unsigned char sig[MAX_SIG];
	const struct jwks_key *k;
	json_t *h = NULL, *c = NULL;
	struct parts p;
	const char *kid;
	size_t kidlen;
	enum jwt_result r = JWT_MALFORMED;
	unsigned ok, failed = 0;
	int alg, n;

	memset(t, 0, sizeof(*t));
	if (len > JWT_MAX_LEN || !jwt_shaped(text, len)) {
		explain(why, whylen, "not a JWT of at most %d bytes: three "
		    "base64url parts joined by two dots", JWT_MAX_LEN);
		return JWT_MALFORMED;
	}
	cut(text, len, &p);
	if ((k = remembered_key(d->keys, &p)) == NULL &&
	    (h = object_of(p.header, p.headerlen, "header", why, whylen)) ==
	    NULL)
		goto out;
	if ((c = object_of(p.claims, p.claimslen, "claims", why, whylen)) ==
	    NULL)
		goto out;
	if (p.siglen > (MAX_SIG * 4 + 2) / 3 ||
	    (n = jwks_b64url_decode(p.sig, p.siglen, sig)) <= 0) {
		explain(why, whylen, "the signature is not base64url, or too "
		    "long");
		goto out;
	}
	if (k == NULL) {
		if ((r = read_header(h, &alg, &kid, &kidlen, why, whylen)) !=
		    JWT_VALID)
			goto out;
		if ((k = key_of(d->keys, alg, kid, kidlen, why, whylen)) ==
		    NULL) {
			r = JWT_UNKNOWN_KEY;
			goto out;
		}
		remember_key(d->keys, &p, k);
	}
	snprintf(t->kid, sizeof(t->kid), "%s", k->kid);
	ok = signature_ok(k, &p, sig, (size_t)n, &failed);
	r = claims_verdict(c, j, d, now, t, why, whylen);
	/* The signature's verdict first, without a branch on it. */
	r = (enum jwt_result)((ok & (unsigned)r) | (~ok & JWT_BAD_SIGNATURE));
	r = (enum jwt_result)((0U - failed) & JWT_FAILURE) |
	    (enum jwt_result)(~(0U - failed) & (unsigned)r);
	if (why != NULL && r == JWT_BAD_SIGNATURE)
		explain(why, whylen, "the signature is not kid '%s''s (%s): "
		    "signed with another key, or the token was changed",
		    k->kid, jwks_alg_name(k->alg));
out:
	explicit_bzero(sig, sizeof(sig));
	json_decref(h);
	json_decref(c);
	return r;
}

int
jwt_signature_verifies(const struct jwks_key *k, const char *text, size_t len)
{
	unsigned char sig[MAX_SIG];
	struct parts p;
	unsigned ok, failed = 0;
	int n;

	if (len > JWT_MAX_LEN || !jwt_shaped(text, len))
		return 0;
	cut(text, len, &p);
	if (p.siglen > (MAX_SIG * 4 + 2) / 3 ||
	    (n = jwks_b64url_decode(p.sig, p.siglen, sig)) <= 0)
		return 0;
	ok = signature_ok(k, &p, sig, (size_t)n, &failed);
	explicit_bzero(sig, sizeof(sig));
	return failed ? -1 : ok != 0;
}

/* --- minting, for people and tests -------------------------------------- */

/* ES256's DER signature as JOSE's r || s. */
static int
ecdsa_raw(const unsigned char *der, size_t derlen, unsigned char rs[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	int ok;

	if (s == NULL)
		return -1;
	ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), rs, 32) == 32 &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), rs + 32, 32) == 32;
	ECDSA_SIG_free(s);
	return ok ? 0 : -1;
}

int
jwt_sign(enum jwks_alg alg, EVP_PKEY *pkey, const char *msg, size_t len,
    unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[MAX_SIG];
	size_t derlen = sizeof(der);
	int rc = -1;

	if (ctx == NULL || EVP_DigestSignInit_ex(ctx, &pctx,
	    alg == JWKS_EDDSA ? NULL : "SHA256", NULL, NULL, pkey, NULL) != 1)
		goto out;
	if (alg == JWKS_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)msg,
		len) != 1)
		goto out;
	if (alg == JWKS_ES256) {
		rc = ecdsa_raw(der, derlen, sig);
		*siglen = 64;
	} else {
		memcpy(sig, der, derlen);
		*siglen = derlen;
		rc = 0;
	}
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* base64url of a JSON object, compact, at out (room bytes). */
static int
append_json(json_t *j, char *out, size_t room)
{
	char text[JWT_MAX_LEN];
	size_t n = json_dumpb(j, text, sizeof(text), JSON_COMPACT |
	    JSON_SORT_KEYS);

	if (n == 0 || n > sizeof(text) || n * 4 / 3 + 4 > room)
		return -1;
	jwks_b64url_encode((const unsigned char *)text, n, out);
	return 0;
}

int
jwt_mint(const struct jid *j, const char *audience, const char *issuer,
    const char *kid, enum jwks_alg alg, EVP_PKEY *pkey, time_t now,
    unsigned lifetime, char *out, size_t outlen)
{
	unsigned char id[16], sig[MAX_SIG];
	char jti[32], sub[JID_MAX_LEN + 1];
	json_t *h, *c;
	size_t used, siglen;
	int rc = -1;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return -1;
	jwks_b64url_encode(id, sizeof(id), jti);
	snprintf(sub, sizeof(sub), "%.*s@%.*s", (int)j->userlen, j->user,
	    (int)j->domainlen, j->domain);
	h = json_pack("{s:s, s:s, s:s}", "alg", jwks_alg_name(alg), "kid", kid,
	    "typ", "JWT");
	c = json_pack("{s:s, s:s, s:I, s:I, s:s}", "sub", sub, "aud", audience,
	    "iat", (json_int_t)now, "exp", (json_int_t)now + lifetime, "jti",
	    jti);
	if (c != NULL && issuer[0] != '\0')
		json_object_set_new(c, "iss", json_string(issuer));
	if (h == NULL || c == NULL || append_json(h, out, outlen) == -1)
		goto out;
	used = strlen(out);
	out[used++] = '.';
	if (append_json(c, out + used, outlen - used) == -1)
		goto out;
	used += strlen(out + used);
	if (jwt_sign(alg, pkey, out, used, sig, &siglen) == -1 ||
	    used + 1 + siglen * 4 / 3 + 4 > outlen)
		goto out;
	out[used++] = '.';
	jwks_b64url_encode(sig, siglen, out + used);
	rc = 0;
out:
	json_decref(h);
	json_decref(c);
	return rc;
}
