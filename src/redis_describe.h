/*
 * What check-config says of one Redis server, whichever store talks to it
 * (redis_single.c: one Redis or a Sentinel's primary; redis_sharded.c: each
 * primary of a cluster): its name and version, its memory policy and
 * limit, its role and replicas. Each asks through the caller's connection
 * and prints to stdout; nothing here is used by the helper's logins, but
 * redis_info_field, which the stores' identity checks read INFO with.
 */
#ifndef REDIS_DESCRIBE_H
#define REDIS_DESCRIBE_H

#include <hiredis.h>

#include "replay.h"

/* How to ask the server one command: its reply (kept until the next
 * question), or NULL with why in err. */
struct redis_asker {
	const redisReply *(*ask)(void *ctx, int argc, const char *const argv[],
	    char err[REPLAY_ERR_LEN]);
	void *ctx;
};

/* "server: Redis 7.0.15" (or Valkey's), from INFO server. */
void redis_describe_version(const struct redis_asker *);

/* maxmemory-policy (anything but noeviction is a WARNING) and maxmemory. */
void redis_describe_memory(const struct redis_asker *);

/* ROLE: a primary with at least wait_replicas replicas connected, or a
 * PROBLEM. Returns the number of problems found. */
int redis_describe_role(const struct redis_asker *, unsigned wait_replicas);

/* A field of INFO's text ("run_id"), hex digits only, to out; "" if it
 * has none, or one that is not hex or does not fit. */
void redis_info_field(const redisReply *info, const char *name, char *out,
    size_t size);

#endif
