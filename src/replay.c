/*
 * The replay store's one interface: each call goes to the store the config
 * names (replay_store.h lists what a store implements).
 */
#include <stdio.h>

#include "replay_store.h"

int
replay_setting_check(const char *value, char why[REPLAY_ERR_LEN])
{
	if (value[0] == '/')
		return 0;
	snprintf(why, REPLAY_ERR_LEN, "replay_store must be an absolute "
	    "directory path (an LMDB store on this host)");
	return -1;
}

int
replay_check_place(const struct replay_settings *s, char err[REPLAY_ERR_LEN])
{
	return replay_lmdb_check_place(s->store, err);
}

struct replay *
replay_open(const struct replay_settings *s, enum replay_access access,
    char err[REPLAY_ERR_LEN])
{
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
	return replay_lmdb_describe(s);
}

int
replay_reset_clock(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	return replay_lmdb_reset_clock(s, now, msg);
}
