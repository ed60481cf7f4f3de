/*
 * Keyed HMAC contexts. The key schedule is computed once, when the context is
 * made, and reused for every message: a one-shot HMAC per request would
 * redo it each time.
 */
#ifndef MAC_H
#define MAC_H

#include <stddef.h>
#include <stdint.h>

#define MAC_MAX_LEN 64 /* bytes of output, for any digest (mac.c checks) */

struct mac;

/* digest is "SHA1" or "SHA256". Returns NULL on failure. */
struct mac *mac_new(const char *digest, const uint8_t *key, size_t keylen);
void mac_free(struct mac *);

/* Output length in bytes (20 for SHA1, 32 for SHA256). */
size_t mac_len(const struct mac *);

/*
 * out = HMAC(key, part[0] || part[1] || ...), nparts pieces of msg/len.
 * Returns 0, or -1 if the library failed.
 */
int mac_compute(struct mac *, const uint8_t *const msg[], const size_t len[],
    size_t nparts, uint8_t out[MAC_MAX_LEN]);

#endif
