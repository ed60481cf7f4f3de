/*
 * The replay store's one interface: each call goes to the store the config
 * names (replay_store.h lists what a store implements).
 */
#include <stdio.h>
#include <string.h>

#include "replay_store.h"

int
replay_store_value_check(const char *value, char why[REPLAY_ERR_LEN])
{
	if (value[0] == '/')
		return 0;
	if (replay_redis_is_url(value))
		return replay_redis_check_url(value, why);
	snprintf(why, REPLAY_ERR_LEN, "replay_store must be an absolute "
	    "directory path (an LMDB store on this host) or a redis://, "
	    "rediss:// or unix:// URL (Redis or Valkey, shared by several "
	    "hosts)");
	return -1;
}

int
replay_store_value_set(struct replay_settings *s, const char *value,
    char why[REPLAY_ERR_LEN])
{
	if (replay_store_value_check(value, why) == -1)
		return -1;
	if (replay_redis_is_url(value))
		return replay_redis_set_url(s, value, why);
	if (strlen(value) >= sizeof(s->store)) {
		snprintf(why, REPLAY_ERR_LEN, "replay_store is longer than %zu "
		    "bytes", sizeof(s->store) - 1);
		return -1;
	}
	snprintf(s->store, sizeof(s->store), "%s", value);
	explicit_bzero(s->redis_password, sizeof(s->redis_password));
	return 0;
}

int
replay_is_redis(const struct replay_settings *s)
{
	return replay_redis_is_url(s->store);
}

int
replay_settings_agree(const struct replay_settings *s,
    char why[REPLAY_ERR_LEN])
{
	return replay_is_redis(s) ? replay_redis_check_settings(s, why) : 0;
}

int
replay_check_place(const struct replay_settings *s, char err[REPLAY_ERR_LEN])
{
	if (replay_is_redis(s))
		return 0; /* Redis's place is Redis's to keep */
	return replay_lmdb_check_place(s->store, err);
}

struct replay *
replay_open(const struct replay_settings *s, enum replay_access access,
    char err[REPLAY_ERR_LEN])
{
	if (replay_is_redis(s))
		return replay_redis_open(s, access, err);
	return replay_lmdb_open(s, access, err);
}

void
replay_close(struct replay *r)
{
	if (r != NULL)
		r->ops->close(r);
}

int
replay_record(struct replay *r, const struct replay_entry entries[], size_t n,
    const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	return r->ops->record(r, entries, n, t, results, err);
}

enum replay_result
replay_lookup(struct replay *r, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	return r->ops->lookup(r, e, t, err);
}

int
replay_describe(const struct replay_settings *s)
{
	if (replay_is_redis(s))
		return replay_redis_describe(s);
	return replay_lmdb_describe(s);
}

int
replay_reset_clock(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	if (replay_is_redis(s)) {
		snprintf(msg, REPLAY_ERR_LEN, "%.60s: nothing to reset: Redis "
		    "keeps each nonce for its token's lifetime by its own "
		    "clock. (A Redis that came back empty is trusted after one "
		    "token lifetime, or at once after: redis-cli SET %.40ssince "
		    "0)", s->store, s->redis_prefix);
		return 1;
	}
	return replay_lmdb_reset_clock(s, now, msg);
}
