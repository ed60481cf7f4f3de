/*
 * The connection a Redis replay store talks through: where the primary is
 * (host names resolved when the link is opened, and again whenever a
 * connection to them fails; or asked of Sentinel, logging in to the
 * sentinels where they ask it, and trusting the server they name only once
 * it accepts the store's credentials and says it is the primary),
 * how to reach it (TCP, TLS, a Unix socket), logging in (AUTH, SELECT), and
 * what to do when it fails: a first failure is tried again at the next
 * login; after two in a row, while backing off (100 ms, doubling to 5 s,
 * until an exchange goes through) a connection is refused at once without
 * trying, so that helpers never storm a Redis that is down; after a
 * failover the sentinels are asked again.
 *
 * A link belongs to one store at a time. A store opened in place of another
 * (replay_reopen: after a failure, or a reload) takes over the other's link
 * when it goes to the same place the same way, so that it keeps its
 * back-off, its addresses and its connection, and resolves no name in
 * doing so.
 * Only the classic blocking API of hiredis is used, the same in 0.14 and
 * 1.x.
 */
#ifndef REDIS_LINK_H
#define REDIS_LINK_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"
#include "replay.h"

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000

struct redis_link;

/* Now, in milliseconds of the monotonic clock. */
uint64_t redis_now_ms(void);

#define REDIS_SENTINELS_MAX 1024
#define REDIS_MASTER_MAX    256
#define REDIS_PREFIX_MAX    64
#define REDIS_CLUSTER_SEEDS_MAX 512

/* Where rediss:// cannot be had: what to do instead, in one sentence. */
#define REDIS_NO_TLS							      \
	"replay_store: rediss:// needs TLS, which this build of "	      \
	"prosody-token-auth lacks (its hiredis was built without TLS, as "    \
	"Debian 12's 0.14 is): reach Redis over its Unix socket "	      \
	"(unix:///PATH), or through a TLS tunnel such as stunnel or spiped "  \
	"that listens on this host (redis://127.0.0.1:PORT)"

/* The longest replay_redis_timeout_ms the config takes. */
#define REDIS_TIMEOUT_MAX_MS 60000

/* A number's macro as a string literal, for the scripts' text. */
#define TEXT_OF(n)  TEXT_OF_(n)
#define TEXT_OF_(n) #n

/*
 * What the config says of a Redis store: replay_store's URL, parsed once
 * (the password is in it, and nowhere else), and the store's own keys.
 */
struct redis_settings {
	struct redis_url url;
	char sentinels[REDIS_SENTINELS_MAX]; /* host:port,...; "": none */
	char master[REDIS_MASTER_MAX];	     /* the sentinels' name for it */
	/* What the sentinels themselves ask (requirepass, or an ACL user):
	 * "" for none. Sent to the sentinels only, never to Redis. */
	char sentinel_user[REDIS_URL_USER_MAX + 1];
	char sentinel_password[REDIS_URL_PASSWORD_MAX + 1];
	char cluster[REDIS_CLUSTER_SEEDS_MAX]; /* its seeds; "": none */
	char prefix[REDIS_PREFIX_MAX];	     /* of every key */
	unsigned timeout_ms;		     /* connect, or one round trip:
						REDIS_TIMEOUT_MAX_MS at most */
	unsigned wait_replicas;		     /* to acknowledge each batch */
};

/*
 * A link for the settings. Resolves the host names they name; a name that
 * does not resolve is not an error here: the link then refuses, saying
 * why, and resolves it again at each attempt the back-off allows. NULL only with err (out of memory, TLS without its CA
 * certificates).
 */
struct redis_link *redis_link_open(const struct redis_settings *,
    char err[REPLAY_ERR_LEN]);

/*
 * Whether the settings name a host by name, not by address (which the
 * link resolves again when a connection to it fails, so that the sandbox
 * must let it resolve names); of a list of HOST[:PORT], whether it holds a
 * name.
 */
int redis_settings_name_hosts(const struct redis_settings *);
int redis_hosts_named(const char *list, unsigned default_port);

/* Whether the link goes where the settings say, the same way. */
int redis_link_serves(const struct redis_link *,
    const struct redis_settings *);

/* Closes the connection and frees the link, wiping it. */
void redis_link_close(struct redis_link *);

/*
 * What a store keeps about the current connection, zeroed with each new
 * one, and kept with the link when the store is closed.
 */
#define REDIS_ID_MAX 96
struct redis_conn_state {
	int used;	     /* an exchange went through it */
	int script_loaded;   /* a cluster store's script is in its cache */
	int greeted;	     /* its server's identity checked (the store's) */
	int finding;	     /* what the store found then (the store's codes) */
	int since_missing;   /* the store's mark was missing: set it */
	uint64_t timeout_ms; /* its read and write timeouts, as last set */
	uint64_t life_ms;    /* the store's longest token lifetime, as read */
	uint64_t agreed_ms;  /* the last time Redis's clock agreed with ours */
	char id[REDIS_ID_MAX]; /* its server: "RUN_ID REPLID" */
	uint64_t id_ms;	       /* when id was read (a cluster store's) */
};

/* The state of the link's connection (of the next one, while it has none). */
struct redis_conn_state *redis_link_state(struct redis_link *);

/*
 * The connection, made before deadline (redis_now_ms) if there is none, or
 * NULL with why in err, at once while backing off.
 */
redisContext *redis_link_get(struct redis_link *, uint64_t deadline,
    char err[REPLAY_ERR_LEN]);

/* An exchange went through: the failures in a row end (and are logged). */
void redis_link_ok(struct redis_link *);

/*
 * The connection failed, or its server is unfit (a replica, a refused
 * login): it is closed, and the next attempt waits a back-off step.
 */
void redis_link_failed(struct redis_link *, const char *why);

/* Closes the connection without a back-off step (found dead when reused). */
void redis_link_drop(struct redis_link *);

/*
 * Sets the connection's read and write timeouts to what is left until
 * deadline. Returns 0, or -1 if nothing is left.
 */
int redis_link_timeout(redisContext *, uint64_t deadline);

/*
 * The most an exchange may read: far more than the store's commands (or
 * ROLE, INFO, a sentinel's answer) ever return, far less than a server
 * that floods could make a helper buffer.
 */
#define REDIS_EXCHANGE_MAX (256 * 1024)

/*
 * One exchange: the commands appended to a connection, written, and their
 * replies read, all before deadline. Each write and read after the first
 * is given only the time left (the first has what the caller set), so a
 * server that sends a byte at a time cannot hold a helper past the
 * deadline; and at most REDIS_EXCHANGE_MAX bytes are read.
 */
struct redis_exchange {
	uint64_t deadline;
	size_t taken;  /* bytes read so far */
	unsigned ios;  /* writes and reads so far */
	int retimed;   /* the connection's timeouts were changed */
	/* Its timeouts now, if known (0: not), so that they are changed only
	 * when an I/O could end more than REDIS_RETIME_SLACK_MS past the
	 * deadline: two system calls saved per read. */
	uint64_t timeout_ms;
};
#define REDIS_RETIME_SLACK_MS 10

/*
 * The exchange's next reply (its commands written first, if they are not
 * yet). REDIS_OK with *reply, or REDIS_ERR with c->err set (a read past
 * the deadline is REDIS_ERR_IO, EAGAIN; a flood REDIS_ERR_OTHER).
 */
int redis_next_reply(redisContext *, struct redis_exchange *, void **reply);

/*
 * Writes the commands appended so far, as redis_next_reply does first, so
 * that several connections' exchanges are under way at once. REDIS_OK, or
 * REDIS_ERR with c->err set.
 */
int redis_send(redisContext *, struct redis_exchange *);

/* Where the connection goes, for messages: "127.0.0.1:6379", a path. */
const char *redis_link_where(const struct redis_link *);

/* Why the last attempt to connect failed, or "". */
const char *redis_link_last_error(const struct redis_link *);

/*
 * Why c failed to send or to read before deadline, for a log: "WHERE: no
 * reply in time (replay_redis_timeout_ms)" or what hiredis says.
 */
void redis_io_error(const redisContext *c, const char *where,
    uint64_t deadline, char why[REPLAY_ERR_LEN]);

/*
 * An error reply (or any reply) as text fit for a log: printable
 * characters, cut to fit.
 */
void redis_reply_text(const redisReply *, char *out, size_t size);

/*
 * For people (check-config): prints what each host name the link uses
 * resolves to now. Returns the number of problems (names that do not).
 */
int redis_link_describe_names(const struct redis_link *);

/*
 * For people (check-config): prints a line per sentinel, what it says of
 * the primary. Returns the number of problems.
 */
int redis_link_describe_sentinels(struct redis_link *, unsigned timeout_ms);

#endif
