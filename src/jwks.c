/*
 * Security rules for this file:
 * 1. The file is checked with fstat on the descriptor that is read, opened
 *    without following a symbolic link: a regular file owned by root or by
 *    us, writable by nobody else (else another user could add a key); if
 *    it holds an HS256 secret, unreadable by others too, as the config is.
 * 2. Every key pins its algorithm (alg required) and is named (kid
 *    required, unique); weak or malformed keys are refused, never skipped.
 * 3. HS256 secrets live only in locked memory (the file's text, the
 *    decoded key) and OpenSSL's secure heap (the keyed HMAC), wiped after
 *    use; JSON text is parsed with an allocator that wipes what it frees.
 * 4. Errors name the file and the key (its kid or its place), never a
 *    value.
 */
#include <sys/stat.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "jwks.h"
#include "secmem.h"

#define MAX_FILE_SIZE 65536

static const char *const alg_names[] = {
	[JWKS_EDDSA] = "EdDSA",
	[JWKS_ES256] = "ES256",
	[JWKS_RS256] = "RS256",
	[JWKS_PS256] = "PS256",
	[JWKS_HS256] = "HS256",
};

const char *
jwks_alg_name(enum jwks_alg a)
{
	return alg_names[a];
}

int
jwks_alg_of(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (strlen(alg_names[i]) == len &&
		    memcmp(alg_names[i], name, len) == 0)
			return (int)i;
	return -1;
}

/* --- base64url ---------------------------------------------------------- */

/*
 * A character's value, or -1: by arithmetic, not by branches or a table,
 * so that decoding an HS256 signature takes the same time whatever its
 * bytes. (lo - 1 - c) & (c - hi - 1) is negative exactly when c is in
 * lo..hi; shifted, it is a mask.
 */
static int
b64url_value(unsigned char ch)
{
	int c = ch, v = -1;

	v += (((0x40 - c) & (c - 0x5b)) >> 8) & (c - 64); /* A-Z: 0-25 */
	v += (((0x60 - c) & (c - 0x7b)) >> 8) & (c - 70); /* a-z: 26-51 */
	v += (((0x2f - c) & (c - 0x3a)) >> 8) & (c + 5);  /* 0-9: 52-61 */
	v += (((0x2c - c) & (c - 0x2e)) >> 8) & 63;	  /* '-': 62 */
	v += (((0x5e - c) & (c - 0x60)) >> 8) & 64;	  /* '_': 63 */
	return v;
}

/*
 * Eight characters at once, by the same arithmetic on each byte of a 64-bit
 * word (the bytes stay below 0x80, so no carry or borrow crosses a byte):
 * c + (0x80 - lo) has its high bit set exactly when c >= lo, c + (0x7f -
 * hi) exactly when c > hi. Returns the eight 6-bit values, one a byte (the
 * first character's in the lowest), and in *ok all ones if every byte was
 * of the alphabet.
 */
#define EACH(b) ((uint64_t)(b) * 0x0101010101010101ULL)
#define HIGH	EACH(0x80)

static uint64_t
in_range(uint64_t w, unsigned lo, unsigned hi)
{
	uint64_t in = (w + EACH(0x80 - lo)) & ~(w + EACH(0x7f - hi)) & HIGH;

	return (in >> 7) * 0xff; /* each byte 0xff or 0 */
}

/* Eight 6-bit values, one a byte, as the six bytes they encode. */
static void
b64url_pack8(uint64_t v, unsigned char *out)
{
	const uint64_t six = EACH(0x3f) & 0x00ff00ff00ff00ffULL;
	const uint64_t twelve = 0x00000fff00000fffULL;
	uint32_t lo, hi;

	/* Pairs of values into 12 bits, pairs of those into 24. */
	v = ((v & six) << 6) | ((v >> 8) & six);
	v = ((v & twelve) << 12) | ((v >> 16) & twelve);
	lo = (uint32_t)v;
	hi = (uint32_t)(v >> 32);
	out[0] = (unsigned char)(lo >> 16);
	out[1] = (unsigned char)(lo >> 8);
	out[2] = (unsigned char)lo;
	out[3] = (unsigned char)(hi >> 16);
	out[4] = (unsigned char)(hi >> 8);
	out[5] = (unsigned char)hi;
}

static uint64_t
b64url_values8(const char *in, uint64_t *ok)
{
	uint64_t w, upper, lower, digit, dash, under;

	memcpy(&w, in, 8);
	w = le64toh(w);
	*ok = 0U - (uint64_t)((w & HIGH) == 0);
	w &= ~HIGH;
	upper = in_range(w, 'A', 'Z');
	lower = in_range(w, 'a', 'z');
	digit = in_range(w, '0', '9');
	dash = in_range(w, '-', '-');
	under = in_range(w, '_', '_');
	*ok &= 0U - (uint64_t)((upper | lower | digit | dash | under) ==
	    ~(uint64_t)0);
	/* Masked first, so that no byte borrows or carries. */
	return ((w & upper) - (EACH('A') & upper)) |
	    ((w & lower) - (EACH('a' - 26) & lower)) |
	    ((w & digit) + (EACH(52 - '0') & digit)) | (EACH(62) & dash) |
	    (EACH(63) & under);
}

int
jwks_b64url_decode(const char *in, size_t len, unsigned char *out)
{
	uint64_t v, ok;
	uint32_t acc = 0;
	size_t i = 0, n = 0;
	int c, bits = 0;

	if (len % 4 == 1 || len > (size_t)1 << 20)
		return -1;
	for (; len - i >= 8; i += 8) {
		v = b64url_values8(in + i, &ok);
		if (!ok)
			return -1;
		b64url_pack8(v, out + n);
		n += 6;
	}
	for (; i < len; i++) {
		if ((c = b64url_value((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	/* Canonical: the bits left over are zero. */
	if (acc != 0)
		return -1;
	return (int)n;
}

void
jwks_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	size_t i;
	int bits = 0;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			*out++ = abc[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		*out++ = abc[(acc << (6 - bits)) & 63];
	*out = '\0';
}

/* --- a wiping allocator for jansson ------------------------------------- */

/*
 * jansson allocates each value of a document and frees them all when the
 * document is released: a token's header and claims, a key set. They are
 * taken in turn from one arena and wiped at once when the last of them is
 * freed; what does not fit comes from malloc, and is wiped when it is
 * freed. An allocation per value, from malloc and wiped one by one, was a
 * tenth of a JWT's verification. The arena is locked memory, kept out of
 * core dumps, as the key set's text is: an HS256 key's value is parsed
 * into it (a set of up to about 16 KB fits whole).
 */
#define ARENA_SIZE 16384

static unsigned char *arena; /* page-aligned; NULL: malloc only */
static size_t arena_used, arena_live;

static void *
arena_take(size_t len)
{
	size_t need = (len + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
	    sizeof(max_align_t);
	void *p;

#ifdef __SANITIZE_ADDRESS__
	/* (each value its own allocation, so that a read past one is seen) */
	return NULL;
#endif
	if (arena == NULL || need < len || need > ARENA_SIZE - arena_used)
		return NULL;
	p = arena + arena_used;
	arena_used += need;
	arena_live++;
	return p;
}

static int
in_arena(const void *q)
{
	return arena != NULL && (uintptr_t)q >= (uintptr_t)arena &&
	    (uintptr_t)q < (uintptr_t)arena + ARENA_SIZE;
}

static void *
wiping_malloc(size_t len)
{
	size_t *p;
	void *q;

	if ((q = arena_take(len)) != NULL)
		return q;
	if ((p = malloc(len + sizeof(max_align_t))) == NULL)
		return NULL;
	*p = len;
	return (char *)p + sizeof(max_align_t);
}

static void
wiping_free(void *q)
{
	char *p;

	if (q == NULL)
		return;
	if (in_arena(q)) {
		if (--arena_live == 0) {
			explicit_bzero(arena, arena_used);
			arena_used = 0;
		}
		return;
	}
	p = (char *)q - sizeof(max_align_t);
	explicit_bzero(q, *(size_t *)(void *)p);
	free(p);
}

/* Once, before any JSON is parsed: the allocator, and the hash seed read
 * now, while the file system is there (not under the sandbox). */
static void
json_setup(void)
{
	static int done;

	if (done)
		return;
	arena = secmem_alloc(ARENA_SIZE);
	json_set_alloc_funcs(wiping_malloc, wiping_free);
	json_object_seed(0);
	done = 1;
}

/* --- loading ------------------------------------------------------------ */

struct loader {
	const char *path;
	char *err;
	struct jwks *set;
	size_t index; /* of the key being read, from 1 */
};

static int fail(struct loader *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct loader *l, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->index > 0)
		snprintf(l->err, JWKS_ERR_LEN, "%s: key %zu%s%.64s%s: %s",
		    l->path, l->index,
		    l->set->keys[l->index - 1].kid[0] ? " (kid " : "",
		    l->set->keys[l->index - 1].kid,
		    l->set->keys[l->index - 1].kid[0] ? ")" : "", msg);
	else
		snprintf(l->err, JWKS_ERR_LEN, "%s: %s", l->path, msg);
	return -1;
}

static int
check_file(struct loader *l, int fd, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return fail(l, "%s", strerror(errno));
	if (!S_ISREG(st->st_mode))
		return fail(l, "not a regular file");
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return fail(l, "owned by uid %u; it must belong to root or to "
		    "the user running the helper (chown root)",
		    (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return fail(l, "writable by its group or others, who could "
		    "add a key of their own; fix with: chmod go-w %s",
		    l->path);
	if (st->st_size > MAX_FILE_SIZE)
		return fail(l, "larger than %d bytes; is it a JWK Set?",
		    MAX_FILE_SIZE);
	return 0;
}

/* The file's text in locked memory of *size bytes; *len are text. */
static char *
read_text(struct loader *l, size_t *size, size_t *len, struct stat *st)
{
	char *buf = NULL;
	ssize_t n;
	int fd;

	if ((fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
		 O_NOFOLLOW)) == -1) {
		fail(l, "cannot open: %s%s", strerror(errno), errno == ELOOP ?
		    " (a symbolic link: name the file itself)" : "");
		return NULL;
	}
	if (check_file(l, fd, st) == -1)
		goto out;
	*size = (size_t)st->st_size + 1;
	if ((buf = secmem_alloc(*size)) == NULL) {
		fail(l, "cannot allocate memory: %s", strerror(errno));
		goto out;
	}
	*len = 0;
	while ((n = read(fd, buf + *len, *size - *len)) > 0)
		*len += (size_t)n;
	if (n == -1 || *len == *size) {
		fail(l, "%s", n == -1 ? strerror(errno) : "changed while read");
		secmem_free(buf, *size);
		buf = NULL;
	}
out:
	close(fd);
	return buf;
}

/* A member that must be a base64url string of want bytes (0: any, <= max). */
static int
member_bytes(struct loader *l, json_t *key, const char *name,
    unsigned char *out, size_t want, size_t max, size_t *got)
{
	json_t *v = json_object_get(key, name);
	const char *s;
	int n;

	if (!json_is_string(v))
		return fail(l, "'%s' is missing or not a string", name);
	s = json_string_value(v);
	if (json_string_length(v) > (max * 4 + 2) / 3 ||
	    (n = jwks_b64url_decode(s, json_string_length(v), out)) < 0)
		return fail(l, "'%s' is not base64url without padding (RFC "
		    "7515), or too long", name);
	if ((want != 0 && (size_t)n != want) || n == 0)
		return fail(l, "'%s' is %d bytes, expected %zu", name, n, want);
	*got = (size_t)n;
	return 0;
}

static const char *
string_member(json_t *key, const char *name)
{
	json_t *v = json_object_get(key, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* RFC 7638: SHA-256 of the required members, in order, no white space. */
static int
thumbprint(struct jwks_key *k, const char *canonical)
{
	unsigned char h[32];
	unsigned int hlen = 0;

	if (!EVP_Digest(canonical, strlen(canonical), h, &hlen, EVP_sha256(),
		NULL))
		return -1;
	jwks_b64url_encode(h, hlen, k->thumbprint);
	return 0;
}

static int
load_okp(struct loader *l, json_t *j, struct jwks_key *k)
{
	unsigned char x[32];
	char canonical[128];
	const char *crv = string_member(j, "crv");
	size_t n;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
		return fail(l, "an OKP key must have crv Ed25519");
	if (k->alg != JWKS_EDDSA)
		return fail(l, "an Ed25519 key takes alg EdDSA, not %s",
		    jwks_alg_name(k->alg));
	if (member_bytes(l, j, "x", x, 32, 32, &n) == -1)
		return -1;
	if ((k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x,
		 32)) == NULL)
		return fail(l, "not an Ed25519 public key");
	k->bits = 256;
	snprintf(canonical, sizeof(canonical),
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
	    string_member(j, "x"));
	return thumbprint(k, canonical);
}

/* A public key from its parameters (OpenSSL's names). */
static EVP_PKEY *
pkey_from(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY *pkey = NULL;

	if (ctx == NULL || params == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static int
public_check(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int
load_ec(struct loader *l, json_t *j, struct jwks_key *k)
{
	unsigned char point[65];
	char canonical[256];
	const char *crv = string_member(j, "crv");
	OSSL_PARAM_BLD *bld;
	size_t n;

	if (crv == NULL || strcmp(crv, "P-256") != 0)
		return fail(l, "an EC key must have crv P-256");
	if (k->alg != JWKS_ES256)
		return fail(l, "a P-256 key takes alg ES256, not %s",
		    jwks_alg_name(k->alg));
	point[0] = 4;
	if (member_bytes(l, j, "x", point + 1, 32, 32, &n) == -1 ||
	    member_bytes(l, j, "y", point + 33, 32, 32, &n) == -1)
		return -1;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		"prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
		point, sizeof(point)))
		k->pkey = NULL;
	else
		k->pkey = pkey_from("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (k->pkey == NULL || !public_check(k->pkey))
		return fail(l, "x and y are not a point of P-256");
	k->bits = 256;
	snprintf(canonical, sizeof(canonical), "{\"crv\":\"P-256\",\"kty\":"
	    "\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", string_member(j, "x"),
	    string_member(j, "y"));
	return thumbprint(k, canonical);
}

static int
load_rsa(struct loader *l, json_t *j, struct jwks_key *k)
{
	unsigned char n[1024], e[8];
	size_t nlen, elen;
	char *canonical;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc;

	if (k->alg != JWKS_RS256 && k->alg != JWKS_PS256)
		return fail(l, "an RSA key takes alg RS256 or PS256, not %s",
		    jwks_alg_name(k->alg));
	if (member_bytes(l, j, "n", n, 0, sizeof(n), &nlen) == -1 ||
	    member_bytes(l, j, "e", e, 0, sizeof(e), &elen) == -1)
		return -1;
	if (n[0] == 0)
		return fail(l, "'n' has a leading zero byte (RFC 7518 6.3.1.1)");
	if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		k->pkey = NULL;
	else
		k->pkey = pkey_from("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	if (k->pkey == NULL)
		return fail(l, "not an RSA public key");
	k->bits = EVP_PKEY_get_bits(k->pkey);
	if (k->bits < JWKS_MIN_RSA)
		return fail(l, "an RSA key of %d bits; at least %d are needed",
		    k->bits, JWKS_MIN_RSA);
	if ((canonical = malloc(strlen(string_member(j, "n")) + 64)) == NULL)
		return fail(l, "out of memory");
	sprintf(canonical, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
	    string_member(j, "e"), string_member(j, "n"));
	rc = thumbprint(k, canonical);
	free(canonical);
	return rc;
}

static int
load_oct(struct loader *l, json_t *j, struct jwks_key *k)
{
	size_t max = 512, n = 0;
	unsigned char *secret;
	int rc = 0;

	if (k->alg != JWKS_HS256)
		return fail(l, "an oct key takes alg HS256, not %s",
		    jwks_alg_name(k->alg));
	if ((secret = secmem_alloc(max)) == NULL)
		return fail(l, "cannot allocate memory: %s", strerror(errno));
	if (member_bytes(l, j, "k", secret, 0, max, &n) == -1)
		rc = -1;
	else if (n < JWKS_MIN_SECRET)
		rc = fail(l, "an HS256 key of %zu bytes; at least %d are "
		    "needed (RFC 7518 3.2)", n, JWKS_MIN_SECRET);
	else if ((k->mac = mac_new("SHA256", secret, n)) == NULL)
		rc = fail(l, "cannot set up HMAC (OpenSSL)");
	secmem_free(secret, max);
	if (rc == 0) {
		/* A thumbprint of a secret would be a test of it. */
		snprintf(k->thumbprint, sizeof(k->thumbprint), "(secret)");
		k->bits = (int)n * 8;
		l->set->secrets = 1;
	}
	return rc;
}

/* The key's verification, set up once (see jwks.h). */
static int
set_verifier(struct loader *l, struct jwks_key *k)
{
	EVP_PKEY_CTX *pctx = NULL;

	if (k->pkey == NULL)
		return 0;
	if ((k->verifier = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(k->verifier, &pctx,
		k->alg == JWKS_EDDSA ? NULL : "SHA256", NULL, NULL, k->pkey,
		NULL) != 1 ||
	    (k->alg == JWKS_PS256 &&
		(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) !=
		    1 || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    RSA_PSS_SALTLEN_DIGEST) != 1)))
		return fail(l, "cannot set up its verification (OpenSSL)");
	return 0;
}

static int
load_kind(struct loader *l, json_t *j, struct jwks_key *k, const char *kty)
{
	if (strcmp(kty, "OKP") == 0)
		return load_okp(l, j, k);
	if (strcmp(kty, "EC") == 0)
		return load_ec(l, j, k);
	if (strcmp(kty, "RSA") == 0)
		return load_rsa(l, j, k);
	if (strcmp(kty, "oct") == 0)
		return load_oct(l, j, k);
	return fail(l, "kty '%.16s' is not OKP, EC, RSA or oct", kty);
}

static int
load_key(struct loader *l, json_t *j, struct jwks_key *k)
{
	const char *kty, *kid, *alg, *use;
	size_t i;
	int a;

	if (!json_is_object(j))
		return fail(l, "not a JSON object");
	if ((kid = string_member(j, "kid")) == NULL || kid[0] == '\0' ||
	    strlen(kid) > JWKS_MAX_KID)
		return fail(l, "no kid (every key needs one, of 1 to %d "
		    "characters, so that tokens can name it)", JWKS_MAX_KID);
	for (i = 0; kid[i] != '\0'; i++)
		if (kid[i] <= ' ' || kid[i] > '~' || kid[i] == '/' ||
		    kid[i] == '\\')
			return fail(l, "its kid holds white space, a control "
			    "character, '/' or '\\'");
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	for (i = 0; i + 1 < l->index; i++)
		if (strcmp(l->set->keys[i].kid, kid) == 0)
			return fail(l, "the kid of key %zu too: each names one "
			    "key", i + 1);
	if ((alg = string_member(j, "alg")) == NULL ||
	    (a = jwks_alg_of(alg, strlen(alg))) < 0)
		return fail(l, "no alg, or not one of EdDSA, ES256, RS256, "
		    "PS256, HS256 (every key pins its algorithm)");
	k->alg = (enum jwks_alg)a;
	if ((use = string_member(j, "use")) != NULL && strcmp(use, "sig") != 0)
		return fail(l, "use is '%.16s': a key for tokens has use sig",
		    use);
	if ((kty = string_member(j, "kty")) == NULL)
		return fail(l, "no kty");
	if (strcmp(kty, "oct") != 0 && (json_object_get(j, "d") != NULL ||
	    json_object_get(j, "p") != NULL))
		return fail(l, "holds a private key ('d'): this file is for "
		    "the XMPP host, which needs only the public key; publish "
		    "the public part alone and keep the private key with the "
		    "web application");
	if (load_kind(l, j, k, kty) == -1)
		return -1;
	return set_verifier(l, k);
}

static int
load_keys(struct loader *l, json_t *root)
{
	json_t *keys = json_object_get(root, "keys"), *j;
	size_t i;

	if (!json_is_object(root) || !json_is_array(keys))
		return fail(l, "not a JWK Set: expected {\"keys\": [...]} "
		    "(RFC 7517 section 5)");
	if (json_array_size(keys) == 0)
		return fail(l, "holds no key");
	if (json_array_size(keys) > JWKS_MAX_KEYS)
		return fail(l, "holds %zu keys; at most %d", json_array_size(keys),
		    JWKS_MAX_KEYS);
	json_array_foreach(keys, i, j) {
		l->index = i + 1;
		l->set->n = i + 1;
		if (load_key(l, j, &l->set->keys[i]) == -1)
			return -1;
	}
	l->index = 0;
	return 0;
}

struct jwks *
jwks_load(const char *path, char err[JWKS_ERR_LEN])
{
	struct loader l = { .path = path, .err = err };
	json_error_t jerr;
	struct stat st;
	json_t *root = NULL;
	size_t size = 0, len = 0;
	char *text;
	int rc = -1;

	json_setup();
	if ((l.set = calloc(1, sizeof(*l.set))) == NULL) {
		snprintf(err, JWKS_ERR_LEN, "%s: out of memory", path);
		return NULL;
	}
	snprintf(l.set->path, sizeof(l.set->path), "%s", path);
	if ((text = read_text(&l, &size, &len, &st)) == NULL)
		goto out;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		fail(&l, "line %d: not JSON: %s", jerr.line, jerr.text);
	else if (load_keys(&l, root) == 0)
		rc = 0;
	if (rc == 0 && l.set->secrets && (st.st_mode & S_IRWXO))
		rc = fail(&l, "holds an HS256 secret but is readable by other "
		    "users; fix with: chmod o-rwx %s (and make new secrets "
		    "if others could read these)", path);
	l.set->others_can_read = (st.st_mode & S_IROTH) != 0;
	l.set->st = st;
out:
	json_decref(root);
	if (text != NULL)
		secmem_free(text, size);
	if (rc == -1) {
		jwks_free(l.set);
		return NULL;
	}
	return l.set;
}

void
jwks_free(struct jwks *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		EVP_MD_CTX_free(s->keys[i].verifier);
		EVP_PKEY_free(s->keys[i].pkey);
		mac_free(s->keys[i].mac);
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const struct jwks_key *
jwks_find(const struct jwks *s, const char *kid, size_t kidlen)
{
	size_t i;

	if (kid == NULL)
		return s->n == 1 ? &s->keys[0] : NULL;
	for (i = 0; i < s->n; i++)
		if (strlen(s->keys[i].kid) == kidlen &&
		    memcmp(s->keys[i].kid, kid, kidlen) == 0)
			return &s->keys[i];
	return NULL;
}
