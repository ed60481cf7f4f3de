/*
 * Security rules for this file:
 * 1. Writes go to the primary the map names for their slot, or to the
 *    node a MOVED or ASK reply names, never elsewhere: a slot without a
 *    known, healthy primary has no link, and its keys are refused.
 * 2. Never storm: the map is asked for at most once per
 *    REDIS_BACKOFF_MIN_MS, each node in turn given a share of the time
 *    left; each node's link backs off on its own (redis_link.c).
 * 3. Never hang, never hoard: a question about the map is bounded by the
 *    caller's deadline and by REDIS_EXCHANGE_MAX; a map that names more
 *    nodes than CLUSTER_NODES_MAX, or a slot out of range, is refused.
 * 4. The password is never shown: it is in the settings each link copies,
 *    wiped with them.
 *
 * System calls after start-up: those of redis_link.c's connections; a node
 * the map names is a numeric address, so linking to it resolves no name
 * and reads no file.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_cluster.h"
#include "redis_url.h"

#define CLUSTER_NODES_MAX 128
#define NO_NODE		  0xffff

struct node {
	char host[REDIS_URL_HOST_MAX + 1];
	unsigned port;
	struct redis_link *link; /* made when first used */
	int seed;		 /* named by replay_redis_cluster */
	int primary;		 /* of a slot, in the map */
	unsigned replicas;	 /* as the map says, for check-config: */
	char replica_text[128];	 /* their addresses */
};

struct redis_cluster {
	struct redis_settings settings; /* the URL's user, password, db */
	struct node nodes[CLUSTER_NODES_MAX];
	size_t nnodes, good; /* good: the node that answered last */
	uint16_t slot[REDIS_CLUSTER_SLOTS];
	uint32_t tags[REDIS_CLUSTER_SLOTS]; /* redis_cluster_tag's */
	int have_map, stale;
	uint64_t next_refresh_ms;
	char map_error[REPLAY_ERR_LEN];
};

/* --- slots ----------------------------------------------------------------- */

/*
 * CRC-16/XMODEM (polynomial 0x1021, initial 0), as Redis Cluster hashes,
 * a byte at a time from a table made once (the table of each byte's CRC).
 */
static uint16_t crc_table[256];

static void
make_crc_table(void)
{
	uint16_t crc;
	int byte, bit;

	for (byte = 0; byte < 256; byte++) {
		crc = (uint16_t)(byte << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) != 0 ?
			    (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
		crc_table[byte] = crc;
	}
}

static uint16_t
crc16(const char *p, size_t n)
{
	uint16_t crc = 0;
	size_t i;

	if (crc_table[1] == 0)
		make_crc_table();
	for (i = 0; i < n; i++)
		crc = (uint16_t)((crc << 8) ^
		    crc_table[((crc >> 8) ^ (unsigned char)p[i]) & 0xff]);
	return crc;
}

unsigned
redis_cluster_slot(const char *key, size_t len)
{
	const char *open, *close;

	/* The first '{' and the first '}' after it, with something between:
	 * only that is hashed. */
	if ((open = memchr(key, '{', len)) != NULL &&
	    (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) !=
		NULL &&
	    close > open + 1)
		return crc16(open + 1, (size_t)(close - open - 1)) &
		    (REDIS_CLUSTER_SLOTS - 1);
	return crc16(key, len) & (REDIS_CLUSTER_SLOTS - 1);
}

/*
 * For each slot, the least number whose hex digits hash to it: every slot
 * is reached below 2^20 (about 200,000 tries, a few milliseconds, once).
 */
static void
make_tags(uint32_t tags[REDIS_CLUSTER_SLOTS])
{
	static const char digits[] = "0123456789abcdef";
	char text[REDIS_CLUSTER_TAG_MAX];
	size_t left = REDIS_CLUSTER_SLOTS, n;
	uint32_t i, v;
	unsigned s;

	memset(tags, 0xff, REDIS_CLUSTER_SLOTS * sizeof(tags[0]));
	for (i = 0; left > 0 && i < 0xfffffffu; i++) {
		/* (the digits of i, as "%x" writes them) */
		for (n = 0, v = i; n == 0 || v != 0; v >>= 4)
			text[REDIS_CLUSTER_TAG_MAX - ++n] = digits[v & 15];
		s = crc16(text + REDIS_CLUSTER_TAG_MAX - n, n) &
		    (REDIS_CLUSTER_SLOTS - 1);
		if (tags[s] == 0xffffffffu) {
			tags[s] = i;
			left--;
		}
	}
}

void
redis_cluster_tag(const struct redis_cluster *cl, unsigned slot,
    char tag[REDIS_CLUSTER_TAG_MAX + 1])
{
	snprintf(tag, REDIS_CLUSTER_TAG_MAX + 1, "%x",
	    cl->tags[slot & (REDIS_CLUSTER_SLOTS - 1)]);
}

/* --- nodes ----------------------------------------------------------------- */

static void
node_text(const struct node *n, char *out, size_t size)
{
	if (strchr(n->host, ':') != NULL)
		snprintf(out, size, "[%s]:%u", n->host, n->port);
	else
		snprintf(out, size, "%s:%u", n->host, n->port);
}

/* The node at host:port, added if new; NULL if the list is full. */
static struct node *
node_at(struct redis_cluster *cl, const char *host, unsigned port)
{
	struct node *n;
	size_t i;

	for (i = 0; i < cl->nnodes; i++)
		if (cl->nodes[i].port == port &&
		    strcmp(cl->nodes[i].host, host) == 0)
			return &cl->nodes[i];
	if (cl->nnodes == CLUSTER_NODES_MAX)
		return NULL;
	n = &cl->nodes[cl->nnodes++];
	memset(n, 0, sizeof(*n));
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	return n;
}

/* The node's link, made now if it has none; NULL with err. */
static struct redis_link *
node_link(struct redis_cluster *cl, struct node *n, char err[REPLAY_ERR_LEN])
{
	struct redis_settings s;

	if (n->link != NULL)
		return n->link;
	memcpy(&s, &cl->settings, sizeof(s));
	s.sentinels[0] = '\0';
	s.master[0] = '\0';
	s.cluster[0] = '\0';
	snprintf(s.url.host, sizeof(s.url.host), "%s", n->host);
	s.url.port = n->port;
	n->link = redis_link_open(&s, err);
	explicit_bzero(&s, sizeof(s));
	return n->link;
}

/* --- the map ----------------------------------------------------------------- */

struct map {
	uint16_t slot[REDIS_CLUSTER_SLOTS];
};

static const redisReply *
field(const redisReply *r, const char *name)
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1];
	return NULL;
}

static int
is_string(const redisReply *r, const char *s)
{
	return r != NULL && r->type == REDIS_REPLY_STRING &&
	    (s == NULL || strcmp(r->str, s) == 0);
}

/*
 * The node a map names by address and port, the asked node's address
 * standing for an empty or unknown one. NULL with why.
 */
static struct node *
named_node(struct redis_cluster *cl, const char *addr, long long port,
    const struct node *asked, char why[REPLAY_ERR_LEN])
{
	struct in6_addr a;
	struct node *n;

	if (addr[0] == '\0' || strcmp(addr, "?") == 0)
		addr = asked->host;
	if (inet_pton(AF_INET, addr, &a) != 1 &&
	    inet_pton(AF_INET6, addr, &a) != 1) {
		snprintf(why, REPLAY_ERR_LEN, "the cluster names a node by a "
		    "host name, not an address");
		return NULL;
	}
	if (port < 1 || port > 65535) {
		snprintf(why, REPLAY_ERR_LEN, "the cluster names a node with "
		    "port %lld", port);
		return NULL;
	}
	if ((n = node_at(cl, addr, (unsigned)port)) == NULL)
		snprintf(why, REPLAY_ERR_LEN, "the cluster names more than %d "
		    "nodes", CLUSTER_NODES_MAX);
	return n;
}

static int
assign(struct redis_cluster *cl, struct map *m, long long from, long long to,
    const struct node *primary, char why[REPLAY_ERR_LEN])
{
	long long s;

	if (from < 0 || to >= REDIS_CLUSTER_SLOTS || from > to) {
		snprintf(why, REPLAY_ERR_LEN, "the cluster's map has slots "
		    "%lld-%lld", from, to);
		return -1;
	}
	for (s = from; s <= to; s++)
		m->slot[s] = primary == NULL ? NO_NODE :
		    (uint16_t)(primary - cl->nodes);
	return 0;
}

/* A replica the map names, for check-config: counted, its address noted. */
static void
note_replica(unsigned *count, char *text, size_t size, const char *addr,
    long long port)
{
	size_t len = strlen(text);

	if ((*count)++ > 0 && len + 2 < size) {
		memcpy(text + len, ", ", 3);
		len += 2;
	}
	if (len + 1 < size)
		snprintf(text + len, size - len, "%s:%lld", addr, port);
}

/* One shard of CLUSTER SHARDS: its slots, to its primary if healthy. */
static int
read_shard(struct redis_cluster *cl, struct map *m, const redisReply *shard,
    const struct node *asked, char why[REPLAY_ERR_LEN])
{
	const redisReply *slots = field(shard, "slots"), *nodes = field(shard,
	    "nodes"), *nd, *addr, *port, *health;
	struct node *primary = NULL, *n;
	char replica_text[sizeof(primary->replica_text)] = "";
	unsigned replicas = 0;
	size_t i;

	if (slots == NULL || slots->type != REDIS_REPLY_ARRAY ||
	    nodes == NULL || nodes->type != REDIS_REPLY_ARRAY) {
		snprintf(why, REPLAY_ERR_LEN, "an unexpected reply to CLUSTER "
		    "SHARDS");
		return -1;
	}
	for (i = 0; i < nodes->elements; i++) {
		nd = nodes->element[i];
		addr = field(nd, "ip");
		port = field(nd, "port");
		if (!is_string(addr, NULL) || port == NULL ||
		    port->type != REDIS_REPLY_INTEGER) {
			snprintf(why, REPLAY_ERR_LEN, "an unexpected reply to "
			    "CLUSTER SHARDS");
			return -1;
		}
		/* A node the cluster holds as failed ("fail", "failed" in
		 * its documentation) serves nothing. */
		health = field(nd, "health");
		if (is_string(health, NULL) &&
		    strncmp(health->str, "fail", 4) == 0)
			continue;
		if (!is_string(field(nd, "role"), "master")) {
			note_replica(&replicas, replica_text,
			    sizeof(replica_text), addr->str, port->integer);
			continue;
		}
		if ((n = named_node(cl, addr->str, port->integer, asked,
			 why)) == NULL)
			return -1;
		primary = n;
	}
	if (primary != NULL) {
		primary->replicas = replicas;
		memcpy(primary->replica_text, replica_text,
		    sizeof(replica_text));
	}
	for (i = 0; i + 1 < slots->elements; i += 2) {
		if (slots->element[i]->type != REDIS_REPLY_INTEGER ||
		    slots->element[i + 1]->type != REDIS_REPLY_INTEGER ||
		    assign(cl, m, slots->element[i]->integer,
			slots->element[i + 1]->integer, primary, why) == -1) {
			if (why[0] == '\0')
				snprintf(why, REPLAY_ERR_LEN, "an unexpected "
				    "reply to CLUSTER SHARDS");
			return -1;
		}
	}
	return 0;
}

/* One range of CLUSTER SLOTS: start, end, the primary, its replicas. */
static int
read_range(struct redis_cluster *cl, struct map *m, const redisReply *range,
    const struct node *asked, char why[REPLAY_ERR_LEN])
{
	const redisReply *p, *r;
	struct node *n;
	size_t i;

	if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
	    range->element[0]->type != REDIS_REPLY_INTEGER ||
	    range->element[1]->type != REDIS_REPLY_INTEGER ||
	    (p = range->element[2])->type != REDIS_REPLY_ARRAY ||
	    p->elements < 2 || p->element[0]->type != REDIS_REPLY_STRING ||
	    p->element[1]->type != REDIS_REPLY_INTEGER) {
		snprintf(why, REPLAY_ERR_LEN, "an unexpected reply to CLUSTER "
		    "SLOTS");
		return -1;
	}
	if ((n = named_node(cl, p->element[0]->str, p->element[1]->integer,
		 asked, why)) == NULL)
		return -1;
	n->replicas = 0;
	n->replica_text[0] = '\0';
	for (i = 3; i < range->elements; i++)
		if ((r = range->element[i])->type == REDIS_REPLY_ARRAY &&
		    r->elements >= 2 && r->element[0]->type ==
		    REDIS_REPLY_STRING && r->element[1]->type ==
		    REDIS_REPLY_INTEGER)
			note_replica(&n->replicas, n->replica_text,
			    sizeof(n->replica_text), r->element[0]->str,
			    r->element[1]->integer);
	return assign(cl, m, range->element[0]->integer,
	    range->element[1]->integer, n, why);
}

/* Sends one command on the link and reads its reply; NULL with why. */
static redisReply *
node_command(struct redis_link *l, int argc, const char *argv[], uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	struct redis_exchange x = { deadline, 0, 0, 0, 0 };
	redisContext *c;
	size_t lens[4];
	void *reply;
	int i;

	if ((c = redis_link_get(l, deadline, why)) == NULL)
		return NULL;
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redis_link_timeout(c, deadline) == -1 ||
	    redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK ||
	    redis_next_reply(c, &x, &reply) != REDIS_OK) {
		redis_io_error(c, redis_link_where(l), deadline, why);
		redis_link_failed(l, why);
		return NULL;
	}
	/* (the store sets the timeouts afresh before its next exchange) */
	redis_link_state(l)->timeout_ms = 0;
	redis_link_ok(l);
	return reply;
}

/* The map as node n sees it. */
static int
ask_map(struct redis_cluster *cl, struct node *n, uint64_t deadline,
    struct map *m, char why[REPLAY_ERR_LEN])
{
	const char *shards[] = { "CLUSTER", "SHARDS" };
	const char *slots[] = { "CLUSTER", "SLOTS" };
	struct redis_link *l;
	redisReply *r;
	char text[160];
	size_t i;
	int old = 0, rc = 0;

	if ((l = node_link(cl, n, why)) == NULL)
		return -1;
	if ((r = node_command(l, 2, shards, deadline, why)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR && (strncmp(r->str, "ERR unknown",
	    11) == 0 || strncmp(r->str, "ERR Unknown", 11) == 0 ||
	    strncmp(r->str, "NOPERM", 6) == 0)) {
		/* Before Redis 7, CLUSTER SLOTS alone; or an ACL user
		 * allowed only that. */
		freeReplyObject(r);
		old = 1;
		if ((r = node_command(l, 2, slots, deadline, why)) == NULL)
			return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		redis_reply_text(r, text, sizeof(text));
		snprintf(why, REPLAY_ERR_LEN, "%s: CLUSTER %s: %.120s%s",
		    redis_link_where(l), old ? "SLOTS" : "SHARDS", text,
		    strstr(text, "NOPERM") != NULL ? " (allow the ACL user "
		    "+cluster|shards +cluster|slots)" : strstr(text,
		    "disabled") != NULL ? " (replay_redis_cluster names a "
		    "server that is not in cluster mode)" : "");
		freeReplyObject(r);
		return -1;
	}
	memset(m->slot, 0xff, sizeof(m->slot));
	why[0] = '\0';
	for (i = 0; i < r->elements && rc == 0; i++)
		rc = old ? read_range(cl, m, r->element[i], n, why) :
		    read_shard(cl, m, r->element[i], n, why);
	freeReplyObject(r);
	return rc;
}

/*
 * The map in use becomes m (said in the log when it changed: a failover, a
 * slot moved); each node's role follows. A slot without a primary leaves
 * the map stale.
 */
static void
take_map(struct redis_cluster *cl, const struct map *m,
    const struct node *from)
{
	char where[REDIS_CLUSTER_WHERE_MAX];
	unsigned s, moved = 0;
	size_t i;

	cl->stale = 0;
	for (s = 0; s < REDIS_CLUSTER_SLOTS; s++)
		moved += m->slot[s] != cl->slot[s];
	if (cl->have_map && moved > 0) {
		node_text(from, where, sizeof(where));
		log_msg(LOG_NOTICE, "replay store: the Redis Cluster's slot map "
		    "changed, as %s tells it: %u slot%s to another primary",
		    where, moved, moved == 1 ? "" : "s");
	}
	memcpy(cl->slot, m->slot, sizeof(cl->slot));
	for (i = 0; i < cl->nnodes; i++)
		cl->nodes[i].primary = 0;
	for (s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
		if (m->slot[s] == NO_NODE)
			cl->stale = 1;
		else
			cl->nodes[m->slot[s]].primary = 1;
	}
	cl->have_map = 1;
}

/*
 * Asks the nodes in turn for the map, the one that answered last first,
 * then the primaries, then the seeds; each gets half of the time left.
 */
static int
refresh(struct redis_cluster *cl, uint64_t deadline)
{
	char why[REPLAY_ERR_LEN] = "no node to ask";
	size_t k, i, tried = 0, count = cl->nnodes;
	struct map *m;
	uint64_t now;
	int pass;

	cl->next_refresh_ms = redis_now_ms() + REDIS_BACKOFF_MIN_MS;
	if ((m = malloc(sizeof(*m))) == NULL) {
		snprintf(cl->map_error, sizeof(cl->map_error), "out of memory");
		return -1;
	}
	for (pass = 0; pass < 3; pass++) {
		for (k = 0; k < count; k++) {
			i = (cl->good + k) % count;
			if ((pass == 0) != (i == cl->good) ||
			    (pass == 1 && !cl->nodes[i].primary) ||
			    (pass == 2 && cl->nodes[i].primary))
				continue;
			now = redis_now_ms();
			if (now >= deadline)
				break;
			tried++;
			if (ask_map(cl, &cl->nodes[i], now + (deadline - now) / 2,
				m, why) == -1)
				continue;
			cl->good = i;
			take_map(cl, m, &cl->nodes[i]);
			free(m);
			cl->map_error[0] = '\0';
			return 0;
		}
	}
	free(m);
	snprintf(cl->map_error, sizeof(cl->map_error), "no node of the "
	    "cluster told its slot map (%.200s)%s", why, tried == 0 ?
	    ", none asked in time" : "");
	return -1;
}

struct redis_link *
redis_cluster_link(struct redis_cluster *cl, unsigned slot, uint64_t deadline,
    char err[REPLAY_ERR_LEN])
{
	uint16_t n;

	if ((!cl->have_map || cl->stale) &&
	    redis_now_ms() >= cl->next_refresh_ms)
		refresh(cl, deadline);
	if (!cl->have_map) {
		snprintf(err, REPLAY_ERR_LEN, "Redis Cluster: %.290s",
		    cl->map_error);
		return NULL;
	}
	if ((n = cl->slot[slot & (REDIS_CLUSTER_SLOTS - 1)]) == NO_NODE) {
		cl->stale = 1;
		snprintf(err, REPLAY_ERR_LEN, "Redis Cluster: slot %u has no "
		    "reachable primary (the cluster names none, or one that "
		    "failed)", slot);
		return NULL;
	}
	return node_link(cl, &cl->nodes[n], err);
}

enum redis_redirect
redis_cluster_redirect(struct redis_cluster *cl, const redisReply *r,
    struct redis_link **to, char err[REPLAY_ERR_LEN])
{
	char host[REDIS_URL_HOST_MAX + 1];
	const char *p, *colon;
	struct node *n;
	long long port;
	size_t len;
	int moved;

	*to = NULL;
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return REDIS_ANSWERED;
	if (strncmp(r->str, "TRYAGAIN", 8) == 0)
		return REDIS_TRY_AGAIN;
	if (strncmp(r->str, "CLUSTERDOWN", 11) == 0) {
		cl->stale = 1;
		return REDIS_TRY_AGAIN;
	}
	moved = strncmp(r->str, "MOVED ", 6) == 0;
	if (!moved && strncmp(r->str, "ASK ", 4) != 0)
		return REDIS_ANSWERED;
	cl->stale |= moved;
	/* "MOVED 3999 127.0.0.1:6381": the slot, then where (an IPv6
	 * address unbracketed: the port follows the last colon). */
	if ((p = strchr(r->str, ' ')) == NULL ||
	    (p = strchr(p + 1, ' ')) == NULL ||
	    (colon = strrchr(++p, ':')) == NULL ||
	    (len = (size_t)(colon - p)) == 0 || len > REDIS_URL_HOST_MAX ||
	    (port = strtoll(colon + 1, NULL, 10)) <= 0) {
		snprintf(err, REPLAY_ERR_LEN, "Redis Cluster: a redirection "
		    "that does not parse");
		return REDIS_TRY_AGAIN;
	}
	if (p[0] == '[' && len >= 2 && p[len - 1] == ']') {
		p++;
		len -= 2;
	}
	memcpy(host, p, len);
	host[len] = '\0';
	if ((n = named_node(cl, host, port, &cl->nodes[cl->good], err)) !=
	    NULL)
		*to = node_link(cl, n, err);
	return moved ? REDIS_MOVED : REDIS_ASK;
}

void
redis_cluster_stale(struct redis_cluster *cl)
{
	cl->stale = 1;
}

void
redis_cluster_tidy(struct redis_cluster *cl)
{
	uint16_t moved[CLUSTER_NODES_MAX];
	size_t i, kept = 0;
	unsigned s;

	for (i = 0; i < cl->nnodes; i++) {
		if (!cl->nodes[i].seed && !cl->nodes[i].primary) {
			redis_link_close(cl->nodes[i].link);
			moved[i] = NO_NODE;
			continue;
		}
		if (kept != i)
			cl->nodes[kept] = cl->nodes[i];
		moved[i] = (uint16_t)kept++;
	}
	if (kept == cl->nnodes)
		return;
	for (s = 0; s < REDIS_CLUSTER_SLOTS; s++)
		if (cl->slot[s] != NO_NODE)
			cl->slot[s] = moved[cl->slot[s]];
	cl->good = cl->good < cl->nnodes && moved[cl->good] != NO_NODE ?
	    moved[cl->good] : 0;
	cl->nnodes = kept;
}

/* The index in nodes of primary i, or -1. */
static long
primary_index(const struct redis_cluster *cl, size_t i)
{
	size_t k;

	for (k = 0; k < cl->nnodes; k++)
		if (cl->nodes[k].primary && i-- == 0)
			return (long)k;
	return -1;
}

size_t
redis_cluster_slots_of(const struct redis_cluster *cl, size_t i,
    uint16_t out[REDIS_CLUSTER_SLOTS])
{
	long k = primary_index(cl, i);
	size_t n = 0;
	unsigned s;

	for (s = 0; s < REDIS_CLUSTER_SLOTS && k >= 0; s++)
		if (cl->slot[s] == (uint16_t)k)
			out[n++] = (uint16_t)s;
	return n;
}

struct redis_link *
redis_cluster_primary(struct redis_cluster *cl, size_t i, uint64_t deadline)
{
	char err[REPLAY_ERR_LEN];
	long k;

	if (!cl->have_map)
		refresh(cl, deadline);
	if ((k = primary_index(cl, i)) == -1)
		return NULL;
	return node_link(cl, &cl->nodes[k], err);
}

/* --- opening and closing ----------------------------------------------------- */

static int
add_seeds(struct redis_cluster *cl, char err[REPLAY_ERR_LEN])
{
	char host[REDIS_URL_HOST_MAX + 1], why[REDIS_URL_ERR_LEN];
	const char *p = cl->settings.cluster;
	struct node *n;
	unsigned port;
	int len;

	while (*p != '\0') {
		if ((len = redis_hostport_parse(p, host, &port,
			 REDIS_DEFAULT_PORT, why)) == -1) {
			snprintf(err, REPLAY_ERR_LEN, "replay_redis_cluster: a "
			    "seed that does not parse: write HOST:PORT,...");
			return -1;
		}
		p += len + (p[len] == ',');
		if ((n = node_at(cl, host, port)) == NULL) {
			snprintf(err, REPLAY_ERR_LEN, "replay_redis_cluster: "
			    "more than %d seeds", CLUSTER_NODES_MAX);
			return -1;
		}
		n->seed = 1;
		/* A seed named by a host name is resolved now, once. */
		if (node_link(cl, n, err) == NULL)
			return -1;
	}
	return 0;
}

struct redis_cluster *
redis_cluster_open(const struct redis_settings *s, char err[REPLAY_ERR_LEN])
{
	struct redis_cluster *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		return NULL;
	}
	memcpy(&cl->settings, s, sizeof(cl->settings));
	memset(cl->slot, 0xff, sizeof(cl->slot));
	make_tags(cl->tags);
	if (add_seeds(cl, err) == -1) {
		redis_cluster_close(cl);
		return NULL;
	}
	return cl;
}

int
redis_cluster_serves(const struct redis_cluster *cl,
    const struct redis_settings *s)
{
	const struct redis_url *a = &cl->settings.url, *b = &s->url;

	return strcmp(cl->settings.cluster, s->cluster) == 0 &&
	    a->transport == b->transport && strcmp(a->user, b->user) == 0 &&
	    a->has_password == b->has_password &&
	    strcmp(a->password, b->password) == 0 && a->db == b->db;
}

void
redis_cluster_close(struct redis_cluster *cl)
{
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->nnodes; i++)
		redis_link_close(cl->nodes[i].link);
	explicit_bzero(cl, sizeof(*cl));
	free(cl);
}

/* --- for people ------------------------------------------------------------- */

int
redis_cluster_describe(struct redis_cluster *cl, unsigned timeout_ms)
{
	char where[REDIS_CLUSTER_WHERE_MAX];
	unsigned s, from, served = 0;
	uint16_t n;
	size_t i;

	if (refresh(cl, redis_now_ms() + timeout_ms) == -1) {
		printf("  PROBLEM: %s: every login would be refused\n",
		    cl->map_error);
		return 1;
	}
	node_text(&cl->nodes[cl->good], where, sizeof(where));
	printf("  the cluster's slot map, as %s tells it:\n", where);
	for (i = 0; i < cl->nnodes; i++) {
		if (!cl->nodes[i].primary)
			continue;
		node_text(&cl->nodes[i], where, sizeof(where));
		printf("  node %s: primary of slots", where);
		for (s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
			if (cl->slot[s] != i)
				continue;
			for (from = s; s + 1 < REDIS_CLUSTER_SLOTS &&
			    cl->slot[s + 1] == i; s++)
				;
			served += s - from + 1;
			if (from == s)
				printf(" %u", from);
			else
				printf(" %u-%u", from, s);
		}
		printf(", %u replica%s%s%s%s\n", cl->nodes[i].replicas,
		    cl->nodes[i].replicas == 1 ? "" : "s",
		    cl->nodes[i].replicas > 0 ? " (" : "",
		    cl->nodes[i].replica_text,
		    cl->nodes[i].replicas > 0 ? ")" : "");
	}
	if (served == REDIS_CLUSTER_SLOTS)
		return 0;
	for (s = 0; s < REDIS_CLUSTER_SLOTS && cl->slot[s] != NO_NODE; s++)
		;
	n = (uint16_t)s;
	printf("  PROBLEM: %u of %u slots have no healthy primary (slot %u "
	       "among them): logins whose JID falls there are refused\n",
	    REDIS_CLUSTER_SLOTS - served, REDIS_CLUSTER_SLOTS, n);
	return 1;
}
