/* The Redis URL of replay_store: every form, percent-decoding, errors, and
 * never a password in a message. */
#include <stdio.h>

#include "redis_link.h"
#include "redis_url.h"
#include "replay_store.h"
#include "unit.h"

#define PW "Zebra-Pass-42" /* no message may hold it, nor a part of it */

static struct redis_url u;
static char why[REDIS_URL_ERR_LEN];

/*
 * The store's settings from replay_store = store (line 1) and, unless
 * NULL, the sentinels (line 2) and their master (line 3), as config.c
 * hands them over. Returns what replay_settings_load does.
 */
static int
load_store(struct replay_settings *s, const char *store, const char *sentinels,
    const char *master, int *line, char rwhy[REPLAY_ERR_LEN])
{
	struct replay_line lines[3] = {
		{ "replay_store", store, strlen(store), 1 },
	};
	size_t n = 1;

	if (sentinels != NULL)
		lines[n++] = (struct replay_line){ "replay_redis_sentinels",
			sentinels, strlen(sentinels), 2 };
	if (master != NULL)
		lines[n++] = (struct replay_line){ "replay_redis_master",
			master, strlen(master), 3 };
	return replay_settings_load(s, lines, n, line, rwhy);
}

/* The Redis store's own settings. */
static const struct redis_settings *
redis(const struct replay_settings *s)
{
	return (const struct redis_settings *)s->own.bytes;
}

/* Whether value names a store, through the interface config.c uses. */
static int
names_a_store(const char *value, char rwhy[REPLAY_ERR_LEN])
{
	struct replay_settings s;
	int line;

	return load_store(&s, value, NULL, NULL, &line, rwhy) == 0 ||
		strstr(rwhy, "names no host") != NULL ? 0 : -1;
}

static void
parses(const char *text)
{
	why[0] = '\0';
	ck_assert_msg(redis_url_parse(text, &u, why) == 0, "%s: %s", text,
	    why);
}

/* Refused, saying words, and quoting neither user nor password. */
static void
refused(const char *text, const char *words)
{
	char rwhy[REPLAY_ERR_LEN];

	why[0] = '\0';
	ck_assert_msg(redis_url_parse(text, &u, why) == -1, "%s parsed", text);
	ck_assert_msg(strstr(why, words) != NULL, "%s: '%s' lacks '%s'", text,
	    why, words);
	ck_assert_msg(strstr(why, "Zebra") == NULL && strstr(why, "42") ==
		NULL && strstr(why, "alice") == NULL,
	    "%s: user or password in '%s'", text, why);
	/* The same through the store's interface, which config uses. */
	ck_assert_int_eq(names_a_store(text, rwhy), -1);
	ck_assert_msg(strstr(rwhy, "Zebra") == NULL && strstr(rwhy, "alice") ==
		NULL, "%s: user or password in '%s'", text, rwhy);
}

START_TEST(tcp_forms)
{
	parses("redis://cache.example.org");
	ck_assert_int_eq(u.transport, REDIS_TCP);
	ck_assert_str_eq(u.host, "cache.example.org");
	ck_assert_uint_eq(u.port, 6379);
	ck_assert_uint_eq(u.db, 0);
	ck_assert_int_eq(u.has_password, 0);
	ck_assert_str_eq(u.user, "");

	parses("redis://10.0.0.5:6380/3");
	ck_assert_str_eq(u.host, "10.0.0.5");
	ck_assert_uint_eq(u.port, 6380);
	ck_assert_uint_eq(u.db, 3);

	parses("redis://127.0.0.1/");
	ck_assert_uint_eq(u.db, 0);
	parses("redis://h:65535/65535");
	ck_assert_uint_eq(u.port, 65535);
	ck_assert_uint_eq(u.db, 65535);

	parses("redis://[::1]:6381/2");
	ck_assert_str_eq(u.host, "::1");
	ck_assert_uint_eq(u.port, 6381);
	ck_assert_uint_eq(u.db, 2);
	parses("redis://[2001:db8::7]");
	ck_assert_str_eq(u.host, "2001:db8::7");
	ck_assert_uint_eq(u.port, 6379);

	/* No host: only with Sentinel (the config checks that). */
	parses("redis:///1");
	ck_assert_str_eq(u.host, "");
	ck_assert_uint_eq(u.db, 1);
	parses("redis://:" PW "@/4");
	ck_assert_str_eq(u.host, "");
	ck_assert_str_eq(u.password, PW);
}
END_TEST

START_TEST(user_and_password)
{
	parses("redis://:" PW "@h");
	ck_assert_str_eq(u.user, "");
	ck_assert_str_eq(u.password, PW);
	ck_assert_int_eq(u.has_password, 1);

	parses("redis://alice:" PW "@h:7000/1");
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.password, PW);
	ck_assert_str_eq(u.host, "h");
	ck_assert_uint_eq(u.port, 7000);

	/* Percent-decoding, both cases of hex. */
	parses("redis://a%40b%3ac:p%25w%3A%2f%3F%23%20x@h");
	ck_assert_str_eq(u.user, "a@b:c");
	ck_assert_str_eq(u.password, "p%w:/?# x");

	/* Unencoded '@', ':' and '/' in a password still parse: the last '@'
	 * ends it, the first ':' starts it. */
	parses("redis://bob:p@ss:w/rd@h/2");
	ck_assert_str_eq(u.user, "bob");
	ck_assert_str_eq(u.password, "p@ss:w/rd");
	ck_assert_str_eq(u.host, "h");
	ck_assert_uint_eq(u.db, 2);

	/* UTF-8 passes as it is. */
	parses("redis://:p%C3%A4ss@h");
	ck_assert_str_eq(u.password, "p\xc3\xa4ss");
}
END_TEST

START_TEST(unix_forms)
{
	parses("unix:///run/redis/redis-server.sock");
	ck_assert_int_eq(u.transport, REDIS_UNIX);
	ck_assert_str_eq(u.path, "/run/redis/redis-server.sock");
	ck_assert_uint_eq(u.db, 0);
	ck_assert_int_eq(u.has_password, 0);

	parses("unix:///run/redis.sock?db=5");
	ck_assert_str_eq(u.path, "/run/redis.sock");
	ck_assert_uint_eq(u.db, 5);

	parses("unix://:" PW "@/run/redis.sock");
	ck_assert_str_eq(u.password, PW);
	ck_assert_str_eq(u.path, "/run/redis.sock");

	parses("unix://alice:" PW "@/run/a%20b/redis.sock?db=2");
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.password, PW);
	ck_assert_str_eq(u.path, "/run/a b/redis.sock");
	ck_assert_uint_eq(u.db, 2);

	/* An '@' in the path, after the user information. */
	parses("unix://:pw@/run/x@y/s");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_str_eq(u.path, "/run/x@y/s");
}
END_TEST

START_TEST(tls_form)
{
	char rwhy[REPLAY_ERR_LEN];

	parses("rediss://alice:" PW "@cache.example.org:6380/1");
	ck_assert_int_eq(u.transport, REDIS_TLS);
	ck_assert_str_eq(u.host, "cache.example.org");
	ck_assert_uint_eq(u.port, 6380);
#ifdef HAVE_HIREDIS_SSL
	ck_assert_int_eq(names_a_store("rediss://h", rwhy), 0);
#else
	/* Without TLS in hiredis: one sentence naming the alternatives. */
	ck_assert_int_eq(names_a_store("rediss://alice:" PW "@h", rwhy), -1);
	ck_assert_ptr_nonnull(strstr(rwhy, "rediss:// needs TLS"));
	ck_assert_ptr_nonnull(strstr(rwhy, "unix://"));
	ck_assert_ptr_nonnull(strstr(rwhy, "stunnel"));
	ck_assert_ptr_nonnull(strstr(rwhy, "spiped"));
	ck_assert_ptr_null(strstr(rwhy, "Zebra"));
#endif
}
END_TEST

START_TEST(errors)
{
	refused("http://h", "not a redis://");
	refused("redis:/h", "not a redis://");
	refused("REDIS://h", "not a redis://");
	refused("redis://alice@h", "a user without a password");
	refused("redis://alice:@h", "the password is empty");
	refused("redis://@h", "nothing between");
	refused("redis://:Zebra%4@h", "not %XX");
	refused("redis://:Zebra%zz42@h", "not %XX");
	refused("redis://:Zebra%0042@h", "not %XX");
	refused("redis://:Zebra 42@h", "percent-encode");
	refused("redis://:Zebra\t42@h", "percent-encode");
	refused("redis://alice%0a:Zebra@h", "not a control character");
	refused("redis://h:0", "from 1 to 65535");
	refused("redis://h:65536", "from 1 to 65535");
	refused("redis://h:63x", "from 1 to 65535");
	refused("redis://h:", "from 1 to 65535");
	refused("redis://:Zebra@:6379/1", "a port without a host");
	refused("redis://[::1", "must end with ']'");
	refused("redis://[zz]:1", "not an IPv6 address");
	refused("redis://[::1]x", "after an IPv6");
	refused("redis://h$t", "letters, digits");
	refused("redis://h/65536", "from 0 to 65535");
	refused("redis://h/x", "from 0 to 65535");
	refused("redis://h/1/2", "from 0 to 65535");
	refused("redis://:Zebra@h?db=1", "no '?' or '#'");
	refused("redis://h#frag", "no '?' or '#'");
	refused("unix://run/redis.sock", "absolute PATH");
	refused("unix://:Zebra42@run/redis.sock", "absolute PATH");
	refused("unix:///run/redis.sock?db=x", "only ?db=N");
	refused("unix:///run/redis.sock?timeout=1", "only ?db=N");
	refused("unix:///run/redis.sock?db=70000", "only ?db=N");
}
END_TEST

START_TEST(lengths)
{
	char text[2048], long_user[REDIS_URL_USER_MAX + 2];
	char long_pw[REDIS_URL_PASSWORD_MAX + 2];
	char long_path[REDIS_URL_PATH_MAX + 1]; /* the path less its '/' */

	memset(long_user, 'u', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	memset(long_pw, 'Z', sizeof(long_pw) - 1);
	long_pw[sizeof(long_pw) - 1] = '\0';
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';

	/* The longest of each fits; one more does not. */
	snprintf(text, sizeof(text), "redis://:%s@h",
	    long_pw + 1);
	parses(text);
	snprintf(text, sizeof(text), "redis://:%s@h", long_pw);
	refused(text, "the password is longer than 512 bytes");
	snprintf(text, sizeof(text), "redis://%s:x@h", long_user);
	refused(text, "the user is longer than 128 bytes");
	snprintf(text, sizeof(text), "unix:///%s", long_path + 1);
	parses(text);
	ck_assert_uint_eq(strlen(u.path), REDIS_URL_PATH_MAX);
	snprintf(text, sizeof(text), "unix:///%s", long_path);
	refused(text, "path is longer than 107 bytes");
}
END_TEST

START_TEST(shown)
{
	char out[256];

	ck_assert_int_eq(redis_url_shown("redis://alice:" PW "@h:1/2", out,
			     sizeof(out)), 0);
	ck_assert_str_eq(out, "redis://alice:***@h:1/2");
	redis_url_shown("redis://:" PW "@h", out, sizeof(out));
	ck_assert_str_eq(out, "redis://:***@h");
	redis_url_shown("redis://bob:p@ss:w/rd@h/2", out, sizeof(out));
	ck_assert_str_eq(out, "redis://bob:***@h/2");
	redis_url_shown("rediss://:" PW "@h", out, sizeof(out));
	ck_assert_str_eq(out, "rediss://:***@h");
	redis_url_shown("unix://:" PW "@/run/x@y/s?db=1", out, sizeof(out));
	ck_assert_str_eq(out, "unix://:***@/run/x@y/s?db=1");
	redis_url_shown("unix:///run/r.sock", out, sizeof(out));
	ck_assert_str_eq(out, "unix:///run/r.sock");
	redis_url_shown("redis://h:1", out, sizeof(out));
	ck_assert_str_eq(out, "redis://h:1");
	/* Too long to show: nothing of it is. */
	ck_assert_int_eq(redis_url_shown("redis://:" PW "@h", out, 10), -1);
	ck_assert_ptr_null(strstr(out, "Zebra"));
}
END_TEST

START_TEST(settings_keep_the_password_apart)
{
	struct replay_settings s;
	char rwhy[REPLAY_ERR_LEN];
	int line;

	ck_assert_int_eq(load_store(&s, "redis://alice:Zebra%2542@"
			     "127.0.0.1:6379/1", NULL, NULL, &line, rwhy), 0);
	ck_assert_str_eq(s.store, "redis://alice:***@127.0.0.1:6379/1");
	ck_assert_str_eq(redis(&s)->url.password, "Zebra%42");
	ck_assert_ptr_eq(s.backend, &replay_redis);
	/* A directory clears it. */
	ck_assert_int_eq(load_store(&s, "/var/lib/x", NULL, NULL, &line,
			     rwhy), 0);
	ck_assert_str_eq(s.store, "/var/lib/x");
	ck_assert_str_eq(redis(&s)->url.password, "");
	ck_assert_ptr_eq(s.backend, &replay_lmdb);
	ck_assert_int_eq(load_store(&s, "x", NULL, NULL, &line, rwhy), -1);
	ck_assert_ptr_nonnull(strstr(rwhy, "absolute directory path"));
}
END_TEST

START_TEST(sentinel_lists)
{
	char host[REDIS_URL_HOST_MAX + 1];
	const char *list = "10.0.0.1:26379,[::1]:26380,sentinel.example,h:1";
	unsigned port;
	int n;

	n = redis_hostport_parse(list, host, &port, 26379, why);
	ck_assert_int_eq(n, 14);
	ck_assert_str_eq(host, "10.0.0.1");
	ck_assert_uint_eq(port, 26379);
	list += n + 1;
	n = redis_hostport_parse(list, host, &port, 26379, why);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 26380);
	list += n + 1;
	n = redis_hostport_parse(list, host, &port, 26379, why);
	ck_assert_str_eq(host, "sentinel.example");
	ck_assert_uint_eq(port, 26379);
	list += n + 1;
	n = redis_hostport_parse(list, host, &port, 26379, why);
	ck_assert_str_eq(host, "h");
	ck_assert_uint_eq(port, 1);
	ck_assert_int_eq(list[n], '\0');

	ck_assert_int_eq(redis_hostport_parse(",h", host, &port, 1, why), -1);
	ck_assert_ptr_nonnull(strstr(why, "replay_redis_sentinels"));
	ck_assert_int_eq(redis_hostport_parse("h:0", host, &port, 1, why), -1);
	ck_assert_int_eq(redis_hostport_parse("h:1x", host, &port, 1, why),
	    -1);
}
END_TEST

START_TEST(settings_agree)
{
	struct replay_settings s;
	char rwhy[REPLAY_ERR_LEN];
	int line;

	/* Line 1 to blame is replay_store; line 2, the sentinels. */
	ck_assert_int_eq(load_store(&s, "redis://:Zebra@/1", NULL, NULL,
			     &line, rwhy), -1);
	ck_assert_int_eq(line, 1);
	ck_assert_ptr_nonnull(strstr(rwhy, "names no host"));
	ck_assert_int_eq(load_store(&s, "redis://:Zebra@/1",
			     "127.0.0.1:26379,127.0.0.1:26380", "mymaster", &line,
			     rwhy), 0);
	ck_assert_int_eq(load_store(&s, "redis://:Zebra@/1", "127.0.0.1:0",
			     "mymaster", &line, rwhy), -1);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(load_store(&s, "redis://:Zebra@h/1", "127.0.0.1",
			     "mymaster", &line, rwhy), -1);
	ck_assert_int_eq(line, 1);
	ck_assert_ptr_nonnull(strstr(rwhy, "leave the host out"));
	ck_assert_int_eq(load_store(&s, "unix:///run/r.sock", "127.0.0.1",
			     "mymaster", &line, rwhy), -1);
	ck_assert_int_eq(line, 1);
	ck_assert_ptr_nonnull(strstr(rwhy, "not unix://"));
	ck_assert_ptr_null(strstr(rwhy, "Zebra"));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("redis_url");
	TCase *tc = tcase_create("redis_url");

	ADD(tc, tcp_forms);
	ADD(tc, user_and_password);
	ADD(tc, unix_forms);
	ADD(tc, tls_form);
	ADD(tc, errors);
	ADD(tc, lengths);
	ADD(tc, shown);
	ADD(tc, settings_keep_the_password_apart);
	ADD(tc, sentinel_lists);
	ADD(tc, settings_agree);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
