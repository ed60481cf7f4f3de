/*
 * JWK Sets (RFC 7517): the public keys (and HS256 secrets) a domain's JWTs
 * are signed with, read from a file at start-up and on reload. Each key
 * carries its kid and the one algorithm it may be used with.
 */
#ifndef JWKS_H
#define JWKS_H

#include <sys/stat.h>

#include <stddef.h>

#include <openssl/evp.h>

#include "mac.h"

#define JWKS_MAX_KEYS	 32
#define JWKS_MAX_KID	 128
#define JWKS_ERR_LEN	 512
#define JWKS_MIN_RSA	 2048
#define JWKS_MIN_SECRET	 32 /* bytes of an HS256 key */
#define JWKS_THUMB_LEN	 43 /* base64url of SHA-256 */
#define JWKS_HEADER_MEMO 512 /* bytes of a token header remembered */

enum jwks_alg { JWKS_EDDSA, JWKS_ES256, JWKS_RS256, JWKS_PS256, JWKS_HS256 };

struct jwks_key {
	char kid[JWKS_MAX_KID + 1];
	enum jwks_alg alg;
	EVP_PKEY *pkey;	 /* the public key; NULL for HS256 */
	/* A verification set up once for pkey and its algorithm, copied
	 * for each token rather than set up again (digest and methods
	 * fetched) for each. */
	EVP_MD_CTX *verifier;
	struct mac *mac; /* HS256: HMAC-SHA256 keyed, in OpenSSL's secure heap */
	int bits;
	char thumbprint[JWKS_THUMB_LEN + 1]; /* RFC 7638 */
};

struct jwks {
	char path[4096];
	struct jwks_key keys[JWKS_MAX_KEYS];
	size_t n;
	int secrets;	    /* holds HS256 keys */
	int others_can_read; /* the file's mode lets others read it */
	struct stat st;	     /* the file as it was read */
	/* The last token header (its base64url text) that jwt_verify read
	 * and found naming a key of this set, and that key: see jwt.c. */
	char last_header[JWKS_HEADER_MEMO];
	size_t last_headerlen;
	const struct jwks_key *last_key;
};

/* "EdDSA", "ES256", ... */
const char *jwks_alg_name(enum jwks_alg);

/* The algorithm named exactly name; -1 if none is. */
int jwks_alg_of(const char *name, size_t len);

/*
 * Reads the JWK Set at path: a regular file, not a symbolic link, owned by
 * root or by us, writable by nobody else; one that holds an HS256 key is
 * also unreadable by others. Every key must carry kid (unique in the set)
 * and alg, and be of a kind its alg takes: OKP Ed25519 (EdDSA), EC P-256
 * (ES256), RSA of 2048 bits or more (RS256, PS256), oct of 32 bytes or
 * more (HS256); a private member in a public key is refused. Returns the
 * set, or NULL with why (naming the file and the key, never a value) in
 * err.
 */
struct jwks *jwks_load(const char *path, char err[JWKS_ERR_LEN]);
void jwks_free(struct jwks *);

/* The key whose kid is kid; NULL without kid if the set holds one key. */
const struct jwks_key *jwks_find(const struct jwks *, const char *kid,
    size_t kidlen);

/*
 * Canonical base64url without padding (RFC 7515 section 2): decodes
 * in[0..len) into out (room for len * 3 / 4 bytes). Returns the number of
 * bytes, or -1 if in is not exactly the encoding of those bytes.
 */
int jwks_b64url_decode(const char *in, size_t len, unsigned char *out);

/* Encodes in[0..len) into out (room for 4 * len / 3 + 3), NUL-terminated. */
void jwks_b64url_encode(const unsigned char *in, size_t len, char *out);

#endif
