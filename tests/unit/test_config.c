#include <sys/stat.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "redis_link.h"
#include "secmem.h"
#include "unit.h"

static char dir[] = "/tmp/pta-config.XXXXXX";
static char path[PATH_MAX];
static char err[CONFIG_ERR_LEN];
static struct config cfg;

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token-auth.conf", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/pta-config.XXXXXX");
}

static int
load(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	err[0] = '\0';
	return config_load(path, &cfg, err);
}

/* The load fails, and the message names the file, the line and says what. */
static void
expect_error(const char *text, int line, const char *words)
{
	char where[PATH_MAX + 16];

	ck_assert_int_eq(load(text, 0600), -1);
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%d: ", path, line);
	else
		snprintf(where, sizeof(where), "%s: ", path);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
	    "'%s' does not start with '%s'", err, where);
	ck_assert_msg(strstr(err, words) != NULL, "'%s' lacks '%s'", err,
	    words);
	ck_assert_msg(strstr(err, TEST_SEED) == NULL &&
		strstr(err, TEST_SECRET) == NULL,
	    "a secret leaked into '%s'", err);
}

/* What a key of the store is set to, as it may be shown. */
static const char *
shown(const char *key)
{
	static char out[PATH_MAX];

	ck_assert_int_eq(replay_setting_shown(&cfg.replay, key, out,
			     sizeof(out)), 0);
	return out;
}

/* The Redis store's own settings, as the store reads them. */
static const struct redis_settings *
redis(void)
{
	return (const struct redis_settings *)cfg.replay.own.bytes;
}

#define SECRETS "otp_seed = " TEST_SEED "\ntoken_secret = " TEST_SECRET "\n"

START_TEST(minimal_file_and_defaults)
{
	ck_assert_int_eq(load(SECRETS, 0600), 0);
	ck_assert_uint_eq(cfg.params.otp_digits, 8);
	ck_assert_uint_eq(cfg.params.otp_interval, 30);
	ck_assert_uint_eq(cfg.params.otp_window, 1);
	ck_assert_uint_eq(cfg.params.nonce_digits, 32);
	ck_assert_str_eq(cfg.replay.store, REPLAY_DEFAULT_STORE);
	ck_assert_str_eq(shown("replay_capacity"), "100000");
	ck_assert_uint_eq(cfg.replay.per_user, REPLAY_DEFAULT_PER_USER);
	ck_assert_ptr_nonnull(config_keys(&cfg, "any.example", 11));
	config_free(&cfg);
}
END_TEST

START_TEST(contract_example)
{
	const char *text =
	    "# comments start with '#'; blank lines are ignored\n"
	    "otp_seed     = XVGR73KMZH2M4XMY\n"
	    "token_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n"
	    "otp_digits   = 8      # optional\n"
	    "otp_interval = 30     # optional, seconds\n"
	    "otp_window   = 2      # optional, steps either side\n"
	    "nonce_digits = 20     # optional\n"
	    "replay_store = /var/lib/prosody-token-auth/replay   # optional\n"
	    "\n"
	    "[Chat.Example.org]    # optional: secrets for one XMPP domain\n"
	    "otp_seed     = ABCDEFGHIJKLMNOP\n"
	    "token_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\n";
	const struct token_keys *global, *chat;

	ck_assert_int_eq(load(text, 0640), 0);
	ck_assert_uint_eq(cfg.params.otp_window, 2);
	ck_assert_uint_eq(cfg.params.nonce_digits, 20);
	ck_assert_uint_eq(cfg.ndomains, 2);
	global = config_keys(&cfg, "other.org", 9);
	chat = config_keys(&cfg, "chat.example.ORG", 16);
	ck_assert_ptr_nonnull(global);
	ck_assert_ptr_nonnull(chat);
	ck_assert_ptr_ne(global, chat);
	config_free(&cfg);
}
END_TEST

START_TEST(collective_converse_secrets_cfg)
{
	const char *text = "[prosody.cfg.lua]\r\n"
			   "prosody_otp_seed = XVGR73KMZH2M4XMY\r\n"
			   "prosody_token_secret = "
			   "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\r\n";

	ck_assert_int_eq(load(text, 0600), 0);
	ck_assert_uint_eq(cfg.ndomains, 1);
	ck_assert_ptr_nonnull(config_keys(&cfg, "example.org", 11));
	config_free(&cfg);
}
END_TEST

START_TEST(domain_sections_only)
{
	const char *text = "[a.example]\n" SECRETS;

	ck_assert_int_eq(load(text, 0600), 0);
	ck_assert_ptr_nonnull(config_keys(&cfg, "A.example", 9));
	ck_assert_ptr_null(config_keys(&cfg, "b.example", 9));
	ck_assert_ptr_null(config_keys(&cfg, "a.exampl", 8));
	config_free(&cfg);
}
END_TEST

#define STORE_SECRET "store_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\n"

/* isuser: any by default, global or per domain, a domain inheriting the
 * global one; seen needs store_secret. */
START_TEST(isuser_per_domain)
{
	const char *text = "isuser = seen\nisuser_seen_days = 30\n"
	    STORE_SECRET SECRETS "[a.example]\n" SECRETS
	    "[b.example]\n" SECRETS "isuser = any\n"
	    "[c.example]\n" SECRETS "isuser_seen_days = 7\n";
	const struct config_isuser *w;

	ck_assert_int_eq(load("[a.example]\n" SECRETS, 0600), 0);
	ck_assert_ptr_nonnull(w = config_isuser(&cfg, "a.example", 9));
	ck_assert_int_eq(w->seen, 0);
	ck_assert_uint_eq(w->days, 400);
	ck_assert_ptr_null(config_isuser(&cfg, "z.example", 9));
	config_free(&cfg);

	ck_assert_msg(load(text, 0600) == 0, "%s", err);
	ck_assert_ptr_nonnull(w = config_isuser(&cfg, "A.EXAMPLE", 9));
	ck_assert_int_eq(w->seen, 1);
	ck_assert_uint_eq(w->days, 30);
	ck_assert_ptr_nonnull(w = config_isuser(&cfg, "b.example", 9));
	ck_assert_int_eq(w->seen, 0);
	ck_assert_ptr_nonnull(w = config_isuser(&cfg, "c.example", 9));
	ck_assert_int_eq(w->seen, 1);
	ck_assert_uint_eq(w->days, 7);
	ck_assert_ptr_nonnull(w = config_isuser(&cfg, "other.example", 13));
	ck_assert_int_eq(w->seen, 1);
	config_free(&cfg);

	/* Above the first section without global secrets: for every domain. */
	ck_assert_msg(load("isuser = seen\n" STORE_SECRET "[a.example]\n"
	    SECRETS, 0600) == 0, "%s", err);
	ck_assert_int_eq(config_isuser(&cfg, "a.example", 9)->seen, 1);
	config_free(&cfg);

	expect_error(SECRETS "isuser = yes\n", 3, "'any'");
	expect_error(SECRETS "isuser = seen\n", 3, "store_secret");
	expect_error(SECRETS STORE_SECRET "isuser_seen_days = 0\n", 4,
	    "isuser_seen_days");
	expect_error(SECRETS STORE_SECRET "isuser_seen_days = 3651\n", 4,
	    "isuser_seen_days");
	expect_error(SECRETS "isuser = any\nisuser = seen\n", 4,
	    "already set on line 3");
}
END_TEST

START_TEST(errors_name_file_and_line)
{
	expect_error("", 0, "no secrets");
	expect_error("otp_seed = " TEST_SEED "\n", 1, "needs both");
	expect_error(SECRETS "otp_sed = x\n", 3,
	    "unknown key 'otp_sed'; did you mean 'otp_seed'?");
	expect_error(SECRETS "Token_Secert = x\n", 3,
	    "did you mean 'token_secret'?");
	expect_error(SECRETS "lock_memory = always\n", 3,
	    "'required' or 'best-effort'");
	expect_error(SECRETS "just words\n", 3, "expected 'key = value'");
	expect_error(SECRETS "otp_seed = " TEST_SEED "\n", 3,
	    "already set on line 1");
	expect_error("otp_seed = XVGR73KMZH2M4XM1\ntoken_secret = "
		     TEST_SECRET "\n", 1, "not base32");
	expect_error("otp_seed = XVGR73KMZH\ntoken_secret = " TEST_SECRET
		     "\n", 1, "a key of 48 bits; TOTP needs at least 80");
	expect_error("otp_seed = AA==============\ntoken_secret = "
		     TEST_SECRET "\n", 1, "a key of 8 bits");
	expect_error("otp_seed = " TEST_SEED "\ntoken_secret = short\n", 2,
	    "16 to 256");
	expect_error("prosody_otp_seed =\nprosody_token_secret =\n", 2,
	    "token_secret must be");
	expect_error(SECRETS "otp_window = 00000000000000000000000junk\n", 3,
	    "whole number");
	expect_error(SECRETS "otp_window = 000000000000000000000001\n", 3,
	    "whole number");
	expect_error(SECRETS "otp_digits = 5\n", 3, "from 6 to 10");
	expect_error(SECRETS "otp_digits = 8x\n", 3, "whole number");
	expect_error(SECRETS "otp_window = 11\n", 3, "from 0 to 10");
	expect_error(SECRETS "otp_interval = 0\n", 3, "from 1 to 3600");
	expect_error(SECRETS "nonce_digits = 7\n", 3, "from 8 to 64");
	expect_error(SECRETS "replay_store = relative/dir\n", 3,
	    "absolute");
	expect_error(SECRETS "[a.example\n", 3, "must end with ']'");
	expect_error(SECRETS "[bad domain]\n", 3, "not an XMPP domain");
	expect_error(SECRETS "[a.example]\n" SECRETS "[A.example]\n", 6,
	    "already began on line 3");
	expect_error(SECRETS "[a.example]\notp_window = 2\n", 4,
	    "move it above the first [domain]");
	expect_error(SECRETS "[a.example]\notp_seed = " TEST_SEED "\n", 3,
	    "[a.example] needs both");
}
END_TEST

/* Nothing after the key's name is ever shown: it may be a secret. */
START_TEST(errors_never_show_a_value)
{
	expect_error("token_secret: " TEST_SECRET "==\notp_seed = " TEST_SEED
		     "\n", 1, "not a known key (the line is not shown");
	expect_error(SECRETS TEST_SECRET " = x\n", 3, "not a known key");
	expect_error("otp_seed = " TEST_SEED "\ntoken_secret = \"" TEST_SECRET
		     "\"\n", 2, "token_secret is quoted");
	expect_error("otp_seed = '" TEST_SEED "'\ntoken_secret = " TEST_SECRET
		     "\n", 1, "otp_seed is quoted");
	expect_error("otp_seed = " TEST_SEED "\ntoken_secret = JYXEX4IQOE "
		     "YFYQ2S3MC5P4ZT4SDHYEA7\n", 2,
	    "token_secret holds white space");
}
END_TEST

/* The Redis store's keys, each against the store it applies to. */
START_TEST(redis_keys)
{
	ck_assert_int_eq(load(SECRETS
	    "replay_store = redis://pta:Zebra%2Fpw@127.0.0.1:6380/2\n"
	    "replay_redis_timeout_ms = 100\n"
	    "replay_redis_key_prefix = chat:\n"
	    "replay_redis_wait_replicas = 1\n", 0600), 0);
	ck_assert_str_eq(cfg.replay.store, "redis://pta:***@127.0.0.1:6380/2");
	ck_assert_str_eq(redis()->url.password, "Zebra/pw");
	ck_assert_str_eq(shown("replay_redis_timeout_ms"), "100");
	ck_assert_uint_eq(redis()->timeout_ms, 100);
	ck_assert_str_eq(shown("replay_redis_key_prefix"), "chat:");
	ck_assert_str_eq(shown("replay_redis_wait_replicas"), "1");
	config_free(&cfg);
	ck_assert_str_eq(redis()->url.password, "");

	ck_assert_int_eq(load(SECRETS "replay_store = redis://:pw@/0\n"
	    "replay_redis_sentinels = 127.0.0.1:26379,[::1]:26380\n"
	    "replay_redis_master = mymaster\n", 0600), 0);
	ck_assert_str_eq(shown("replay_redis_master"), "mymaster");
	config_free(&cfg);
	ck_assert_int_eq(load(SECRETS "replay_store = unix:///run/r.sock?db=1"
	    "\n", 0600), 0);
	config_free(&cfg);

	/* A key for the other kind of store: an error on its own line. */
	expect_error(SECRETS "replay_redis_timeout_ms = 100\n", 3,
	    "applies to a Redis replay store, but replay_store is not set");
	expect_error(SECRETS "replay_store = /var/lib/x\n"
	    "replay_redis_master = m\n", 4, "but replay_store is a directory");
	expect_error(SECRETS "replay_redis_key_prefix = p:\n"
	    "replay_store = /var/lib/x\n", 3, "or remove this line");
	expect_error(SECRETS "replay_store = redis://h\n"
	    "replay_capacity = 1000\n", 4, "bounded by its own maxmemory");
	/* Sentinels and their master go together. */
	expect_error(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n", 4,
	    "needs replay_redis_master");
	expect_error(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_master = m\n", 4, "needs replay_redis_sentinels");
	expect_error(SECRETS "replay_store = redis://:Zebra@/0\n", 3,
	    "names no host");
	expect_error(SECRETS "replay_store = redis://:Zebra@h/0\n"
	    "replay_redis_master = m\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n", 3,
	    "leave the host out");
	expect_error(SECRETS "replay_redis_master = m\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n"
	    "replay_store = unix://:Zebra@/run/r.sock\n", 5, "not unix://");
	expect_error(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_master = m\n"
	    "replay_redis_sentinels = 127.0.0.1:0\n", 5, "from 1 to 65535");
	expect_error(SECRETS "replay_store = ftp://h\n", 3,
	    "or a redis://, rediss:// or unix:// URL");
}
END_TEST

/* The sentinels' login: with sentinels only, the user with a password,
 * the password never shown; and which settings must resolve names. */
START_TEST(redis_sentinel_login)
{
	ck_assert_int_eq(load(SECRETS "replay_store = redis://:pw@/0\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n"
	    "replay_redis_master = mymaster\n"
	    "replay_redis_sentinel_user = watcher\n"
	    "replay_redis_sentinel_password = Zebra%40#x\n", 0600), 0);
	ck_assert_str_eq(redis()->sentinel_user, "watcher");
	ck_assert_str_eq(redis()->sentinel_password, "Zebra%40#x");
	ck_assert_str_eq(shown("replay_redis_sentinel_password"), "***");
	ck_assert_str_eq(shown("replay_redis_sentinel_user"), "watcher");
	ck_assert_uint_eq(replay_sandbox_needs(&cfg.replay) &
	    REPLAY_SANDBOX_RESOLVE, 0);
	config_free(&cfg);

	expect_error(SECRETS "replay_store = redis://h/0\n"
	    "replay_redis_sentinel_password = Zebra\n", 4,
	    "needs replay_redis_sentinels");
	expect_error(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n"
	    "replay_redis_master = m\n"
	    "replay_redis_sentinel_user = watcher\n", 6,
	    "needs replay_redis_sentinel_password");
	expect_error(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_sentinels = 127.0.0.1:26379\n"
	    "replay_redis_master = m\n"
	    "replay_redis_sentinel_password = Zebra\x01x\n", 6,
	    "only visible ASCII");
	ck_assert_ptr_null(strstr(err, "Zebra"));

	/* A host named by name, in the URL or among the sentinels: the
	 * sandbox must let it resolve; by address, not. */
	ck_assert_int_eq(load(SECRETS "replay_store = redis://redis.test/0\n",
	    0600), 0);
	ck_assert_uint_ne(replay_sandbox_needs(&cfg.replay) &
	    REPLAY_SANDBOX_RESOLVE, 0);
	config_free(&cfg);
	ck_assert_int_eq(load(SECRETS "replay_store = redis:///0\n"
	    "replay_redis_sentinels = 127.0.0.1,s.test:26380\n"
	    "replay_redis_master = m\n", 0600), 0);
	ck_assert_uint_ne(replay_sandbox_needs(&cfg.replay) &
	    REPLAY_SANDBOX_RESOLVE, 0);
	config_free(&cfg);
	ck_assert_int_eq(load(SECRETS "replay_store = redis://[::1]:6379/0\n",
	    0600), 0);
	ck_assert_uint_eq(replay_sandbox_needs(&cfg.replay) &
	    REPLAY_SANDBOX_RESOLVE, 0);
	config_free(&cfg);
}
END_TEST

/* A password in replay_store never reaches a message. */
START_TEST(redis_password_never_shown)
{
	static const char *const bad[] = {
		"redis://:Zebra-Pass@h:99999",
		"redis://alice:Zebra-Pass@h/db",
		"redis://alice:Zebra-Pass%zz@h",
		"redis://alice:Zebra Pass@h",
		"unix://alice:Zebra-Pass@run/r.sock",
		"redis://alice:Zebra-Pass@",
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), SECRETS "replay_store = %s\n",
		    bad[i]);
		ck_assert_int_eq(load(text, 0600), -1);
		ck_assert_msg(strstr(err, "Zebra") == NULL &&
			strstr(err, "alice") == NULL, "shown in '%s'", err);
		ck_assert_msg(strstr(err, ":3: ") != NULL, "no line in '%s'",
		    err);
	}
}
END_TEST

START_TEST(lock_memory_key)
{
	ck_assert_int_eq(load(SECRETS, 0600), 0);
	ck_assert_int_eq(cfg.lock_required, 0);
	config_free(&cfg);
	ck_assert_int_eq(load(SECRETS "lock_memory = required\n", 0600),
	    secmem_lock_errno() == 0 ? 0 : -1);
	if (secmem_lock_errno() == 0) {
		ck_assert_int_eq(cfg.lock_required, 1);
		ck_assert_ptr_null(config_lock_warning());
		config_free(&cfg);
	}
	ck_assert_int_eq(load(SECRETS "lock_memory = best-effort\n", 0600), 0);
	ck_assert_int_eq(cfg.lock_required, 0);
	config_free(&cfg);
}
END_TEST

/* An RFC 3339 time in UTC, seconds from now. */
static const char *
utc(long from_now)
{
	static char buf[4][32];
	static int next;
	time_t t = time(NULL) + from_now;
	struct tm tm;
	char *b = buf[next++ % 4];

	gmtime_r(&t, &tm);
	strftime(b, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return b;
}

#define PREVIOUS_SEED	"HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M"
#define PREVIOUS_SECRET "NOTTHESECRETNOTTHESECRET32CHARS0"

static int
load_rotation(const char *until, const char *domain)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s%s%s%s"
	    "previous_otp_seed = " PREVIOUS_SEED "\n"
	    "previous_token_secret = " PREVIOUS_SECRET "\n"
	    "previous_until = %s\n",
	    domain ? SECRETS : "", domain ? "[" : "", domain ? domain : "",
	    domain ? "]\n" SECRETS : SECRETS, until);
	return load(text, 0600);
}

START_TEST(previous_pair_with_its_deadline)
{
	const struct token_keys *k;

	ck_assert_msg(load_rotation(utc(3600), NULL) == 0, "%s", err);
	k = config_keys(&cfg, "example.org", 11);
	ck_assert_ptr_nonnull(k->previous.otp);
	ck_assert_ptr_nonnull(k->previous.sig);
	ck_assert_int_ge(k->previous_until, time(NULL) + 3590);
	ck_assert_int_eq(cfg.domains[0].previous.line, 3);
	ck_assert_str_ne(cfg.domains[0].previous.seed_fingerprint,
	    cfg.domains[0].current.seed_fingerprint);
	config_free(&cfg);
	/* Per domain: the domain's own previous pair, none for the rest. */
	ck_assert_msg(load_rotation(utc(3600), "chat.example") == 0, "%s",
	    err);
	ck_assert_ptr_nonnull(
	    config_keys(&cfg, "chat.example", 12)->previous.otp);
	ck_assert_ptr_null(config_keys(&cfg, "other.org", 9)->previous.otp);
	config_free(&cfg);
	/* Past the deadline it loads, and is not in force. */
	ck_assert_msg(load_rotation(utc(-60), NULL) == 0, "%s", err);
	ck_assert_int_lt(config_keys(&cfg, "a.b", 3)->previous_until,
	    time(NULL));
	config_free(&cfg);
	ck_assert_int_eq(load_rotation("2026-12-24T18:00:00+00:00", NULL) ==
		0 || strstr(err, "more than 30 days") != NULL, 1);
	if (cfg.ndomains)
		config_free(&cfg);
}
END_TEST

START_TEST(previous_pair_errors)
{
	expect_error(SECRETS "previous_otp_seed = " PREVIOUS_SEED "\n"
		     "previous_token_secret = " PREVIOUS_SECRET "\n", 3,
	    "need previous_until");
	ck_assert_int_eq(load_rotation(utc(31 * 86400), NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, ":5: previous_until is more than 30 "
					  "days ahead"));
	ck_assert_int_eq(load_rotation("tomorrow", NULL), -1);
	ck_assert_ptr_nonnull(strstr(err, ":5: previous_until must be a time "
					  "in UTC"));
	ck_assert_int_eq(load_rotation("2026-12-24 18:00:00", NULL), -1);
	ck_assert_int_eq(load_rotation("2026-12-24T18:00:00+01:00", NULL), -1);
	ck_assert_int_eq(load_rotation("2026-12-24T18:00:00Zjunk", NULL), -1);
	expect_error(SECRETS "previous_otp_seed = " PREVIOUS_SEED "\n", 3,
	    "only one of previous_otp_seed and previous_token_secret");
	expect_error(SECRETS "previous_until = 2026-12-24T18:00:00Z\n", 3,
	    "previous_until without previous_otp_seed");
	expect_error(SECRETS "previous_otp_seed = AAAA\nprevious_token_secret "
		     "= " PREVIOUS_SECRET "\nprevious_until = "
		     "2026-12-24T18:00:00Z\n", 3,
	    "previous_otp_seed is a key of 16 bits");
	expect_error(SECRETS "previous_otp_seed = " PREVIOUS_SEED "\n"
		     "previous_otp_seed = " PREVIOUS_SEED "\n", 4,
	    "previous_otp_seed is already set on line 3");
}
END_TEST

START_TEST(nul_byte_is_an_error)
{
	FILE *f = fopen(path, "w");

	fputs(SECRETS, f);
	fputc('\0', f);
	fputs("\n", f);
	fclose(f);
	chmod(path, 0600);
	ck_assert_int_eq(config_load(path, &cfg, err), -1);
	ck_assert_ptr_nonnull(strstr(err, ":3: contains a NUL byte"));
}
END_TEST

START_TEST(permissions)
{
	ck_assert_int_eq(load(SECRETS, 0604), -1);
	ck_assert_ptr_nonnull(strstr(err, "readable by other users"));
	ck_assert_ptr_nonnull(strstr(err, "chmod o-rwx"));
	ck_assert_int_eq(load(SECRETS, 0620), -1);
	ck_assert_ptr_nonnull(strstr(err, "writable by its group"));
	ck_assert_int_eq(load(SECRETS, 0640), 0);
	config_free(&cfg);
	ck_assert_int_eq(load(SECRETS, 0400), 0);
	config_free(&cfg);
}
END_TEST

START_TEST(wrong_owner)
{
	if (geteuid() != 0)
		return; /* only root can give a file away */
	ck_assert_int_eq(load(SECRETS, 0600), 0);
	config_free(&cfg);
	ck_assert_int_eq(chown(path, 12345, 0), 0);
	ck_assert_int_eq(config_load(path, &cfg, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "owned by uid 12345"));
}
END_TEST

START_TEST(missing_and_not_regular)
{
	ck_assert_int_eq(config_load("/nonexistent/token-auth.conf", &cfg,
			     err),
	    -1);
	ck_assert_str_eq(err, "/nonexistent/token-auth.conf: cannot open: "
			      "No such file or directory");
	ck_assert_int_eq(config_load(dir, &cfg, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

/* JWT keys: a section with jwt_keys alone accepts only JWTs; errors name
 * the file and the line. */
START_TEST(jwt_keys)
{
	char set[PATH_MAX + 16], text[3 * PATH_MAX];
	const struct format_keys *f;
	FILE *k;

	snprintf(set, sizeof(set), "%s/set.jwks", dir);
	ck_assert_ptr_nonnull(k = fopen(set, "w"));
	fputs("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
	    "\"a\",\"alg\":\"EdDSA\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiM"
	    "lrwIaaPcHURo\"}]}", k);
	fclose(k);
	chmod(set, 0644);
	snprintf(text, sizeof(text), "otp_seed = %s\ntoken_secret = %s\n"
	    "[jwt.example]\njwt_keys = %s\njwt_audience = xmpp:jwt.example\n"
	    "jwt_leeway = 10\n", TEST_SEED, TEST_SECRET, set);
	ck_assert_msg(load(text, 0600) == 0, "%s", err);
	ck_assert_ptr_nonnull(f = config_formats(&cfg, "jwt.example", 11));
	ck_assert_ptr_null(f->converse);
	ck_assert_ptr_nonnull(f->jwt);
	ck_assert_uint_eq(f->jwt->leeway, 10);
	ck_assert_uint_eq(f->jwt->max_lifetime, 300);
	ck_assert_str_eq(f->jwt->audience, "xmpp:jwt.example");
	ck_assert_ptr_null(config_keys(&cfg, "jwt.example", 11));
	ck_assert_ptr_nonnull(f = config_formats(&cfg, "other.example", 13));
	ck_assert_ptr_nonnull(f->converse);
	ck_assert_ptr_null(f->jwt);
	config_free(&cfg);

	snprintf(text, sizeof(text), "[a.example]\njwt_keys = %s\n", set);
	expect_error(text, 2, "jwt_keys needs jwt_audience");
	snprintf(text, sizeof(text), "[a.example]\njwt_audience = x\n");
	expect_error(text, 2, "jwt_audience without jwt_keys");
	snprintf(text, sizeof(text), "[a.example]\njwt_keys = set.jwks\n"
	    "jwt_audience = x\n");
	expect_error(text, 2, "absolute path");
	snprintf(text, sizeof(text), "[a.example]\njwt_keys = %s\n"
	    "jwt_audience = x\njwt_leeway = 301\n", set);
	expect_error(text, 4, "jwt_leeway");
	snprintf(text, sizeof(text), "[a.example]\njwt_keys = %s/none\n"
	    "jwt_audience = x\n", dir);
	expect_error(text, 2, "jwt_keys: ");
	snprintf(text, sizeof(text), "[a.example]\njwt_keys = %s\n"
	    "jwt_audience = x\njwt_keys = %s\n", set, set);
	expect_error(text, 4, "already set on line 2");
	unlink(set);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	ADD(tc, minimal_file_and_defaults);
	ADD(tc, contract_example);
	ADD(tc, collective_converse_secrets_cfg);
	ADD(tc, domain_sections_only);
	ADD(tc, isuser_per_domain);
	ADD(tc, errors_name_file_and_line);
	ADD(tc, errors_never_show_a_value);
	ADD(tc, previous_pair_with_its_deadline);
	ADD(tc, previous_pair_errors);
	ADD(tc, redis_keys);
	ADD(tc, redis_sentinel_login);
	ADD(tc, redis_password_never_shown);
	ADD(tc, lock_memory_key);
	ADD(tc, nul_byte_is_an_error);
	ADD(tc, permissions);
	ADD(tc, wrong_owner);
	ADD(tc, missing_and_not_regular);
	ADD(tc, jwt_keys);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
