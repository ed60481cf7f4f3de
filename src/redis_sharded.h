/*
 * The Redis replay store on a Redis Cluster: a script per login, on the
 * primary of its slot, that checks and moves on that slot's own mark; a
 * lease on the store's keys; MOVED, ASK and TRYAGAIN followed within the
 * batch's deadline. replay_redis.c parses the settings and hands it every
 * call when replay_redis_cluster names seed nodes; redis_cluster.c keeps
 * the slot map and the links to the nodes. The functions are those of
 * replay.h.
 */
#ifndef REDIS_SHARDED_H
#define REDIS_SHARDED_H

#include "replay.h"

struct redis_sharded;

/* old: NULL, or a store whose cluster (its map and links) is taken over if
 * it serves s (old is closed either way). */
struct redis_sharded *redis_sharded_open(const struct replay_settings *s,
    enum replay_access, struct redis_sharded *old, char err[REPLAY_ERR_LEN]);
int redis_sharded_record(struct redis_sharded *, const struct replay_entry[],
    size_t, const struct replay_time *, enum replay_result[],
    char err[REPLAY_ERR_LEN]);
enum replay_result redis_sharded_lookup(struct redis_sharded *,
    const struct replay_entry *, const struct replay_time *,
    char err[REPLAY_ERR_LEN]);
void redis_sharded_close(struct redis_sharded *);

/*
 * For the seen marks of isuser = seen, which replay_redis.c names and
 * reads, on the primary of the key's slot: GET of key, 1 with its value in
 * out (a string reply that fits), 0 if there is none; SET of key to value
 * until a Unix time in seconds (EXAT), 0. Either returns -1 with err if
 * Redis failed or refused.
 */
int redis_sharded_get(struct redis_sharded *, const char *key, char *out,
    size_t outsize, char err[REPLAY_ERR_LEN]);
int redis_sharded_set_until(struct redis_sharded *, const char *key,
    const char *value, const char *until, char err[REPLAY_ERR_LEN]);

/* check-config's lines after the store's own (replay_redis.c prints that);
 * returns the number of problems. */
int redis_sharded_describe(const struct replay_settings *);
/* reset-store, as replay_reset_clock (replay.h) has it. */
int redis_sharded_reset(const struct replay_settings *,
    char msg[REPLAY_ERR_LEN]);

#endif
