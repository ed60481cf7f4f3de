/*
 * The Redis store as replay_store.h's table sees it: its settings and
 * their checks, check-config's first lines, and the seen marks of isuser
 * = seen; every other call goes to the store of the layout the settings
 * name. On one Redis, or the primary Sentinel names, that is
 * redis_single.c's (a pipelined batch, the mark read after the records);
 * on a Redis Cluster (replay_redis_cluster), redis_sharded.c's (a script
 * per login, a mark per slot). Either store's own security rules are at
 * the top of its file.
 *
 * Security rules for this file:
 * 1. Secrets stay in the settings: the URL's password and the sentinels'
 *    are never shown (check-config shows REDIS_HIDDEN in their place).
 * 2. Fail closed: a seen mark that cannot be read, or is not a day, makes
 *    the lookup REPLAY_ERROR, never REPLAY_SEEN.
 * 3. Keys show no JID: a seen mark's key is its JID's keyed hash, in hex.
 *
 * Keys, PREFIX being replay_redis_key_prefix and U the JID's key, in hex:
 *	PREFIX{U}:s	the JID's seen mark (isuser = seen): the last day
 *			(since the epoch, UTC) it counts as seen, expiring
 *			at that day's end (EXAT); set after the batch by its
 *			own SET, at most once a day for a JID by a helper
 *			(it remembers the last SEEN_CACHE it set)
 * The braces are a hash tag: on a cluster, the mark is on the primary of
 * its JID's nonces' slot.
 *
 * For the sandbox: after start-up this file makes no system call of its
 * own; the stores it hands calls to list theirs (redis_single.c,
 * redis_sharded.c), and their connections' are listed in redis_link.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_keys.h"
#include "redis_link.h"
#include "redis_sharded.h"
#include "redis_single.h"
#include "redis_url.h"
#include "replay_store.h"
#include "setting.h"

_Static_assert(sizeof(struct redis_settings) <= REPLAY_OWN_MAX, "settings");

#define DEFAULT_TIMEOUT_MS 250
#define DEFAULT_PREFIX	    "pta:"
#define SEEN_CACHE  256			/* seen marks remembered as set */

/* The store of one layout or the other, and the seen marks it set lately. */
struct redis_store {
	struct replay base;
	struct redis_single *single;   /* one Redis, or Sentinel's primary */
	struct redis_sharded *sharded; /* a Redis Cluster */
	char prefix[REDIS_PREFIX_MAX];

	/* The seen marks set lately, so as to set each once a day: the
	 * JID's key and the last day set, replaced round robin. */
	struct {
		uint8_t user[REPLAY_USER_LEN];
		uint64_t until;
	} marked[SEEN_CACHE];
	size_t next_marked;
	char seen_key[REDIS_KEY_MAX], seen_day[24], seen_end[24];
};

/* The settings' own part. */
static const struct redis_settings *
own(const struct replay_settings *s)
{
	return (const struct redis_settings *)s->own.bytes;
}

/* --- logins: each layout's store ------------------------------------------- */

static int
redis_record(struct replay *base, const struct replay_entry entries[],
    size_t n, const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	struct redis_store *r = (struct redis_store *)base;

	if (r->single != NULL)
		return redis_single_record(r->single, entries, n, t, results,
		    err);
	return redis_sharded_record(r->sharded, entries, n, t, results, err);
}

static enum replay_result
redis_lookup(struct replay *base, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	struct redis_store *r = (struct redis_store *)base;

	if (r->single != NULL)
		return redis_single_lookup(r->single, e, t, err);
	return redis_sharded_lookup(r->sharded, e, t, err);
}

/* --- seen marks (isuser = seen) ------------------------------------------ */

static void
make_seen_key(struct redis_store *r, const uint8_t user[REPLAY_USER_LEN])
{
	redis_user_key(r->seen_key, r->prefix, user, ":s");
}

/* A seen mark's value: its last day, digits only. 0, or -1. */
static int
seen_day_of(const char *text, size_t len, uint64_t *day)
{
	size_t i;

	if (len == 0 || len > 12)
		return -1;
	*day = 0;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		*day = *day * 10 + (uint64_t)(text[i] - '0');
	}
	return 0;
}

/* GET of the seen mark's key, on the store of either layout. */
static int
get_seen(struct redis_store *r, char *out, size_t outsize,
    char err[REPLAY_ERR_LEN])
{
	if (r->single != NULL)
		return redis_single_get(r->single, r->seen_key, out, outsize,
		    err);
	return redis_sharded_get(r->sharded, r->seen_key, out, outsize, err);
}

static enum replay_result
redis_seen(struct replay *base, const uint8_t user[REPLAY_USER_LEN],
    time_t now, char err[REPLAY_ERR_LEN])
{
	struct redis_store *r = (struct redis_store *)base;
	char value[16];
	uint64_t until;
	int rc;

	make_seen_key(r, user);
	if ((rc = get_seen(r, value, sizeof(value), err)) == -1)
		return REPLAY_ERROR;
	if (rc == 0)
		return REPLAY_FRESH;
	if (seen_day_of(value, strlen(value), &until) == -1) {
		snprintf(err, REPLAY_ERR_LEN, "Redis: a seen mark that is not "
		    "a day: %.24s", value);
		return REPLAY_ERROR;
	}
	return until >= REPLAY_DAY(now) ? REPLAY_SEEN : REPLAY_FRESH;
}

/* Whether this helper set the JID's mark until that day already. */
static int
marked_lately(struct redis_store *r, const struct replay_entry *e,
    uint64_t until)
{
	size_t i;

	for (i = 0; i < SEEN_CACHE; i++)
		if (r->marked[i].until >= until &&
		    memcmp(r->marked[i].user, e->user, REPLAY_USER_LEN) == 0)
			return 1;
	return 0;
}

/* Sets one JID's seen mark until the end of day until. 0, or -1. */
static int
set_seen(struct redis_store *r, const struct replay_entry *e, uint64_t until,
    char err[REPLAY_ERR_LEN])
{
	make_seen_key(r, e->user);
	snprintf(r->seen_day, sizeof(r->seen_day), "%llu",
	    (unsigned long long)until);
	snprintf(r->seen_end, sizeof(r->seen_end), "%llu",
	    (unsigned long long)((until + 1) * 86400));
	if (r->single != NULL)
		return redis_single_set_until(r->single, r->seen_key,
		    r->seen_day, r->seen_end, err);
	return redis_sharded_set_until(r->sharded, r->seen_key, r->seen_day,
	    r->seen_end, err);
}

/* After a batch: the seen marks of its JIDs recorded fresh. */
static int
redis_mark_seen(struct replay *base, const struct replay_entry entries[],
    const enum replay_result results[], size_t n, time_t now,
    char err[REPLAY_ERR_LEN])
{
	struct redis_store *r = (struct redis_store *)base;
	uint64_t until;
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (results[i] != REPLAY_FRESH || entries[i].seen_days == 0)
			continue;
		until = REPLAY_DAY(now) + entries[i].seen_days;
		if (marked_lately(r, &entries[i], until))
			continue;
		if (set_seen(r, &entries[i], until, err) == -1) {
			rc = -1;
			continue;
		}
		memcpy(r->marked[r->next_marked].user, entries[i].user,
		    REPLAY_USER_LEN);
		r->marked[r->next_marked].until = until;
		r->next_marked = (r->next_marked + 1) % SEEN_CACHE;
	}
	return rc;
}

/* --- opening and closing --------------------------------------------------- */

/* The store owns the store of its layout. */
static void
free_store(struct redis_store *r)
{
	redis_single_close(r->single);
	redis_sharded_close(r->sharded);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

static void
redis_close(struct replay *base)
{
	if (base != NULL)
		free_store((struct redis_store *)base);
}

/*
 * The store of the layout s names, which takes over the link (one Redis)
 * or the cluster (its map and links) of old's if it has one and it serves
 * s; old is closed either way.
 */
static struct replay *
redis_open(const struct replay_settings *s, enum replay_access access,
    struct replay *old, char err[REPLAY_ERR_LEN])
{
	struct redis_store *prev = (struct redis_store *)old, *r;
	struct redis_single *single = NULL;
	struct redis_sharded *sharded = NULL;

	if (prev != NULL) {
		single = prev->single;
		sharded = prev->sharded;
		prev->single = NULL;
		prev->sharded = NULL;
		free_store(prev);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		redis_single_close(single);
		redis_sharded_close(sharded);
		return NULL;
	}
	r->base.backend = &replay_redis;
	/* The seen marks' keys are named here (each layout's get, set). */
	snprintf(r->prefix, sizeof(r->prefix), "%s", own(s)->prefix);
	if (own(s)->cluster[0] == '\0') {
		redis_sharded_close(sharded);
		r->single = redis_single_open(s, access, single, err);
	} else {
		redis_single_close(single);
		r->sharded = redis_sharded_open(s, access, sharded, err);
	}
	if (r->single == NULL && r->sharded == NULL) {
		free(r);
		return NULL;
	}
	return &r->base;
}

/* --- for people (check-config) ------------------------------------------------ */

/* The store's own lines, then its layout's. */
static int
redis_describe(const struct replay_settings *s)
{
	const struct redis_settings *o = own(s);

	printf("replay store: %s (Redis or Valkey, shared by every helper "
	       "that names it; %u live nonces per JID; keys under %s; %u ms "
	       "to connect and for each round trip", s->store, s->per_user,
	    o->prefix, o->timeout_ms);
	if (o->wait_replicas > 0)
		printf("; %u replica%s must acknowledge each login",
		    o->wait_replicas, o->wait_replicas == 1 ? "" : "s");
	printf(")\n");
	if (o->sentinels[0] != '\0')
		printf("  the primary: the one the sentinels %s name for %s\n",
		    o->sentinels, o->master);
	if (o->cluster[0] == '\0')
		return redis_single_describe(s);
	return redis_sharded_describe(s);
}

/*
 * On one Redis, redis_single.c forgets the clock's high-water mark; on a
 * cluster, which keeps no such mark, every slot without a marker is marked.
 */
static int
redis_reset(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	if (own(s)->cluster[0] == '\0')
		return redis_single_reset(s, now, msg);
	return redis_sharded_reset(s, msg);
}

/* --- the config ------------------------------------------------------------- */

/* What a key prefix and a master's name hold; a list of sentinels too. */
#define WORD_CHARS							\
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-"
#define WORD_WHAT  "letters, digits and :_.-"
#define HOSTS_CHARS WORD_CHARS "[],"
#define HOSTS_WHAT  "host:port pairs separated by commas"

static const char *const keys[] = { "replay_redis_timeout_ms",
	"replay_redis_key_prefix", "replay_redis_wait_replicas",
	"replay_redis_sentinels", "replay_redis_master",
	"replay_redis_sentinel_user", "replay_redis_sentinel_password",
	"replay_redis_cluster", NULL };

/*
 * The sentinels' user or password: visible characters, written as they
 * are (no percent-encoding: this is not a URL), never quoted back.
 */
static int
set_sentinel_login(const char *key, const char *value, size_t len, char *out,
    size_t size, char why[REPLAY_ERR_LEN])
{
	size_t i;

	if (len == 0 || len >= size) {
		snprintf(why, REPLAY_ERR_LEN, "%s must be 1 to %zu characters",
		    key, size - 1);
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)value[i] <= ' ' ||
		    (unsigned char)value[i] >= 0x7f) {
			snprintf(why, REPLAY_ERR_LEN, "%s may hold only visible "
			    "ASCII characters, written as they are (no blank, "
			    "no percent-encoding)", key);
			return -1;
		}
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}

static int
redis_names(const char *value)
{
	return redis_url_is(value);
}

/* The URL, parsed here once for all: the password stays in it. */
static int
redis_set_store(struct replay_settings *s, const char *value,
    char why[REPLAY_ERR_LEN])
{
	struct redis_settings *o = (struct redis_settings *)s->own.bytes;
	char text[REDIS_URL_ERR_LEN];

	if (redis_url_parse(value, &o->url, text) == -1) {
		snprintf(why, REPLAY_ERR_LEN, "%s", text);
		return -1;
	}
#ifndef HAVE_HIREDIS_SSL
	if (o->url.transport == REDIS_TLS) {
		snprintf(why, REPLAY_ERR_LEN, "%s", REDIS_NO_TLS);
		return -1;
	}
#endif
	if (redis_url_shown(value, s->store, sizeof(s->store)) == -1) {
		snprintf(why, REPLAY_ERR_LEN, "replay_store is longer than %zu "
		    "bytes", sizeof(s->store) - 1);
		return -1;
	}
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	snprintf(o->prefix, sizeof(o->prefix), "%s", DEFAULT_PREFIX);
	return 0;
}

static int
redis_set(struct replay_settings *s, const char *key, const char *value,
    size_t len, char why[REPLAY_ERR_LEN])
{
	struct redis_settings *o = (struct redis_settings *)s->own.bytes;

	if (strcmp(key, "replay_redis_timeout_ms") == 0)
		return setting_number(key, value, len, 1, REDIS_TIMEOUT_MAX_MS,
		    &o->timeout_ms, why);
	if (strcmp(key, "replay_redis_wait_replicas") == 0)
		return setting_number(key, value, len, 0, 100,
		    &o->wait_replicas, why);
	if (strcmp(key, "replay_redis_key_prefix") == 0)
		return setting_word(key, value, len, o->prefix,
		    sizeof(o->prefix), WORD_CHARS, WORD_WHAT, why);
	if (strcmp(key, "replay_redis_master") == 0)
		return setting_word(key, value, len, o->master,
		    sizeof(o->master), WORD_CHARS, WORD_WHAT, why);
	if (strcmp(key, "replay_redis_sentinel_user") == 0)
		return set_sentinel_login(key, value, len, o->sentinel_user,
		    sizeof(o->sentinel_user), why);
	if (strcmp(key, "replay_redis_sentinel_password") == 0)
		return set_sentinel_login(key, value, len,
		    o->sentinel_password, sizeof(o->sentinel_password), why);
	if (strcmp(key, "replay_redis_cluster") == 0)
		return setting_word(key, value, len, o->cluster,
		    sizeof(o->cluster), HOSTS_CHARS, HOSTS_WHAT, why);
	return setting_word(key, value, len, o->sentinels,
	    sizeof(o->sentinels), HOSTS_CHARS, HOSTS_WHAT, why);
}

/* LMDB's bound means nothing here: Redis has its own. */
static int
redis_misplaced(const char *key, char why[REPLAY_ERR_LEN])
{
	if (strcmp(key, "replay_capacity") != 0)
		return -1;
	snprintf(why, REPLAY_ERR_LEN, "replay_capacity applies to an LMDB "
	    "store; Redis is bounded by its own maxmemory (with "
	    "maxmemory-policy noeviction): remove this line");
	return 0;
}

/* With sentinels: a TCP URL without a host, and a list that parses. */
static int
check_sentinels(const struct redis_settings *o, const char **blame,
    char why[REPLAY_ERR_LEN])
{
	char text[REDIS_URL_ERR_LEN], host[REDIS_URL_HOST_MAX + 1];
	const char *p = o->sentinels;
	unsigned port;
	int n;

	if (o->url.transport == REDIS_UNIX) {
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_sentinels needs a "
		    "redis:// or rediss:// replay_store (the sentinels name "
		    "TCP addresses), not unix://");
		return -1;
	}
	if (o->url.host[0] != '\0') {
		snprintf(why, REPLAY_ERR_LEN, "with replay_redis_sentinels, "
		    "the primary is the one they name: leave the host out of "
		    "replay_store (redis://[USER:PASSWORD@]/DB)");
		return -1;
	}
	while (*p != '\0') {
		if ((n = redis_hostport_parse(p, host, &port,
			 REDIS_SENTINEL_PORT, text)) == -1) {
			snprintf(why, REPLAY_ERR_LEN, "%s", text);
			*blame = "replay_redis_sentinels";
			return -1;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

/*
 * With cluster seeds: a redis:// URL without a host, no sentinels, and a
 * list that parses.
 */
static int
check_cluster(const struct redis_settings *o, const char **blame,
    char why[REPLAY_ERR_LEN])
{
	char text[REDIS_URL_ERR_LEN], host[REDIS_URL_HOST_MAX + 1];
	const char *p = o->cluster;
	unsigned port;
	int n;

	*blame = "replay_redis_cluster";
	if (o->sentinels[0] != '\0' || o->master[0] != '\0') {
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_cluster and "
		    "replay_redis_sentinels (or replay_redis_master) name two "
		    "ways to find Redis: keep one");
		return -1;
	}
	while (*p != '\0') {
		if ((n = redis_hostport_parse(p, host, &port,
			 REDIS_DEFAULT_PORT, text)) == -1) {
			snprintf(why, REPLAY_ERR_LEN, "replay_redis_cluster: a "
			    "seed node that does not parse: write HOST:PORT "
			    "pairs separated by commas");
			return -1;
		}
		p += n + (p[n] == ',');
	}
	*blame = "replay_store";
	if (o->url.transport != REDIS_TCP) {
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_cluster needs a "
		    "redis:// replay_store (the nodes are TCP addresses; TLS to "
		    "a cluster is not supported yet)");
		return -1;
	}
	if (o->url.host[0] != '\0') {
		snprintf(why, REPLAY_ERR_LEN, "with replay_redis_cluster, the "
		    "nodes are the ones the cluster names: leave the host out "
		    "of replay_store (redis://[USER:PASSWORD@]/)");
		return -1;
	}
	if (o->url.db != 0) {
		snprintf(why, REPLAY_ERR_LEN, "a Redis Cluster has database 0 "
		    "alone: leave the /DB out of replay_store");
		return -1;
	}
	return 0;
}

static int
redis_check(const struct replay_settings *s, const char **blame,
    char why[REPLAY_ERR_LEN])
{
	const struct redis_settings *o = own(s);

	if (o->cluster[0] != '\0')
		return check_cluster(o, blame, why);

	if (o->sentinels[0] != '\0' && o->master[0] == '\0') {
		*blame = "replay_redis_sentinels";
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_sentinels needs "
		    "replay_redis_master, the name the sentinels monitor the "
		    "primary under: add it, or remove this line");
		return -1;
	}
	if ((o->sentinel_user[0] != '\0' || o->sentinel_password[0] != '\0') &&
	    o->sentinels[0] == '\0') {
		*blame = o->sentinel_password[0] != '\0' ?
		    "replay_redis_sentinel_password" :
		    "replay_redis_sentinel_user";
		snprintf(why, REPLAY_ERR_LEN, "%s is what the sentinels ask: "
		    "it needs replay_redis_sentinels; add them, or remove this "
		    "line", *blame);
		return -1;
	}
	if (o->sentinel_user[0] != '\0' && o->sentinel_password[0] == '\0') {
		*blame = "replay_redis_sentinel_user";
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_sentinel_user needs "
		    "replay_redis_sentinel_password, the user's password: add "
		    "it, or remove this line");
		return -1;
	}
	if (o->master[0] != '\0' && o->sentinels[0] == '\0') {
		*blame = "replay_redis_master";
		snprintf(why, REPLAY_ERR_LEN, "replay_redis_master needs "
		    "replay_redis_sentinels, the sentinels that know it: add "
		    "them, or remove this line");
		return -1;
	}
	*blame = "replay_store";
	if (o->sentinels[0] != '\0')
		return check_sentinels(o, blame, why);
	if (o->url.transport == REDIS_UNIX || o->url.host[0] != '\0')
		return 0;
	snprintf(why, REPLAY_ERR_LEN, "replay_store names no host: write "
	    "redis://HOST[:PORT][/DB], or name the sentinels that know the "
	    "primary (replay_redis_sentinels)");
	return -1;
}

static int
redis_shown(const struct replay_settings *s, const char *key, char *out,
    size_t size)
{
	const struct redis_settings *o = own(s);

	if (strcmp(key, "replay_redis_timeout_ms") == 0)
		snprintf(out, size, "%u", o->timeout_ms);
	else if (strcmp(key, "replay_redis_wait_replicas") == 0)
		snprintf(out, size, "%u", o->wait_replicas);
	else if (strcmp(key, "replay_redis_key_prefix") == 0)
		snprintf(out, size, "%s", o->prefix);
	else if (strcmp(key, "replay_redis_master") == 0)
		snprintf(out, size, "%s", o->master);
	else if (strcmp(key, "replay_redis_sentinels") == 0)
		snprintf(out, size, "%s", o->sentinels);
	else if (strcmp(key, "replay_redis_sentinel_user") == 0)
		snprintf(out, size, "%s", o->sentinel_user);
	else if (strcmp(key, "replay_redis_sentinel_password") == 0)
		snprintf(out, size, "%s", o->sentinel_password[0] != '\0' ?
		    REDIS_HIDDEN : "");
	else if (strcmp(key, "replay_redis_cluster") == 0)
		snprintf(out, size, "%s", o->cluster);
	else
		return -1;
	return 0;
}

/* A host named by name must be resolved again, confined. */
static unsigned
redis_sandbox_needs(const struct replay_settings *s)
{
	return redis_settings_name_hosts(own(s)) ? REPLAY_SANDBOX_RESOLVE : 0;
}

/* Redis's place is Redis's to keep. */
static int
redis_check_place(const struct replay_settings *s, char err[REPLAY_ERR_LEN])
{
	(void)s;
	(void)err;
	return 0;
}

const struct replay_backend replay_redis = {
	.name = "Redis",
	.word = "redis",
	.form = "a redis://, rediss:// or unix:// URL (Redis or Valkey, "
		"shared by several hosts)",
	.noun = "a Redis URL",
	.kind = "a Redis URL",
	.what = "a Redis replay store",
	.how = "set replay_store = redis://... (or rediss://, unix://)",
	.keys = keys,
	.sandbox = REPLAY_SANDBOX_INET,
	.sandbox_needs = redis_sandbox_needs,
	.names = redis_names,
	.set_store = redis_set_store,
	.set = redis_set,
	.misplaced = redis_misplaced,
	.check = redis_check,
	.shown = redis_shown,
	.check_place = redis_check_place,
	.open = redis_open,
	.record = redis_record,
	.lookup = redis_lookup,
	.seen = redis_seen,
	.mark_seen = redis_mark_seen,
	.close = redis_close,
	.describe = redis_describe,
	.reset = redis_reset,
};
