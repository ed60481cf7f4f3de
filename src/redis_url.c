/*
 * Security rules for this file:
 * 1. No message quotes the user, the password or the text around them:
 *    a password typed in the wrong place must not reach a log. Host names,
 *    ports and database numbers are not secret and are named.
 * 2. Percent-decoding refuses what would change meaning later: a NUL or
 *    a control character; written as it is, also a blank.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "redis_url.h"

static const struct {
	const char *prefix;
	enum redis_transport transport;
} schemes[] = {
	{ "redis://", REDIS_TCP },
	{ "rediss://", REDIS_TLS },
	{ "unix://", REDIS_UNIX },
};

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static int
failed(char why[REDIS_URL_ERR_LEN], const char *msg)
{
	snprintf(why, REDIS_URL_ERR_LEN, "%s", msg);
	return -1;
}

/* The scheme's entry, or -1. */
static int
scheme_of(const char *text)
{
	size_t i;

	for (i = 0; i < NSCHEMES; i++)
		if (strncmp(text, schemes[i].prefix,
			strlen(schemes[i].prefix)) == 0)
			return (int)i;
	return -1;
}

int
redis_url_is(const char *text)
{
	return scheme_of(text) != -1;
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..len) into out; what names it in errors. Written as
 * it is, a character must be visible; decoded, it may be a blank (%20),
 * never a control character or NUL.
 */
static int
decode(const char *s, size_t len, char *out, size_t size, const char *what,
    char why[REDIS_URL_ERR_LEN])
{
	size_t i, n = 0;
	int c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f) {
			snprintf(why, REDIS_URL_ERR_LEN, "replay_store: %s holds "
			    "a blank or a control character: percent-encode "
			    "it (a space is %%20)", what);
			return -1;
		}
		if (c == '%') {
			hi = i + 2 < len ? hex_value((unsigned char)s[i + 1]) :
					   -1;
			lo = i + 2 < len ? hex_value((unsigned char)s[i + 2]) :
					   -1;
			c = hi == -1 || lo == -1 ? 0 : hi << 4 | lo;
			if (c < ' ' || c == 0x7f) {
				snprintf(why, REDIS_URL_ERR_LEN, "replay_store: "
				    "%s holds a '%%' that is not %%XX (two hex "
				    "digits, not a control character): write a "
				    "'%%' as %%25", what);
				return -1;
			}
			i += 2;
		}
		if (n + 1 >= size) {
			snprintf(why, REDIS_URL_ERR_LEN, "replay_store: %s is "
			    "longer than %zu bytes", what, size - 1);
			return -1;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* A whole number of at most 6 digits, from min to max; -1 if not. */
static long
number(const char *s, size_t len, long min, long max)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 6)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= max ? v : -1;
}

/*
 * Where the user information is: [*start, *at) before the '@' that ends
 * it, or *at == NULL if there is none. After '@' in a TCP URL come only a
 * host, a port and a number, none with an '@': so the last '@' ends it. In
 * a unix:// URL the path follows, which may hold one: the first "@/" ends
 * it.
 */
static void
find_userinfo(const char *rest, enum redis_transport t, const char **at)
{
	if (t != REDIS_UNIX)
		*at = strrchr(rest, '@');
	else if (rest[0] == '/')
		*at = NULL;
	else
		*at = strstr(rest, "@/");
}

static int
parse_userinfo(const char *s, size_t len, struct redis_url *u,
    char why[REDIS_URL_ERR_LEN])
{
	const char *colon = memchr(s, ':', len);
	size_t ulen = colon != NULL ? (size_t)(colon - s) : len;

	if (len == 0)
		return failed(why, "replay_store: nothing between '//' and "
		    "'@': write USER:PASSWORD@, :PASSWORD@ (the default user), "
		    "or no '@'");
	if (colon == NULL)
		return failed(why, "replay_store: a user without a password: "
		    "write USER:PASSWORD@ (or :PASSWORD@ for the default "
		    "user)");
	if (colon + 1 == s + len)
		return failed(why, "replay_store: the password is empty: "
		    "write one after the ':', or remove the ':'");
	if (decode(s, ulen, u->user, sizeof(u->user), "the user", why) ==
	    -1 ||
	    decode(colon + 1, len - ulen - 1, u->password,
		sizeof(u->password), "the password", why) == -1)
		return -1;
	u->has_password = 1;
	return 0;
}

static int
valid_host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int
failed_in(char why[REDIS_URL_ERR_LEN], const char *name, const char *msg)
{
	snprintf(why, REDIS_URL_ERR_LEN, "%s: %s", name, msg);
	return -1;
}

/*
 * HOST[:PORT] at the start of s, ended by one of the characters in stop or
 * by the end; name is the setting, for errors. Returns the length taken,
 * or -1 with why.
 */
static int
parse_hostport(const char *s, const char *stop, const char *name,
    char host[REDIS_URL_HOST_MAX + 1], unsigned *port, unsigned default_port,
    char why[REDIS_URL_ERR_LEN])
{
	struct in6_addr a6;
	const char *p = s, *h, *end;
	size_t hlen, plen;
	long v;

	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL)
			return failed_in(why, name, "an IPv6 address must end "
			    "with ']'");
		h = p + 1;
		hlen = (size_t)(end - h);
		p = end + 1;
	} else {
		h = p;
		while (*p != '\0' && *p != ':' && strchr(stop, *p) == NULL)
			p++;
		hlen = (size_t)(p - h);
	}
	if (hlen > REDIS_URL_HOST_MAX)
		return failed_in(why, name, "a host name is longer than 255 "
		    "characters");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (h != s) {
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(why, REDIS_URL_ERR_LEN, "%s: [%.64s] is not "
			    "an IPv6 address", name, host);
			return -1;
		}
	} else {
		for (end = h; end < h + hlen; end++)
			if (!valid_host_char((unsigned char)*end))
				return failed_in(why, name, "a host name holds "
				    "letters, digits, '.', '-' and '_' only (an "
				    "IPv6 address goes in [])");
	}
	*port = default_port;
	if (*p != ':') {
		if (*p == '\0' || strchr(stop, *p) != NULL)
			return (int)(p - s);
		return failed_in(why, name, "after an IPv6 address's ']' "
		    "comes ':PORT' or the end");
	}
	for (plen = 1; p[plen] != '\0' && strchr(stop, p[plen]) == NULL; plen++)
		;
	if ((v = number(p + 1, plen - 1, 1, 65535)) == -1)
		return failed_in(why, name, "a port is a number from 1 to "
		    "65535");
	if (hlen == 0)
		return failed_in(why, name, "a port without a host");
	*port = (unsigned)v;
	return (int)(p + plen - s);
}

/* After the host: nothing, "/" or "/DB". */
static int
parse_db(const char *s, struct redis_url *u, char why[REDIS_URL_ERR_LEN])
{
	long v;

	u->db = 0;
	if (*s == '\0' || strcmp(s, "/") == 0)
		return 0;
	if (*s == '/' && (v = number(s + 1, strlen(s + 1), 0,
			       REDIS_URL_DB_MAX)) != -1) {
		u->db = (unsigned)v;
		return 0;
	}
	if (strpbrk(s, "?#") != NULL)
		return failed(why, "replay_store: a redis:// URL takes no '?' or "
		    "'#' part (percent-encode them in a password); the "
		    "database is written /DB");
	return failed(why, "replay_store: after the host comes /DB, the "
	    "database: a number from 0 to 65535");
}

static int
parse_tcp(const char *s, struct redis_url *u, char why[REDIS_URL_ERR_LEN])
{
	int n;

	if ((n = parse_hostport(s, "/?#", "replay_store", u->host, &u->port,
		 REDIS_DEFAULT_PORT, why)) == -1)
		return -1;
	return parse_db(s + n, u, why);
}

static int
parse_unix(const char *s, struct redis_url *u, char why[REDIS_URL_ERR_LEN])
{
	const char *q = strchr(s, '?');
	size_t len = q != NULL ? (size_t)(q - s) : strlen(s);
	long v;

	if (s[0] != '/')
		return failed(why, "replay_store: write unix:///PATH or "
		    "unix://USER:PASSWORD@/PATH, with an absolute PATH");
	if (decode(s, len, u->path, sizeof(u->path), "the socket's path",
		why) == -1)
		return -1;
	u->db = 0;
	if (q == NULL || q[1] == '\0')
		return 0;
	if (strncmp(q, "?db=", 4) != 0 ||
	    (v = number(q + 4, strlen(q + 4), 0, REDIS_URL_DB_MAX)) == -1)
		return failed(why, "replay_store: a unix:// URL takes only "
		    "?db=N after the path, N from 0 to 65535");
	u->db = (unsigned)v;
	return 0;
}

int
redis_url_parse(const char *text, struct redis_url *u,
    char why[REDIS_URL_ERR_LEN])
{
	int scheme = scheme_of(text);
	const char *rest, *at;

	memset(u, 0, sizeof(*u));
	if (scheme == -1)
		return failed(why, "replay_store: not a redis://, rediss:// or "
		    "unix:// URL");
	u->transport = schemes[scheme].transport;
	rest = text + strlen(schemes[scheme].prefix);
	find_userinfo(rest, u->transport, &at);
	if (at != NULL) {
		if (parse_userinfo(rest, (size_t)(at - rest), u, why) == -1)
			return -1;
		rest = at + 1;
	} else if (u->transport == REDIS_UNIX && rest[0] != '/') {
		return failed(why, "replay_store: write unix:///PATH or "
		    "unix://USER:PASSWORD@/PATH, with an absolute PATH");
	}
	if (u->transport == REDIS_UNIX)
		return parse_unix(rest, u, why);
	return parse_tcp(rest, u, why);
}

int
redis_url_shown(const char *text, char *out, size_t size)
{
	int scheme = scheme_of(text);
	const char *rest, *at, *colon;
	int n;

	if (scheme == -1) {
		n = snprintf(out, size, "%s", text);
	} else {
		rest = text + strlen(schemes[scheme].prefix);
		find_userinfo(rest, schemes[scheme].transport, &at);
		colon = at != NULL ? memchr(rest, ':', (size_t)(at - rest)) :
				     NULL;
		if (colon == NULL)
			n = snprintf(out, size, "%s", text);
		else
			n = snprintf(out, size, "%.*s" REDIS_HIDDEN "%s",
			    (int)(colon + 1 - text), text, at);
	}
	if (n < 0 || (size_t)n >= size) {
		snprintf(out, size, "(not shown)");
		return -1;
	}
	return 0;
}

int
redis_hostport_parse(const char *text, char host[REDIS_URL_HOST_MAX + 1],
    unsigned *port, unsigned default_port, char why[REDIS_URL_ERR_LEN])
{
	int n;

	if ((n = parse_hostport(text, ",", "replay_redis_sentinels", host,
		 port, default_port, why)) == -1)
		return -1;
	if (host[0] == '\0')
		return failed(why, "replay_redis_sentinels: an empty HOST:PORT: "
		    "write them separated by single commas");
	return n;
}
