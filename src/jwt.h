/*
 * JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515) as login
 * tokens: parsing with bounds, the signature by a key of the domain's JWK
 * Set (jwks.h), and the claims. No I/O, no clock: the caller passes the
 * time and records the jti.
 *
 *   token = base64url(header) "." base64url(claims) "." base64url(sig)
 */
#ifndef JWT_H
#define JWT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "jid.h"
#include "jwks.h"

#define JWT_MAX_LEN	     4096 /* the whole token */
#define JWT_MAX_JTI	     128
#define JWT_MAX_DEPTH	     8	  /* of the header and the claims */
#define JWT_MAX_MEMBERS	     64	  /* in either object */
#define JWT_MAX_AUDIENCES    16
#define JWT_DEFAULT_LIFETIME 300
#define JWT_DEFAULT_LEEWAY   30
#define JWT_MAX_LEEWAY	     300
#define JWT_MAX_LIFETIME     86400
#define JWT_MAX_TIME	     253402300799LL /* 9999-12-31T23:59:59Z */
#define JWT_MAX_VALUE	     256 /* jwt_audience, jwt_issuer */

/* What a domain's section says of JWTs. */
struct jwt_domain {
	struct jwks *keys; /* jwt_keys */
	char audience[JWT_MAX_VALUE + 1];
	char issuer[JWT_MAX_VALUE + 1]; /* "": any, or none */
	unsigned max_lifetime;		/* seconds */
	unsigned leeway;		/* seconds */
};

/* What the replay store needs of an accepted token. */
struct jwt {
	char kid[JWKS_MAX_KID + 1];
	char jti[JWT_MAX_JTI + 1];
	size_t jtilen;
	int64_t exp;
};

/* Why jwt_verify refused: one of these, or JWT_VALID. */
enum jwt_result {
	JWT_VALID,
	JWT_MALFORMED,	   /* the shape, base64url, JSON, a member's type */
	JWT_UNKNOWN_KEY,   /* kid names no key, or the alg is not the key's */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID, /* nbf or iat ahead */
	JWT_TOO_LONG,	   /* a lifetime over max_lifetime */
	JWT_BAD_CLAIMS,	   /* sub, aud, iss, jti */
	JWT_FAILURE,	   /* the crypto library failed */
};

/* Whether text has a JWT's shape: three base64url parts, two dots. */
int jwt_shaped(const char *text, size_t len);

/*
 * Verifies text for the JID at now with the domain's settings: the
 * header, the key its kid names, the signature, then the claims; the
 * claims are read and checked whatever the signature, and an HS256
 * signature is compared in constant time. t receives what the replay store
 * needs. If why is not NULL, it receives for people what was wrong (which
 * part or claim, expected against found); the helper passes NULL.
 */
enum jwt_result jwt_verify(const char *text, size_t len, const struct jid *,
    const struct jwt_domain *, time_t now, struct jwt *t, char *why,
    size_t whylen);

/*
 * Whether text, a JWS in compact form, carries k's signature, whatever its
 * payload: 1, 0, or -1 if the library failed. For tests and people.
 */
int jwt_signature_verifies(const struct jwks_key *k, const char *text,
    size_t len);

/*
 * The signature of msg by pkey under alg (not HS256), as JWS carries it
 * (ES256: r || s), into sig (room for 512 bytes). For minting and tests.
 * Returns 0, or -1 if the library failed.
 */
int jwt_sign(enum jwks_alg alg, EVP_PKEY *pkey, const char *msg, size_t len,
    unsigned char *sig, size_t *siglen);

/*
 * Makes a token for the JID at now, signed with pkey under alg and kid,
 * valid for lifetime seconds, with a fresh jti, into out (outlen bytes,
 * NUL-terminated). For people and tests (mint --jwt). issuer may be "".
 * Returns 0, or -1 if the library failed or out is too short.
 */
int jwt_mint(const struct jid *, const char *audience, const char *issuer,
    const char *kid, enum jwks_alg alg, EVP_PKEY *pkey, time_t now,
    unsigned lifetime, char *out, size_t outlen);

#endif
