/*
 * The Redis store's key names (redis_keys.h).
 */
#include <stdio.h>
#include <string.h>

#include "redis_keys.h"

_Static_assert(2 * REPLAY_KEY_LEN + 4 <= REDIS_KEY_SUFFIX_MAX,
    "a nonce's suffix");

void
redis_hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void
redis_user_key(char out[REDIS_KEY_MAX], const char *prefix,
    const uint8_t user[REPLAY_USER_LEN], const char *suffix)
{
	char hex[2 * REPLAY_USER_LEN + 1];

	redis_hex(hex, user, REPLAY_USER_LEN);
	snprintf(out, REDIS_KEY_MAX, "%s{%s}%s", prefix, hex, suffix);
}

void
redis_nonce_key(char out[REDIS_KEY_MAX], const char *prefix,
    const struct replay_entry *e)
{
	char suffix[REDIS_KEY_SUFFIX_MAX];

	memcpy(suffix, ":n:", 3);
	redis_hex(suffix + 3, e->key, REPLAY_KEY_LEN);
	redis_user_key(out, prefix, e->user, suffix);
}
