#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mac.h"

_Static_assert(MAC_MAX_LEN >= EVP_MAX_MD_SIZE, "MAC_MAX_LEN");

struct mac {
	EVP_MAC_CTX *ctx;
	size_t len;
};

static EVP_MAC_CTX *
keyed_context(const char *digest, const uint8_t *key, size_t keylen)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest,
		    0),
		OSSL_PARAM_END,
	};
	EVP_MAC *hmac;
	EVP_MAC_CTX *ctx;

	if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	ctx = EVP_MAC_CTX_new(hmac);
	EVP_MAC_free(hmac);
	if (ctx == NULL)
		return NULL;
	if (!EVP_MAC_init(ctx, key, keylen, params)) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct mac *
mac_new(const char *digest, const uint8_t *key, size_t keylen)
{
	struct mac *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->ctx = keyed_context(digest, key, keylen)) == NULL) {
		free(m);
		return NULL;
	}
	m->len = EVP_MAC_CTX_get_mac_size(m->ctx);
	return m;
}

void
mac_free(struct mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->ctx);
	free(m);
}

size_t
mac_len(const struct mac *m)
{
	return m->len;
}

int
mac_compute(struct mac *m, const uint8_t *const msg[], const size_t len[],
    size_t nparts, uint8_t out[MAC_MAX_LEN])
{
	size_t i, outlen;

	/* A NULL key restarts the message and keeps the key schedule. */
	if (!EVP_MAC_init(m->ctx, NULL, 0, NULL))
		return -1;
	for (i = 0; i < nparts; i++)
		if (!EVP_MAC_update(m->ctx, msg[i], len[i]))
			return -1;
	if (!EVP_MAC_final(m->ctx, out, &outlen, MAC_MAX_LEN))
		return -1;
	return outlen == m->len ? 0 : -1;
}
