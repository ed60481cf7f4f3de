/*
 * A Redis Cluster (or Valkey Cluster) as a Redis replay store reaches it:
 * the slot map, and a link (redis_link.h) to each node, with its own
 * connection, login and back-off.
 *
 * The map is learned from the seed nodes (replay_redis_cluster) and then
 * from the nodes it names: CLUSTER SHARDS, or CLUSTER SLOTS from a server
 * that lacks it. A key goes to the primary of its slot (CRC16 of the key,
 * or of its hash tag, modulo 16384). The map is asked for again when it is
 * stale: a reply said MOVED, a connection to a primary failed (a failover
 * under way), or a slot had no primary; at most once per
 * REDIS_BACKOFF_MIN_MS, so that helpers never storm the cluster. A slot
 * whose primary is unknown, or named as failed, has no link: its keys are
 * refused, saying why.
 *
 * Host names among the seeds are resolved when the cluster is opened (as
 * redis_link does); the nodes the map names are numeric addresses, linked
 * to when first used, with no file read and no name resolved.
 */
#ifndef REDIS_CLUSTER_H
#define REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis_link.h"
#include "replay.h"

#define REDIS_CLUSTER_SLOTS 16384
#define REDIS_CLUSTER_TAG_MAX 8 /* a hash tag that picks a slot, less its NUL */
#define REDIS_CLUSTER_WHERE_MAX (REDIS_URL_HOST_MAX + 10)

struct redis_cluster;

/* The slot of a key: of its hash tag if it has one, as Redis reads it. */
unsigned redis_cluster_slot(const char *key, size_t len);

/*
 * A short hash tag of slot's: keys "...{tag}..." fall in that slot (from a
 * table the cluster makes when opened).
 */
void redis_cluster_tag(const struct redis_cluster *, unsigned slot,
    char tag[REDIS_CLUSTER_TAG_MAX + 1]);

/*
 * The cluster of the settings (their cluster seeds, their URL's user,
 * password and database). The map is learned at first use. NULL only with
 * err (out of memory, or a seed that does not parse).
 */
struct redis_cluster *redis_cluster_open(const struct redis_settings *,
    char err[REPLAY_ERR_LEN]);

/* Whether the cluster is the one the settings name, reached the same way. */
int redis_cluster_serves(const struct redis_cluster *,
    const struct redis_settings *);

/* Closes every link and frees the cluster, wiping it. */
void redis_cluster_close(struct redis_cluster *);

/*
 * The link to the primary of slot, the map learned again first if it is
 * stale (before deadline), or NULL with why in err.
 */
struct redis_link *redis_cluster_link(struct redis_cluster *, unsigned slot,
    uint64_t deadline, char err[REPLAY_ERR_LEN]);

/* What a reply asks of its sender. */
enum redis_redirect {
	REDIS_ANSWERED,	  /* nothing: it is the answer */
	REDIS_MOVED,	  /* send it to another node (the map is stale) */
	REDIS_ASK,	  /* send it once to another node, after ASKING */
	REDIS_TRY_AGAIN,  /* send it again shortly (TRYAGAIN, CLUSTERDOWN) */
};

/*
 * What the reply says, and for MOVED and ASK the link to the node it
 * names (NULL, with why in err, if there is none to be had). MOVED and
 * CLUSTERDOWN make the map stale.
 */
enum redis_redirect redis_cluster_redirect(struct redis_cluster *,
    const redisReply *, struct redis_link **to, char err[REPLAY_ERR_LEN]);

/* A link failed (a primary down, a failover under way): ask the map again. */
void redis_cluster_stale(struct redis_cluster *);

/*
 * Between batches, when no link is held: forgets the nodes that are
 * neither seeds nor primaries in the map (replaced, or named by a
 * redirection), so that a cluster whose nodes come and go never fills the
 * list.
 */
void redis_cluster_tidy(struct redis_cluster *);

/*
 * The slots the map gives primary i (as redis_cluster_primary numbers
 * them) into out, in order. Returns how many.
 */
size_t redis_cluster_slots_of(const struct redis_cluster *, size_t i,
    uint16_t out[REDIS_CLUSTER_SLOTS]);

/*
 * The primaries of the map, learned first if it is not yet, one at a
 * time: i from 0 until it returns NULL. For check-config.
 */
struct redis_link *redis_cluster_primary(struct redis_cluster *, size_t i,
    uint64_t deadline);

/*
 * For people (check-config): the map learned from the seeds, a line per
 * shard (its slots, its primary, its replicas). Returns the number of
 * problems.
 */
int redis_cluster_describe(struct redis_cluster *, unsigned timeout_ms);

#endif
