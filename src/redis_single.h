/*
 * The Redis replay store on one server, or on the primary Sentinel names:
 * a batch of logins in one pipelined round trip (no Lua per login), the
 * store's mark read after the records, each connection's server checked
 * against the identity recorded beside the mark, records kept for the
 * longest token lifetime any helper used, the helpers' clocks compared
 * with Redis's. replay_redis.c parses the settings and hands every call
 * here when they name no cluster (a Redis Cluster is redis_sharded.c's);
 * the functions are those of replay.h.
 */
#ifndef REDIS_SINGLE_H
#define REDIS_SINGLE_H

#include "replay.h"

struct redis_single;

/* old: NULL, or a store whose link is taken over if it serves s (old is
 * closed either way). */
struct redis_single *redis_single_open(const struct replay_settings *s,
    enum replay_access, struct redis_single *old, char err[REPLAY_ERR_LEN]);
int redis_single_record(struct redis_single *, const struct replay_entry[],
    size_t, const struct replay_time *, enum replay_result[],
    char err[REPLAY_ERR_LEN]);
enum replay_result redis_single_lookup(struct redis_single *,
    const struct replay_entry *, const struct replay_time *,
    char err[REPLAY_ERR_LEN]);
void redis_single_close(struct redis_single *);

/*
 * For the seen marks of isuser = seen, which replay_redis.c names and
 * reads: GET of key, 1 with its value in out (a string reply that fits),
 * 0 if there is none; SET of key to value until a Unix time in seconds
 * (EXAT), 0. Either returns -1 with err if Redis failed or refused.
 */
int redis_single_get(struct redis_single *, const char *key, char *out,
    size_t outsize, char err[REPLAY_ERR_LEN]);
int redis_single_set_until(struct redis_single *, const char *key,
    const char *value, const char *until, char err[REPLAY_ERR_LEN]);

/* check-config's lines after the store's own (replay_redis.c prints that);
 * returns the number of problems. */
int redis_single_describe(const struct replay_settings *);
int redis_single_reset(const struct replay_settings *, time_t now,
    char msg[REPLAY_ERR_LEN]);

#endif
