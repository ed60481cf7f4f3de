/*
 * Inside the replay store: what each kind of store implements, for
 * replay.c to dispatch to. Users of the store include replay.h only.
 */
#ifndef REPLAY_STORE_H
#define REPLAY_STORE_H

#include "replay.h"

struct replay_ops {
	int (*record)(struct replay *, const struct replay_entry[], size_t,
	    const struct replay_time *, enum replay_result[],
	    char err[REPLAY_ERR_LEN]);
	enum replay_result (*lookup)(struct replay *,
	    const struct replay_entry *, const struct replay_time *,
	    char err[REPLAY_ERR_LEN]);
	void (*close)(struct replay *);
};

/* Every store's own struct begins with this. */
struct replay {
	const struct replay_ops *ops;
};

/* LMDB in a local directory (replay_lmdb.c). */
struct replay *replay_lmdb_open(const struct replay_settings *,
    enum replay_access, char err[REPLAY_ERR_LEN]);
int replay_lmdb_check_place(const char *dir, char err[REPLAY_ERR_LEN]);
int replay_lmdb_describe(const struct replay_settings *);
int replay_lmdb_reset_clock(const struct replay_settings *, time_t now,
    char msg[REPLAY_ERR_LEN]);

/* Redis or Valkey (replay_redis.c). */
int replay_redis_is_url(const char *value);
int replay_redis_check_url(const char *url, char why[REPLAY_ERR_LEN]);
int replay_redis_set_url(struct replay_settings *, const char *url,
    char why[REPLAY_ERR_LEN]);
int replay_redis_check_settings(const struct replay_settings *,
    char why[REPLAY_ERR_LEN]);
struct replay *replay_redis_open(const struct replay_settings *,
    enum replay_access, char err[REPLAY_ERR_LEN]);
int replay_redis_describe(const struct replay_settings *);

/* Where rediss:// cannot be had: what to do instead, in one sentence. */
#define REPLAY_REDIS_NO_TLS						      \
	"replay_store: rediss:// needs TLS, which this build of "	      \
	"prosody-token-auth lacks (its hiredis was built without TLS, as "    \
	"Debian 12's 0.14 is): reach Redis over its Unix socket "	      \
	"(unix:///PATH), or through a TLS tunnel such as stunnel or spiped "  \
	"that listens on this host (redis://127.0.0.1:PORT)"

#endif
