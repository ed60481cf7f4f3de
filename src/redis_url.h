/*
 * Where a Redis (or Valkey) server is, as replay_store names it:
 *
 *	redis://[USER[:PASSWORD]@][HOST[:PORT]][/DB]	TCP (port 6379)
 *	rediss://[USER[:PASSWORD]@][HOST[:PORT]][/DB]	TLS
 *	unix://[USER[:PASSWORD]@]/ABSOLUTE/PATH[?db=N]	a Unix socket
 *
 * USER, PASSWORD and PATH are percent-decoded (a '@', ':', '/', '?', '#' or
 * '%' in them is written %40, %3A, %2F, %3F, %23, %25). HOST is a name, an
 * IPv4 address or an IPv6 address in brackets; it may be left out only when
 * Sentinel names the primary. Also: host:port lists (the sentinels).
 *
 * No message made here ever holds the password, nor the user's text where
 * it could be a misplaced password: errors say what is wrong, not what was
 * written.
 */
#ifndef REDIS_URL_H
#define REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_USER_MAX     128
#define REDIS_URL_PASSWORD_MAX 512
#define REDIS_URL_HOST_MAX     255
#define REDIS_URL_PATH_MAX     107 /* sun_path, less its NUL */
#define REDIS_URL_DB_MAX       65535
#define REDIS_URL_ERR_LEN      256
#define REDIS_DEFAULT_PORT     6379
#define REDIS_SENTINEL_PORT    26379
#define REDIS_HIDDEN	       "***" /* a password, as shown */

enum redis_transport { REDIS_TCP, REDIS_TLS, REDIS_UNIX };

struct redis_url {
	enum redis_transport transport;
	char user[REDIS_URL_USER_MAX + 1];	   /* "": the default user */
	char password[REDIS_URL_PASSWORD_MAX + 1];
	int has_password;
	char host[REDIS_URL_HOST_MAX + 1]; /* no brackets; "": not given */
	unsigned port;
	char path[REDIS_URL_PATH_MAX + 1]; /* REDIS_UNIX */
	unsigned db;
};

/* Whether text begins with one of the three schemes. */
int redis_url_is(const char *text);

/* Parses text into u. Returns 0, or -1 with why. */
int redis_url_parse(const char *text, struct redis_url *u,
    char why[REDIS_URL_ERR_LEN]);

/*
 * text as it may be shown: its password replaced by "***". Returns 0, or
 * -1 if out is too small (out is then "(not shown)").
 */
int redis_url_shown(const char *text, char *out, size_t size);

/*
 * One HOST[:PORT] of a comma-separated list (IPv6 in brackets), the port
 * defaulting to default_port. Returns the length taken from text (up to
 * the comma or the end), or -1 with why.
 */
int redis_hostport_parse(const char *text, char host[REDIS_URL_HOST_MAX + 1],
    unsigned *port, unsigned default_port, char why[REDIS_URL_ERR_LEN]);

#endif
