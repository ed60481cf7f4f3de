/*
 * The names of the Redis store's keys, for both of its layouts
 * (redis_single.c on one Redis, redis_sharded.c on a cluster). A nonce's
 * key is the same in each, so that a nonce one layout recorded is found by
 * the other while helpers of both still run; each of a JID's keys carries
 * the JID's key as its hash tag, so that a cluster keeps them in one slot.
 * Nothing in clear: the JID's and the nonce's keys in hex.
 */
#ifndef REDIS_KEYS_H
#define REDIS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "redis_link.h"
#include "replay.h"

#define REDIS_KEY_SUFFIX_MAX 72
#define REDIS_KEY_MAX                                                       \
	(REDIS_PREFIX_MAX + 2 + 2 * REPLAY_USER_LEN + REDIS_KEY_SUFFIX_MAX)

/* b[0..n) in lower-case hex, and a NUL: out holds 2 * n + 1. */
void redis_hex(char *out, const uint8_t *b, size_t n);

/*
 * PREFIX{U}SUFFIX, U the JID's key in hex: one of the JID's keys. suffix
 * is at most REDIS_KEY_SUFFIX_MAX - 1 bytes (":u", ":c:PERIOD", ":s").
 */
void redis_user_key(char out[REDIS_KEY_MAX], const char *prefix,
    const uint8_t user[REPLAY_USER_LEN], const char *suffix);

/* PREFIX{U}:n:K, K the nonce's key in hex: the entry's record. */
void redis_nonce_key(char out[REDIS_KEY_MAX], const char *prefix,
    const struct replay_entry *);

#endif
