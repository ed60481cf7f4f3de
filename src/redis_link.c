/*
 * Security rules for this file:
 * 1. The password is never shown: messages name addresses and quote what
 *    Redis answered, which never holds it.
 * 2. Never hang, never hoard: a connect, a login, a question to a sentinel
 *    and an exchange of the store's each get the time left until the
 *    caller's deadline, and no more, whatever the server sends and however
 *    slowly (every read and write after the first gets only what is left);
 *    an exchange reads at most REDIS_EXCHANGE_MAX bytes.
 * 3. Never storm: after two failures in a row, no attempt until the
 *    back-off step has passed; a refusal meanwhile costs no system call.
 * 4. After start-up no file is opened but the resolver's, and a name is
 *    resolved only before the attempt that follows a failed connection to
 *    it (so at most once per back-off step, never per login); numeric
 *    addresses, and those Sentinel names, are never looked up. TLS's CA
 *    certificates are read when the link is opened.
 * 5. A sentinel is trusted with one thing: the primary's address. The
 *    server it names is used only once it accepts the store's credentials
 *    and says it is the primary (ROLE); otherwise the next sentinel is
 *    asked. One that answers READONLY later is dropped: writes never go to
 *    a replica that would lose them. The sentinels' own password goes to
 *    the sentinels only, the store's to the server they name only.
 *
 * System calls after start-up (for the sandbox): socket (AF_INET, AF_INET6
 * and AF_UNIX, SOCK_STREAM), connect, poll, fcntl (F_GETFL, F_SETFL),
 * getsockopt (SO_ERROR), setsockopt (SO_REUSEADDR, TCP_NODELAY,
 * SO_RCVTIMEO, SO_SNDTIMEO), write, read (send and recv with hiredis 1.x),
 * close, clock_gettime; with TLS also getrandom (OpenSSL's reseeding); and
 * through log.c what syslog(3) uses. hiredis hands the numeric address to
 * getaddrinfo(3), which answers an IPv4 address without a system call; for
 * an IPv6 address hiredis 0.14 asks for IPv4 first, and glibc then looks in
 * /etc/hosts (NSS), a lookup that must be refused with an error (EACCES),
 * not killed, after which the IPv6 one succeeds. Resolving a name again
 * (glibc 2.36, seen with strace): stat and read /etc/nsswitch.conf,
 * /etc/resolv.conf, /etc/hosts, /etc/gai.conf; a netlink route socket
 * (socket, bind, getsockname, sendto, recvmsg) for the host's own
 * addresses; UDP to the resolvers (socket SOCK_DGRAM, setsockopt, connect,
 * poll, sendmmsg, ioctl FIONREAD, recvfrom), TCP if an answer is cut.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#ifdef HAVE_HIREDIS_SSL
#include <hiredis/hiredis_ssl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

#include "log.h"
#include "redis_link.h"
#include "redis_url.h"

#define MAX_ADDRS     8	  /* addresses of one host name */
#define MAX_SENTINELS 16  /* addresses of all the sentinels */
#define WHERE_LEN     (REDIS_URL_PATH_MAX + 8)

/* Where to connect: a numeric address and port, or a socket's path. */
struct endpoint {
	int family;
	char addr[REDIS_URL_PATH_MAX + 1];
	unsigned port;
	const char *tls_name; /* the name its certificate must bear */
};

struct redis_link {
	/* Where it goes, as the settings said. */
	struct redis_url url;
	char sentinel_list[REDIS_SENTINELS_MAX];
	char master[REDIS_MASTER_MAX];
	char sentinel_user[REDIS_URL_USER_MAX + 1];
	char sentinel_password[REDIS_URL_PASSWORD_MAX + 1];

	struct endpoint addrs[MAX_ADDRS];
	size_t naddrs;
	struct endpoint sentinels[MAX_SENTINELS];
	char sentinel_names[MAX_SENTINELS][REDIS_URL_HOST_MAX + 1];
	size_t nsentinels, good_sentinel;
	struct endpoint primary; /* as the sentinels last named it */
	char resolve_error[REPLAY_ERR_LEN]; /* no address at all, and why */
	int primary_stale, sentinels_stale; /* resolve again before the next
					     * attempt: a connection failed */
#ifdef HAVE_HIREDIS_SSL
	SSL_CTX *tls;
#endif

	redisContext *c;
	struct redis_conn_state state;
	char where[WHERE_LEN];

	unsigned failures, delay_ms;
	uint64_t next_ms;
	char last_error[REPLAY_ERR_LEN];
};

uint64_t
redis_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
endpoint_text(const struct endpoint *e, char out[WHERE_LEN])
{
	if (e->family == AF_UNIX)
		snprintf(out, WHERE_LEN, "%s", e->addr);
	else if (e->family == AF_INET6)
		snprintf(out, WHERE_LEN, "[%s]:%u", e->addr, e->port);
	else
		snprintf(out, WHERE_LEN, "%s:%u", e->addr, e->port);
}

void
redis_reply_text(const redisReply *r, char *out, size_t size)
{
	size_t i, n;

	if (r == NULL) {
		snprintf(out, size, "(no reply)");
	} else if (r->type == REDIS_REPLY_INTEGER) {
		snprintf(out, size, "%lld", r->integer);
	} else if (r->type == REDIS_REPLY_NIL) {
		snprintf(out, size, "(nil)");
	} else if (r->type == REDIS_REPLY_ARRAY) {
		snprintf(out, size, "(an array of %zu)", r->elements);
	} else if (r->str != NULL) {
		n = r->len < size - 1 ? r->len : size - 1;
		for (i = 0; i < n; i++)
			out[i] = r->str[i] >= 0x20 && r->str[i] < 0x7f ?
			    r->str[i] : '?';
		out[n] = '\0';
	} else {
		snprintf(out, size, "(reply of type %d)", r->type);
	}
}

int
redis_link_timeout(redisContext *c, uint64_t deadline)
{
	uint64_t now = redis_now_ms(), left;
	struct timeval tv;

	if (now >= deadline)
		return -1;
	left = deadline - now;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
	return redisSetTimeout(c, tv) == REDIS_OK ? 0 : -1;
}

/* Gives the next write or read of x only the time left. */
static int
retime(redisContext *c, struct redis_exchange *x)
{
	uint64_t now;

	if (x->ios++ == 0)
		return 0;
	now = redis_now_ms();
	if (x->timeout_ms > 0 && now < x->deadline &&
	    now + x->timeout_ms <= x->deadline + REDIS_RETIME_SLACK_MS)
		return 0;
	x->retimed = 1;
	x->timeout_ms = now < x->deadline ? x->deadline - now : 0;
	if (redis_link_timeout(c, x->deadline) == 0)
		return 0;
	c->err = REDIS_ERR_IO;
	errno = EAGAIN;
	snprintf(c->errstr, sizeof(c->errstr), "%s", strerror(errno));
	return -1;
}

int
redis_send(redisContext *c, struct redis_exchange *x)
{
	int done = 0;

	while (!done)
		if (retime(c, x) == -1 || redisBufferWrite(c, &done) != REDIS_OK)
			return REDIS_ERR;
	return REDIS_OK;
}

int
redis_next_reply(redisContext *c, struct redis_exchange *x, void **reply)
{
	size_t before;

	*reply = NULL;
	if (redis_send(c, x) != REDIS_OK)
		return REDIS_ERR;
	for (;;) {
		if (redisGetReplyFromReader(c, reply) != REDIS_OK)
			return REDIS_ERR;
		if (*reply != NULL)
			return REDIS_OK;
		if (retime(c, x) == -1)
			return REDIS_ERR;
		/* (the reader parses nothing while it is fed: what its buffer
		 * grew by is what was read) */
		before = c->reader->len;
		if (redisBufferRead(c) != REDIS_OK)
			return REDIS_ERR;
		x->taken += c->reader->len > before ? c->reader->len - before :
		    c->reader->len;
		if (x->taken > REDIS_EXCHANGE_MAX) {
			c->err = REDIS_ERR_OTHER;
			snprintf(c->errstr, sizeof(c->errstr), "a reply of more "
			    "than %d KiB, far more than asked for: not a "
			    "Redis this store can use", REDIS_EXCHANGE_MAX /
			    1024);
			return REDIS_ERR;
		}
	}
}

/* --- resolving, when opened ------------------------------------------- */

/*
 * Up to max addresses of host:port into out. A numeric address is taken
 * as it is; a name is resolved (DNS, /etc/hosts): when the link is opened,
 * and again after a connection to it failed (names that move).
 */
static size_t
resolve(const char *host, unsigned port, struct endpoint *out, size_t max,
    char err[REPLAY_ERR_LEN])
{
	struct addrinfo hints, *res, *ai;
	char service[8];
	size_t n = 0;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, service, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, REPLAY_ERR_LEN, "cannot resolve %.100s: %s (tried "
		    "again after the back-off; check its name, /etc/hosts and "
		    "the resolver)", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return 0;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		void *a = ai->ai_family == AF_INET6 ?
		    (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr :
		    (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		out[n].family = ai->ai_family;
		out[n].port = port;
		if (inet_ntop(ai->ai_family, a, out[n].addr,
			sizeof(out[n].addr)) != NULL)
			n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		snprintf(err, REPLAY_ERR_LEN, "%.100s has no IPv4 or IPv6 "
		    "address", host);
	return n;
}

static int
resolve_sentinels(struct redis_link *l, char err[REPLAY_ERR_LEN])
{
	char why[REDIS_URL_ERR_LEN], host[REDIS_URL_HOST_MAX + 1];
	const char *p = l->sentinel_list;
	struct endpoint found[MAX_ADDRS];
	size_t i, n;
	unsigned port;
	int len, missing = 0;

	l->nsentinels = 0;
	err[0] = '\0';
	while (*p != '\0') {
		if ((len = redis_hostport_parse(p, host, &port,
			 REDIS_SENTINEL_PORT, why)) == -1) {
			snprintf(err, REPLAY_ERR_LEN, "%s", why);
			return -1;
		}
		p += len + (p[len] == ',');
		if ((n = resolve(host, port, found, MAX_ADDRS, err)) == 0)
			missing = 1;
		for (i = 0; i < n && l->nsentinels < MAX_SENTINELS; i++) {
			snprintf(l->sentinel_names[l->nsentinels],
			    sizeof(l->sentinel_names[0]), "%s", host);
			l->sentinels[l->nsentinels] = found[i];
			l->sentinels[l->nsentinels].tls_name =
			    l->sentinel_names[l->nsentinels];
			l->nsentinels++;
		}
	}
	/* One sentinel whose name does not resolve is one fewer to ask, and
	 * is looked up again before the next connection. */
	l->sentinels_stale = missing;
	if (l->nsentinels > 0)
		err[0] = '\0';
	else if (err[0] == '\0')
		snprintf(err, REPLAY_ERR_LEN, "no sentinel address");
	return l->nsentinels == 0 ? -1 : 0;
}

/* Where the primary is, as far as the URL says. */
static int
resolve_primary(struct redis_link *l, char err[REPLAY_ERR_LEN])
{
	size_t i;

	if (l->url.transport == REDIS_UNIX) {
		l->addrs[0].family = AF_UNIX;
		snprintf(l->addrs[0].addr, sizeof(l->addrs[0].addr), "%s",
		    l->url.path);
		l->naddrs = 1;
		return 0;
	}
	if (l->url.host[0] == '\0')
		return 0; /* the sentinels will say */
	l->naddrs = resolve(l->url.host, l->url.port, l->addrs, MAX_ADDRS,
	    err);
	for (i = 0; i < l->naddrs; i++)
		l->addrs[i].tls_name = l->url.host;
	return l->naddrs == 0 ? -1 : 0;
}

/* --- names that move ----------------------------------------------------- */

/* Whether host is a name, which may come to have other addresses. */
static int
is_name(const char *host)
{
	struct in6_addr a;

	return host[0] != '\0' && inet_pton(AF_INET, host, &a) != 1 &&
	    inet_pton(AF_INET6, host, &a) != 1;
}

int
redis_hosts_named(const char *list, unsigned default_port)
{
	char host[REDIS_URL_HOST_MAX + 1], why[REDIS_URL_ERR_LEN];
	unsigned port;
	int len;

	while (*list != '\0') {
		if ((len = redis_hostport_parse(list, host, &port, default_port,
			 why)) == -1)
			return 0;
		if (is_name(host))
			return 1;
		list += len + (list[len] == ',');
	}
	return 0;
}

int
redis_settings_name_hosts(const struct redis_settings *s)
{
	return (s->url.transport != REDIS_UNIX && is_name(s->url.host)) ||
	    redis_hosts_named(s->sentinels, REDIS_SENTINEL_PORT) ||
	    redis_hosts_named(s->cluster, REDIS_DEFAULT_PORT);
}

/* The addresses of e[0..n), for people: "192.0.2.1, 2001:db8::1". */
static void
addresses_text(const struct endpoint *e, size_t n, int with_ports,
    char *out, size_t size)
{
	char one[WHERE_LEN];
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n && used < size; i++) {
		if (with_ports)
			endpoint_text(&e[i], one);
		else
			snprintf(one, sizeof(one), "%s", e[i].addr);
		used += (size_t)snprintf(out + used, size - used, "%s%s",
		    i > 0 ? ", " : "", one);
	}
}

/* Whether a and b hold the same addresses, in whatever order (a resolver
 * may rotate them: that is no move worth a log line). */
static int
same_addresses(const struct endpoint *a, size_t na, const struct endpoint *b,
    size_t nb)
{
	size_t i, j;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && (a[i].port != b[j].port ||
			 strcmp(a[i].addr, b[j].addr) != 0); j++)
			;
		if (j == nb)
			return 0;
	}
	return 1;
}

/*
 * The primary's name resolved again. What it resolves to now replaces what
 * it did (and the change is logged); if it resolves to nothing, the
 * addresses it had are kept: they may answer again.
 */
static void
refresh_primary(struct redis_link *l)
{
	struct endpoint found[MAX_ADDRS];
	char err[REPLAY_ERR_LEN] = "", before[256], after[256];
	size_t n, i;

	l->primary_stale = 0;
	if (l->url.transport == REDIS_UNIX || !is_name(l->url.host))
		return;
	if ((n = resolve(l->url.host, l->url.port, found, MAX_ADDRS,
		 err)) == 0) {
		if (l->naddrs == 0)
			snprintf(l->resolve_error, sizeof(l->resolve_error),
			    "%s", err);
		return;
	}
	for (i = 0; i < n; i++)
		found[i].tls_name = l->url.host;
	addresses_text(l->addrs, l->naddrs, 0, before, sizeof(before));
	addresses_text(found, n, 0, after, sizeof(after));
	if (!same_addresses(l->addrs, l->naddrs, found, n))
		log_msg(LOG_NOTICE, "replay store: %s now resolves to %s "
		    "(was %s)", l->url.host, after, before[0] != '\0' ? before :
		    "unresolved");
	memcpy(l->addrs, found, n * sizeof(found[0]));
	l->naddrs = n;
	l->resolve_error[0] = '\0';
}

/* The sentinels' names resolved again; as refresh_primary. */
static void
refresh_sentinels(struct redis_link *l)
{
	struct endpoint kept[MAX_SENTINELS];
	char err[REPLAY_ERR_LEN], before[512], after[512];
	size_t nkept = l->nsentinels;

	l->sentinels_stale = 0;
	if (!redis_hosts_named(l->sentinel_list, REDIS_SENTINEL_PORT))
		return;
	/* (each keeps pointing at its own name: names and addresses keep
	 * their places together) */
	memcpy(kept, l->sentinels, sizeof(kept));
	addresses_text(l->sentinels, l->nsentinels, 1, before, sizeof(before));
	if (resolve_sentinels(l, err) == -1) {
		memcpy(l->sentinels, kept, sizeof(kept));
		l->nsentinels = nkept;
		if (nkept == 0)
			snprintf(l->resolve_error, sizeof(l->resolve_error),
			    "%s", err);
		return;
	}
	addresses_text(l->sentinels, l->nsentinels, 1, after, sizeof(after));
	if (!same_addresses(kept, nkept, l->sentinels, l->nsentinels))
		log_msg(LOG_NOTICE, "replay store: the sentinels' names now "
		    "resolve to %s (was %s)", after, before[0] != '\0' ?
		    before : "unresolved");
	if (l->good_sentinel >= l->nsentinels)
		l->good_sentinel = 0;
	l->resolve_error[0] = '\0';
}

/* Before an attempt to connect: the names a failure made doubtful. */
static void
refresh_names(struct redis_link *l)
{
	if (l->primary_stale)
		refresh_primary(l);
	if (l->sentinels_stale)
		refresh_sentinels(l);
}

/* --- TLS ---------------------------------------------------------------- */

#ifdef HAVE_HIREDIS_SSL
/*
 * The system's CA certificates, read now (a file, not a directory looked
 * up at each handshake: nothing is read after start-up), and peers
 * verified against them, with the name checked at each connection.
 */
static int
tls_open(struct redis_link *l, char err[REPLAY_ERR_LEN])
{
	const char *file = getenv(X509_get_default_cert_file_env());

	if (file == NULL)
		file = X509_get_default_cert_file();
	if ((l->tls = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "cannot set up TLS (OpenSSL)");
		return -1;
	}
	SSL_CTX_set_min_proto_version(l->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(l->tls, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(l->tls, file, NULL) != 1) {
		snprintf(err, REPLAY_ERR_LEN, "rediss://: cannot read the CA "
		    "certificates in %.200s (Debian package ca-certificates)",
		    file);
		return -1;
	}
	return 0;
}

static int
tls_start(struct redis_link *l, redisContext *c, const struct endpoint *e,
    uint64_t deadline, char why[REPLAY_ERR_LEN])
{
	struct in6_addr a;
	const char *name = e->tls_name != NULL && e->tls_name[0] != '\0' ?
	    e->tls_name : e->addr;
	SSL *ssl;
	long v;

	if ((ssl = SSL_new(l->tls)) == NULL) {
		snprintf(why, REPLAY_ERR_LEN, "cannot set up TLS (OpenSSL)");
		return -1;
	}
	if (inet_pton(AF_INET, name, &a) == 1 ||
	    inet_pton(AF_INET6, name, &a) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	else if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
	    SSL_set1_host(ssl, name) != 1) {
		SSL_free(ssl);
		snprintf(why, REPLAY_ERR_LEN, "cannot set up TLS for %.100s",
		    name);
		return -1;
	}
	if (redis_link_timeout(c, deadline) == -1 ||
	    redisInitiateSSL(c, ssl) != REDIS_OK) {
		v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			snprintf(why, REPLAY_ERR_LEN, "TLS with %.80s: the "
			    "certificate is refused (%.80s): it must be signed "
			    "by a CA of the system's and name the host of "
			    "replay_store", name,
			    X509_verify_cert_error_string(v));
		else
			snprintf(why, REPLAY_ERR_LEN, "TLS with %.80s failed: "
			    "%.120s", name, c->errstr[0] != '\0' ? c->errstr :
			    "no time left");
		SSL_free(ssl);
		return -1;
	}
	return 0;
}
#endif

/* --- connecting ----------------------------------------------------------- */

static redisContext *
connect_to(struct redis_link *l, const struct endpoint *e, uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	uint64_t now = redis_now_ms();
	char where[WHERE_LEN];
	struct timeval tv;
	redisContext *c;

	endpoint_text(e, where);
	if (now >= deadline) {
		snprintf(why, REPLAY_ERR_LEN, "%s: no time left to connect",
		    where);
		return NULL;
	}
	tv.tv_sec = (time_t)((deadline - now) / 1000);
	tv.tv_usec = (suseconds_t)((deadline - now) % 1000 * 1000);
	c = e->family == AF_UNIX ? redisConnectUnixWithTimeout(e->addr, tv) :
	    redisConnectWithTimeout(e->addr, (int)e->port, tv);
	if (c == NULL || c->err != 0) {
		snprintf(why, REPLAY_ERR_LEN, "%s: %s", where,
		    c == NULL ? "out of memory" : c->errstr);
		redisFree(c);
		return NULL;
	}
#ifdef HAVE_HIREDIS_SSL
	if (l->url.transport == REDIS_TLS &&
	    tls_start(l, c, e, deadline, why) == -1) {
		redisFree(c);
		return NULL;
	}
#else
	(void)l;
#endif
	return c;
}

void
redis_io_error(const redisContext *c, const char *where, uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	/* A read timeout is EAGAIN, which hiredis words as such. */
	if (redis_now_ms() + 1 >= deadline || (c->err == REDIS_ERR_IO &&
	    (errno == EAGAIN || errno == EWOULDBLOCK)))
		snprintf(why, REPLAY_ERR_LEN, "%.120s: no reply in time "
		    "(replay_redis_timeout_ms)", where);
	else
		snprintf(why, REPLAY_ERR_LEN, "%.120s: %s", where,
		    c->errstr[0] != '\0' ? c->errstr : "connection lost");
}

/* Sends argc words, then reads the reply; NULL with why. */
static redisReply *
command_reply(redisContext *c, const char *where, int argc, const char **argv,
    uint64_t deadline, char why[REPLAY_ERR_LEN])
{
	struct redis_exchange x = { deadline, 0, 0, 0, 0 };
	size_t lens[8];
	void *reply = NULL;
	int i;

	for (i = 0; i < argc && i < 8; i++)
		lens[i] = strlen(argv[i]);
	if (redis_link_timeout(c, deadline) == -1) {
		snprintf(why, REPLAY_ERR_LEN, "%s: no time left", where);
		return NULL;
	}
	if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK ||
	    redis_next_reply(c, &x, &reply) != REDIS_OK) {
		redis_io_error(c, where, deadline, why);
		return NULL;
	}
	return reply;
}

/*
 * The sentinel's answer to AUTH, if it was asked, as a reason to refuse in
 * why; 0 if it let us in.
 */
static int
sentinel_auth_refused(const redisReply *r, const char *where,
    char why[REPLAY_ERR_LEN])
{
	char text[128];

	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	redis_reply_text(r, text, sizeof(text));
	snprintf(why, REPLAY_ERR_LEN, "sentinel %.100s refused AUTH: %.100s "
	    "(replay_redis_sentinel_user and replay_redis_sentinel_password)",
	    where, text);
	return -1;
}

/*
 * SENTINEL get-master-addr-by-name, after AUTH where the sentinels ask it,
 * in one round trip: the reply to the question, or NULL with why.
 */
static redisReply *
ask_sentinel_authed(struct redis_link *l, redisContext *c, const char *where,
    uint64_t deadline, char why[REPLAY_ERR_LEN])
{
	const char *auth[] = { "AUTH", l->sentinel_user, l->sentinel_password };
	const char *question[] = { "SENTINEL", "get-master-addr-by-name",
		l->master };
	int nauth = l->sentinel_user[0] != '\0' ? 3 : 2;
	struct redis_exchange x = { deadline, 0, 0, 0, 0 };
	size_t alens[3], qlens[3], i;
	void *reply = NULL;

	if (l->sentinel_password[0] == '\0')
		return command_reply(c, where, 3, question, deadline, why);
	if (nauth == 2)
		auth[1] = l->sentinel_password;
	for (i = 0; i < 3; i++) {
		alens[i] = strlen(auth[i]);
		qlens[i] = strlen(question[i]);
	}
	if (redis_link_timeout(c, deadline) == -1) {
		snprintf(why, REPLAY_ERR_LEN, "%s: no time left", where);
		return NULL;
	}
	if (redisAppendCommandArgv(c, nauth, auth, alens) != REDIS_OK ||
	    redisAppendCommandArgv(c, 3, question, qlens) != REDIS_OK ||
	    redis_next_reply(c, &x, &reply) != REDIS_OK) {
		redis_io_error(c, where, deadline, why);
		return NULL;
	}
	if (sentinel_auth_refused(reply, where, why) == -1) {
		freeReplyObject(reply);
		return NULL;
	}
	freeReplyObject(reply);
	if (redis_next_reply(c, &x, &reply) != REDIS_OK) {
		redis_io_error(c, where, deadline, why);
		return NULL;
	}
	return reply;
}

/* The primary as one sentinel names it. */
static int
ask_sentinel(struct redis_link *l, const struct endpoint *s, uint64_t deadline,
    struct endpoint *primary, char why[REPLAY_ERR_LEN])
{
	char where[WHERE_LEN], text[128];
	struct in6_addr a;
	redisContext *c;
	redisReply *r;
	long port;

	endpoint_text(s, where);
	if ((c = connect_to(l, s, deadline, why)) == NULL) {
		l->sentinels_stale = 1;
		return -1;
	}
	r = ask_sentinel_authed(l, c, where, deadline, why);
	redisFree(c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
		snprintf(why, REPLAY_ERR_LEN, "sentinel %.100s asks for a "
		    "password (NOAUTH): set replay_redis_sentinel_password "
		    "(and replay_redis_sentinel_user, for an ACL user)", where);
		freeReplyObject(r);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		redis_reply_text(r, text, sizeof(text));
		snprintf(why, REPLAY_ERR_LEN, "sentinel %.100s knows no "
		    "primary '%.64s' (it answered %.40s): see its sentinel "
		    "monitor line", where, l->master, text);
		freeReplyObject(r);
		return -1;
	}
	memset(primary, 0, sizeof(*primary));
	snprintf(primary->addr, sizeof(primary->addr), "%s",
	    r->element[0]->str);
	port = strtol(r->element[1]->str, NULL, 10);
	freeReplyObject(r);
	primary->family = inet_pton(AF_INET, primary->addr, &a) == 1 ? AF_INET :
	    inet_pton(AF_INET6, primary->addr, &a) == 1		      ? AF_INET6 :
									0;
	primary->port = (unsigned)port;
	if (primary->family == 0 || port < 1 || port > 65535) {
		snprintf(why, REPLAY_ERR_LEN, "sentinel %s names the primary "
		    "by a host name, not an address: the helper takes only "
		    "addresses from a sentinel (set the sentinels' "
		    "announce-hostnames no)", where);
		return -1;
	}
	return 0;
}

/*
 * Why the reply to a login's command refuses it, in why: an error, or a
 * ROLE other than a primary's. Returns -1 if it does, else 0.
 */
static int
login_refused(const struct redis_link *l, const char *command,
    const redisReply *r, char why[REPLAY_ERR_LEN])
{
	char text[160];

	if (r->type == REDIS_REPLY_ERROR) {
		redis_reply_text(r, text, sizeof(text));
		snprintf(why, REPLAY_ERR_LEN, "%.120s refused %s: %.100s%s",
		    l->where, command, text,
		    strcmp(command, "AUTH") == 0 ? " (the user and "
		    "password of replay_store)" :
		    strncmp(text, "NOAUTH", 6) == 0 ? " (put the "
		    "password in replay_store)" : "");
		return -1;
	}
	if (strcmp(command, "ROLE") == 0 &&
	    (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
		r->element[0]->type != REDIS_REPLY_STRING ||
		strcmp(r->element[0]->str, "master") != 0)) {
		redis_reply_text(r->type == REDIS_REPLY_ARRAY &&
		    r->elements > 0 ? r->element[0] : r, text, sizeof(text));
		snprintf(why, REPLAY_ERR_LEN, "%s says it is %.40s, not "
		    "the primary (ROLE)", l->where, text);
		return -1;
	}
	return 0;
}

/* AUTH, SELECT and, with Sentinel, ROLE, in one round trip. */
static int
log_in(struct redis_link *l, redisContext *c, uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	const char *argv[3][3];
	size_t lens[3][3];
	struct redis_exchange x = { deadline, 0, 0, 0, 0 };
	int argc[3], n = 0, i, j, rc = 0;
	char db[12];
	void *reply;

	if (l->url.has_password) {
		argv[n][0] = "AUTH";
		argv[n][1] = l->url.user[0] != '\0' ? l->url.user :
		    l->url.password;
		argv[n][2] = l->url.password;
		argc[n++] = l->url.user[0] != '\0' ? 3 : 2;
	}
	if (l->url.db != 0) {
		snprintf(db, sizeof(db), "%u", l->url.db);
		argv[n][0] = "SELECT";
		argv[n][1] = db;
		argc[n++] = 2;
	}
	if (l->nsentinels > 0) {
		argv[n][0] = "ROLE";
		argc[n++] = 1;
	}
	if (n == 0)
		return 0;
	if (redis_link_timeout(c, deadline) == -1) {
		snprintf(why, REPLAY_ERR_LEN, "%s: no time left to log in",
		    l->where);
		return -1;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < argc[i]; j++)
			lens[i][j] = strlen(argv[i][j]);
		if (redisAppendCommandArgv(c, argc[i], argv[i], lens[i]) !=
		    REDIS_OK)
			break;
	}
	/* Every reply is read, so that the connection stays in step; the
	 * first refusal is the one told. */
	for (i = 0; i < n; i++) {
		if (redis_next_reply(c, &x, &reply) != REDIS_OK) {
			redis_io_error(c, l->where, deadline, why);
			return -1;
		}
		if (rc == 0)
			rc = login_refused(l, argv[i][0], reply, why);
		freeReplyObject(reply);
	}
	return rc;
}

/* Connects to e and logs in (AUTH, SELECT; ROLE with Sentinel). */
static int
try_endpoint(struct redis_link *l, const struct endpoint *e,
    uint64_t deadline, char why[REPLAY_ERR_LEN])
{
	endpoint_text(e, l->where);
	if ((l->c = connect_to(l, e, deadline, why)) == NULL)
		return -1;
	if (log_in(l, l->c, deadline, why) == 0)
		return 0;
	redisFree(l->c);
	l->c = NULL;
	return -1;
}

/* A sentinel named a primary that was trusted: it is the one from now on. */
static void
trust(struct redis_link *l, size_t sentinel, const struct endpoint *primary)
{
	char before[WHERE_LEN], after[WHERE_LEN];

	l->good_sentinel = sentinel;
	endpoint_text(&l->primary, before);
	endpoint_text(primary, after);
	if (l->primary.family != 0 && strcmp(before, after) != 0)
		log_msg(LOG_NOTICE, "replay store: the sentinels now name %s as "
		    "the primary of %s (was %s)", after, l->master, before);
	l->primary = *primary;
}

/*
 * The primary through the sentinels, each asked in turn (the last trusted
 * first). The server one names is trusted only once it accepts the store's
 * credentials and says it is the primary (ROLE); if not, the next sentinel
 * is asked. A sentinel that is wrong, out of date or no sentinel at all
 * costs time, never a write to a server that is not the primary. Each
 * question and each server tried gets half of the time left, so that one
 * that hangs leaves time for the others.
 */
static int
connect_via_sentinels(struct redis_link *l, uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	char named[WHERE_LEN], sentinel[WHERE_LEN], inner[REPLAY_ERR_LEN];
	char tried[MAX_SENTINELS][WHERE_LEN];
	struct endpoint found;
	size_t k, i, j, ntried = 0;
	uint64_t now;

	for (k = 0; k < l->nsentinels; k++) {
		i = (l->good_sentinel + k) % l->nsentinels;
		now = redis_now_ms();
		if (ask_sentinel(l, &l->sentinels[i], now < deadline ? now +
			(deadline - now) / 2 : now, &found, why) == -1)
			continue;
		endpoint_text(&found, named);
		for (j = 0; j < ntried && strcmp(tried[j], named) != 0; j++)
			;
		if (j < ntried)
			continue; /* not trusted a moment ago */
		snprintf(tried[ntried++], WHERE_LEN, "%s", named);
		now = redis_now_ms();
		if (try_endpoint(l, &found, k + 1 == l->nsentinels ||
			now >= deadline ? deadline : now + (deadline - now) / 2,
			inner) == 0) {
			trust(l, i, &found);
			return 0;
		}
		endpoint_text(&l->sentinels[i], sentinel);
		snprintf(why, REPLAY_ERR_LEN, "sentinel %.50s named %.50s as "
		    "the primary of %.40s, not trusted: %.120s", sentinel,
		    named, l->master, inner);
		if (k + 1 < l->nsentinels)
			log_msg(LOG_WARNING, "replay store: %s; asking the next "
			    "sentinel", why);
	}
	return -1;
}

/* The primary: as the sentinels name it, or the first address that lets
 * us in. */
static int
connect_primary(struct redis_link *l, uint64_t deadline,
    char why[REPLAY_ERR_LEN])
{
	size_t i;
	int rc = -1;

	if (l->nsentinels > 0)
		rc = connect_via_sentinels(l, deadline, why);
	else
		for (i = 0; i < l->naddrs && rc == -1; i++)
			rc = try_endpoint(l, &l->addrs[i], deadline, why);
	if (rc == -1) {
		l->primary_stale = 1;
		return -1;
	}
	memset(&l->state, 0, sizeof(l->state));
	return 0;
}

/*
 * A failure: the first is tried again at once (a server restarted, a
 * connection dropped by a firewall, one slow reply); from the second in a
 * row, the next attempt waits 100 ms, then 200, ... up to 5 s.
 */
static void
back_off(struct redis_link *l, const char *why)
{
	if (l->failures++ == 0)
		l->delay_ms = 0;
	else if (l->delay_ms == 0)
		l->delay_ms = REDIS_BACKOFF_MIN_MS;
	else if ((l->delay_ms *= 2) > REDIS_BACKOFF_MAX_MS)
		l->delay_ms = REDIS_BACKOFF_MAX_MS;
	l->next_ms = redis_now_ms() + l->delay_ms;
	snprintf(l->last_error, sizeof(l->last_error), "%s", why);
}

/* Why a connection failed, and when the next attempt may be, in err. */
static void
unreachable(const struct redis_link *l, uint64_t now,
    char err[REPLAY_ERR_LEN])
{
	if (now >= l->next_ms)
		snprintf(err, REPLAY_ERR_LEN, "Redis unreachable (%.200s), "
		    "tried again at the next login", l->last_error);
	else
		snprintf(err, REPLAY_ERR_LEN, "Redis unreachable (%.200s), "
		    "next attempt in %llu ms", l->last_error,
		    (unsigned long long)(l->next_ms - now));
}

redisContext *
redis_link_get(struct redis_link *l, uint64_t deadline,
    char err[REPLAY_ERR_LEN])
{
	char why[REPLAY_ERR_LEN] = "";
	uint64_t now;

	if (l->c != NULL)
		return l->c;
	if (l->failures > 0 && (now = redis_now_ms()) < l->next_ms) {
		unreachable(l, now, err);
		return NULL;
	}
	refresh_names(l);
	if (l->resolve_error[0] != '\0') {
		snprintf(why, sizeof(why), "%s", l->resolve_error);
		l->primary_stale = l->sentinels_stale = 1;
	} else if (connect_primary(l, deadline, why) == 0) {
		return l->c;
	}
	back_off(l, why);
	unreachable(l, redis_now_ms(), err);
	return NULL;
}

void
redis_link_ok(struct redis_link *l)
{
	if (l->failures == 0)
		return;
	log_msg(LOG_NOTICE, "replay store: Redis at %s answers again, after "
	    "%u failed attempt%s", l->where, l->failures,
	    l->failures == 1 ? "" : "s");
	l->failures = 0;
	l->delay_ms = 0;
}

void
redis_link_drop(struct redis_link *l)
{
	redisFree(l->c);
	l->c = NULL;
}

void
redis_link_failed(struct redis_link *l, const char *why)
{
	redis_link_drop(l);
	l->primary_stale = 1;
	back_off(l, why);
}

struct redis_conn_state *
redis_link_state(struct redis_link *l)
{
	return &l->state;
}

const char *
redis_link_where(const struct redis_link *l)
{
	return l->where;
}

const char *
redis_link_last_error(const struct redis_link *l)
{
	return l->failures > 0 ? l->last_error : l->resolve_error;
}

/* --- opening and closing --------------------------------------------------- */

static int
same_url(const struct redis_url *a, const struct redis_url *b)
{
	return a->transport == b->transport &&
	    strcmp(a->user, b->user) == 0 &&
	    a->has_password == b->has_password &&
	    strcmp(a->password, b->password) == 0 &&
	    strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    strcmp(a->path, b->path) == 0 && a->db == b->db;
}

int
redis_link_serves(const struct redis_link *l, const struct redis_settings *s)
{
	return same_url(&l->url, &s->url) &&
	    strcmp(l->sentinel_list, s->sentinels) == 0 &&
	    strcmp(l->master, s->master) == 0 &&
	    strcmp(l->sentinel_user, s->sentinel_user) == 0 &&
	    strcmp(l->sentinel_password, s->sentinel_password) == 0;
}

static int
init_link(struct redis_link *l, const struct redis_settings *s,
    char err[REPLAY_ERR_LEN])
{
	memcpy(&l->url, &s->url, sizeof(l->url));
	snprintf(l->sentinel_list, sizeof(l->sentinel_list), "%s",
	    s->sentinels);
	snprintf(l->master, sizeof(l->master), "%s", s->master);
	snprintf(l->sentinel_user, sizeof(l->sentinel_user), "%s",
	    s->sentinel_user);
	snprintf(l->sentinel_password, sizeof(l->sentinel_password), "%s",
	    s->sentinel_password);
#ifdef HAVE_HIREDIS_SSL
	if (l->url.transport == REDIS_TLS && tls_open(l, err) == -1)
		return -1;
#else
	if (l->url.transport == REDIS_TLS) {
		snprintf(err, REPLAY_ERR_LEN, "%s", REDIS_NO_TLS);
		return -1;
	}
#endif
	if (s->sentinels[0] != '\0')
		resolve_sentinels(l, l->resolve_error);
	else
		resolve_primary(l, l->resolve_error);
	/* A name that does not resolve yet is tried again, as a failure. */
	if (l->resolve_error[0] != '\0')
		l->primary_stale = l->sentinels_stale = 1;
	return 0;
}

struct redis_link *
redis_link_open(const struct redis_settings *s, char err[REPLAY_ERR_LEN])
{
	struct redis_link *l;

	/* A write to a connection the server closed must be an error, not
	 * the end of the process (the helper ignores SIGPIPE already). */
	signal(SIGPIPE, SIG_IGN);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		return NULL;
	}
	if (init_link(l, s, err) == -1) {
		redis_link_close(l);
		return NULL;
	}
	return l;
}

void
redis_link_close(struct redis_link *l)
{
	if (l == NULL)
		return;
	redisFree(l->c);
#ifdef HAVE_HIREDIS_SSL
	SSL_CTX_free(l->tls);
#endif
	explicit_bzero(l, sizeof(*l));
	free(l);
}

/* --- for people ----------------------------------------------------------- */

/* One name, and what it resolves to now; 1 if it resolves to nothing. */
static int
describe_name(const char *what, const char *host, unsigned port)
{
	struct endpoint found[MAX_ADDRS];
	char err[REPLAY_ERR_LEN] = "", text[256];
	size_t n;

	if (!is_name(host))
		return 0;
	if ((n = resolve(host, port, found, MAX_ADDRS, err)) == 0) {
		printf("  PROBLEM: %s %s: %s\n", what, host, err);
		return 1;
	}
	addresses_text(found, n, 0, text, sizeof(text));
	printf("  %s %s resolves now to %s (resolved again whenever a "
	       "connection to it fails)\n", what, host, text);
	return 0;
}

int
redis_link_describe_names(const struct redis_link *l)
{
	char host[REDIS_URL_HOST_MAX + 1], why[REDIS_URL_ERR_LEN];
	const char *p = l->sentinel_list;
	int problems = 0, len;
	unsigned port;

	if (l->url.transport != REDIS_UNIX)
		problems += describe_name("the host", l->url.host,
		    l->url.port);
	while (*p != '\0' && (len = redis_hostport_parse(p, host, &port,
				  REDIS_SENTINEL_PORT, why)) != -1) {
		problems += describe_name("the sentinel", host, port);
		p += len + (p[len] == ',');
	}
	return problems;
}

int
redis_link_describe_sentinels(struct redis_link *l, unsigned timeout_ms)
{
	char where[WHERE_LEN], primary[WHERE_LEN], why[REPLAY_ERR_LEN];
	struct endpoint found;
	size_t i, answered = 0;

	if (l->resolve_error[0] != '\0') {
		printf("  PROBLEM: %s\n", l->resolve_error);
		return 1;
	}
	if (l->sentinel_password[0] != '\0')
		printf("  logging in to each sentinel as %s%s\n",
		    l->sentinel_user[0] != '\0' ? "user " : "",
		    l->sentinel_user[0] != '\0' ? l->sentinel_user :
		    "the default user");
	for (i = 0; i < l->nsentinels; i++) {
		endpoint_text(&l->sentinels[i], where);
		if (ask_sentinel(l, &l->sentinels[i],
			redis_now_ms() + timeout_ms, &found, why) == -1) {
			printf("  WARNING: sentinel %s: %s\n", where, why);
			continue;
		}
		endpoint_text(&found, primary);
		printf("  sentinel %s: the primary of %s is %s\n", where,
		    l->master, primary);
		answered++;
	}
	if (answered > 0)
		return 0;
	printf("  PROBLEM: no sentinel named the primary: every login would "
	       "be refused; check replay_redis_sentinels and "
	       "replay_redis_master\n");
	return 1;
}
