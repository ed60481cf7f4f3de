/*
 * Security rules for this file:
 * 1. A format is chosen by the token's shape alone, which is public: never
 *    by trying one format, then another, in a way the time to answer shows.
 * 2. Replay keys show nothing in clear: a token's id and its JID only go
 *    into the store hashed, keyed with store_secret when the config has
 *    one, so that a copy of the store tells nothing of who logged in.
 */
#include <string.h>

#include <openssl/evp.h>

#include "format.h"

/* The last takes whatever the others' shapes do not. */
static const struct format *const formats[] = {
	&format_jwt,
	&format_converse,
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const struct format *
format_of(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < NFORMATS; i++)
		if (formats[i]->shaped(text, len))
			return formats[i];
	return formats[NFORMATS - 1];
}

/* SHA-256 of prefix (with its NUL) and user@domain, into out. */
static int
hash_with_jid(EVP_MD_CTX *ctx, const EVP_MD *sha256, const void *prefix,
    size_t prefixlen, const struct jid *j, uint8_t *out)
{
	return EVP_DigestInit_ex2(ctx, sha256, NULL) &&
	    EVP_DigestUpdate(ctx, prefix, prefixlen) &&
	    EVP_DigestUpdate(ctx, "", 1) &&
	    EVP_DigestUpdate(ctx, j->user, j->userlen) &&
	    EVP_DigestUpdate(ctx, "@", 1) &&
	    EVP_DigestUpdate(ctx, j->domain, j->domainlen) &&
	    EVP_DigestFinal_ex(ctx, out, NULL);
}

/* The same keyed: HMAC-SHA256 under the store's secret. 1, or 0. */
static int
mac_with_jid(struct mac *key, const void *prefix, size_t prefixlen,
    const struct jid *j, uint8_t out[MAC_MAX_LEN])
{
	const uint8_t *msg[] = { (const uint8_t *)prefix, (const uint8_t *)"",
		(const uint8_t *)j->user, (const uint8_t *)"@",
		(const uint8_t *)j->domain };
	const size_t len[] = { prefixlen, 1, j->userlen, 1, j->domainlen };

	return mac_compute(key, msg, len, 5, out) == 0;
}

static int
keyed_entry(const void *id, size_t idlen, const struct jid *j,
    struct mac *store_key, struct replay_entry *e)
{
	uint8_t h[MAC_MAX_LEN];
	int ok;

	ok = mac_with_jid(store_key, id, idlen, j, h);
	memcpy(e->key, h, REPLAY_KEY_LEN);
	explicit_bzero(h, sizeof(h));
	return ok && format_replay_user(j, store_key, e->user) == 0 ? 0 : -1;
}

int
format_replay_user(const struct jid *j, struct mac *store_key,
    uint8_t user[REPLAY_USER_LEN])
{
	struct replay_entry e;
	uint8_t h[MAC_MAX_LEN];
	int ok;

	/* Unkeyed, the JID's key comes with an id's: any id will do. */
	if (store_key == NULL) {
		if (format_replay_entry("", 0, j, NULL, &e) == -1)
			return -1;
		memcpy(user, e.user, REPLAY_USER_LEN);
		return 0;
	}
	ok = mac_with_jid(store_key, "jid", 3, j, h);
	memcpy(user, h, REPLAY_USER_LEN);
	explicit_bzero(h, sizeof(h));
	return ok ? 0 : -1;
}

int
format_replay_entry(const void *id, size_t idlen, const struct jid *j,
    struct mac *store_key, struct replay_entry *e)
{
	/* Fetched and allocated once, then reused: fetching SHA-256 and
	 * making a context for every request cost more than the hash. */
	static EVP_MD *sha256;
	static EVP_MD_CTX *ctx;
	uint8_t h[EVP_MAX_MD_SIZE];

	if (store_key != NULL)
		return keyed_entry(id, idlen, j, store_key, e);
	if (sha256 == NULL &&
	    (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (!hash_with_jid(ctx, sha256, id, idlen, j, e->key) ||
	    !hash_with_jid(ctx, sha256, "jid", 3, j, h))
		return -1;
	memcpy(e->user, h, sizeof(e->user));
	return 0;
}
