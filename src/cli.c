#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "base32.h"
#include "cli.h"
#include "cli_jwt.h"
#include "ejabberd_conf.h"
#include "io.h"
#include "jid.h"
#include "replay.h"
#include "secrets.h"
#include "format.h"
#include "token.h"


/* A JID from the command line, lower-cased, and its parts. */
struct jid_arg {
	char text[JID_MAX_LEN + 1];
	struct jid jid;
};

/* Secrets go straight to the descriptor, not through a stdio buffer. */
static int
write_secret(const char *s, size_t len)
{
	fflush(stdout);
	return write_all(STDOUT_FILENO, s, len, NULL) == -1 ? 1 : 0;
}

/* Splits USER@DOMAIN, lower-casing it as servers normalise it. */
static int
parse_jid(const char *s, struct jid_arg *j)
{
	size_t i, len = strlen(s);

	if (len >= sizeof(j->text) || strchr(s, '@') == NULL) {
		fprintf(stderr, "prosody-token-auth: '%s' is not USER@DOMAIN\n",
		    s);
		return -1;
	}
	for (i = 0; i <= len; i++)
		j->text[i] = (char)tolower((unsigned char)s[i]);
	if (jid_split(&j->jid, j->text, len) == -1) {
		fprintf(stderr, "prosody-token-auth: '%s': the user and the "
		    "domain must be non-empty, without '@', ':', '/', white "
		    "space or control characters (nor '[' or ']' in the "
		    "domain)\n", s);
		return -1;
	}
	return 0;
}

/* Uniform random decimal digits: bytes of 250 and above are drawn again. */
static int
random_digits(char *out, size_t n)
{
	uint8_t b;
	size_t i = 0;

	while (i < n) {
		if (secrets_random(&b, 1) == -1)
			return -1;
		if (b < 250)
			out[i++] = (char)('0' + b % 10);
	}
	return 0;
}

static int
mint(const struct config *c, const char *jidtext)
{
	const struct token_keys *keys;
	char nonce[TOKEN_MAX_NONCE], token[TOKEN_MAX_LEN + 2];
	struct jid_arg j;
	int rc;

	if (parse_jid(jidtext, &j) == -1)
		return 1;
	if ((keys = config_keys(c, j.jid.domain, j.jid.domainlen)) == NULL) {
		fprintf(stderr, "prosody-token-auth: %s: no secrets for domain "
		    "'%s' and no global ones\n", c->path, j.jid.domain);
		return 1;
	}
	if (random_digits(nonce, c->params.nonce_digits) == -1 ||
	    token_format(nonce, &j.jid, &keys->current, &c->params, time(NULL),
		token) == -1) {
		fprintf(stderr, "prosody-token-auth: cannot make a token\n");
		return 1;
	}
	strcat(token, "\n");
	rc = write_secret(token, strlen(token));
	explicit_bzero(token, sizeof(token));
	return rc;
}

/*
 * Why a token was refused, as far as the administrator can be told: the
 * helper answers in constant time, but the token's format may search and
 * explain here.
 */
static void
explain(const struct config *c, const struct jid *jid, const char *text,
    enum auth_verdict v)
{
	const struct format_keys *keys = config_formats(c, jid->domain,
	    jid->domainlen);
	const struct format *f = format_of(text, strlen(text));
	char why[1024];

	if (keys != NULL && !f->accepted(keys))
		printf("  its shape is that of a %s token, which this domain's "
		       "section does not accept (JWTs need jwt_keys; "
		       "collective.converse tokens otp_seed and token_secret)\n",
		    f->name);
	if (keys == NULL || !f->accepted(keys))
		return;
	f->explain(keys, jid, text, strlen(text), v, time(NULL), why,
	    sizeof(why));
	fputs(why, stdout);
}

/* What a valid token of its format has passed, for people. */
static const char *
valid_what(const char *token)
{
	return format_of(token, strlen(token)) == &format_jwt ?
	    "a JWT with its key, claims and times as required" :
	    "OTP within the time window";
}

static int
verify(const struct config *c, const char *jidtext, const char *token)
{
	char err[AUTH_ERR_LEN];
	enum auth_verdict v;
	struct jid_arg j;
	struct auth *a;

	if (parse_jid(jidtext, &j) == -1)
		return 1;
	if ((a = auth_open(c, AUTH_INSPECT)) == NULL) {
		fprintf(stderr, "prosody-token-auth: out of memory\n");
		return 1;
	}
	v = auth_lookup(a, &j.jid, token, strlen(token), time(NULL), err);
	auth_close(a);
	switch (v) {
	case AUTH_ACCEPTED:
		printf("valid: signed for %s, %s, not used yet (verify does not "
		       "use it up)\n", j.text, valid_what(token));
		return 0;
	case AUTH_STORE_FAILED:
		printf("valid: signed for %s, %s; whether it was used cannot be "
		       "told (replay store not read: %s)\n", j.text,
		    valid_what(token), err);
		return 0;
	default:
		printf("invalid: %s\n", auth_reason(v));
		explain(c, &j.jid, token, v);
		return 1;
	}
}

/* A domain's secrets, by fingerprint, and what became of a rotation. */
static void
describe_domain(const struct config_domain *d, time_t now)
{
	char until[32];
	struct tm tm;

	if (d->formats.converse == NULL)
		return;
	printf("secrets: %s (line %d)\n"
	       "  otp_seed fingerprint: %s\n"
	       "  token_secret fingerprint: %s\n",
	    d->name ? d->name : "global, for every other domain", d->line,
	    d->current.seed_fingerprint, d->current.secret_fingerprint);
	if (d->isuser.seen)
		printf("  isuser = seen, isuser_seen_days = %u: a user exists "
		       "once logged in with a valid token, for %u days\n",
		    d->isuser.days, d->isuser.days);
	else
		printf("  isuser = any, isuser_seen_days = %u: every user of "
		       "the domain exists\n", d->isuser.days);
	if (d->previous.line == 0)
		return;
	gmtime_r(&d->keys.previous_until, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (now < d->keys.previous_until)
		printf("  previous pair (line %d) accepted until %s, in %ld "
		       "min\n"
		       "    previous_otp_seed fingerprint: %s\n"
		       "    previous_token_secret fingerprint: %s\n",
		    d->previous.line, until,
		    (long)(d->keys.previous_until - now + 59) / 60,
		    d->previous.seed_fingerprint,
		    d->previous.secret_fingerprint);
	else
		printf("  previous pair (line %d) ignored since %s: remove "
		       "previous_otp_seed, previous_token_secret and "
		       "previous_until\n", d->previous.line, until);
}

/* ejabberd's file, where check-config looks for its password cache. */
static const char *
ejabberd_conf_path(void)
{
	const char *env = getenv(EJABBERD_CONF_ENV);

	return env != NULL && *env != '\0' ? env : EJABBERD_CONF_DEFAULT;
}

static int
check_config(const struct config *c)
{
	size_t i;
	int problems;

	printf("%s: valid\n", c->path);
	if (config_lock_warning() != NULL)
		printf("%s\n", config_lock_warning());
	for (i = 0; i < c->ndomains; i++) {
		describe_domain(&c->domains[i], time(NULL));
		cli_describe_jwt(&c->domains[i]);
	}
	printf("token: %u-digit OTP every %u s, window +/-%u step(s), "
	       "%u-digit nonce\n",
	    c->params.otp_digits, c->params.otp_interval,
	    c->params.otp_window, c->params.nonce_digits);
	if (c->store_key != NULL)
		printf("store_secret (line %d) fingerprint: %s: the replay "
		       "store's keys are HMAC-SHA256 under it\n",
		    c->store_secret_line, c->store_fingerprint);
	else
		printf("warning: no store_secret: the replay store's keys are "
		       "plain SHA-256 of each JID, so anyone who can read the "
		       "store can tell whether a given JID logged in, and when; "
		       "add store_secret = (32 base32 characters, as "
		       "'prosody-token-auth gen-secrets' prints one), the same "
		       "in every config sharing the store\n");
	problems = replay_describe(&c->replay);
	ejabberd_conf_check(ejabberd_conf_path(), stdout);
	if (problems > 0) {
		printf("%d problem%s: see PROBLEM above\n", problems,
		    problems == 1 ? "" : "s");
		return 1;
	}
	printf("OK\n");
	return 0;
}

static int
gen_secrets(void)
{
	struct secrets_pair pair, store;
	char out[1024];
	int rc, n;

	if (secrets_new(&pair) == -1 || secrets_new(&store) == -1) {
		fprintf(stderr, "prosody-token-auth: getrandom: %s\n",
		    strerror(errno));
		return 1;
	}
	n = snprintf(out, sizeof(out),
	    "# Secrets for prosody-token-auth, made by 'prosody-token-auth "
	    "gen-secrets'.\n"
	    "# Give both to the web application that signs the tokens "
	    "(collective.converse:\n"
	    "# prosody_otp_seed and prosody_token_secret in secrets.cfg) "
	    "and to nobody else.\n"
	    "otp_seed     = %s\n"
	    "token_secret = %s\n"
	    "# The replay store's own key: the helpers' alone, never the web "
	    "application's;\n"
	    "# the same in every config that shares one replay store.\n"
	    "store_secret = %s\n",
	    pair.seed, pair.secret, store.secret);
	rc = n > 0 && (size_t)n < sizeof(out) ? write_secret(out, (size_t)n) : 1;
	explicit_bzero(out, sizeof(out));
	explicit_bzero(&pair, sizeof(pair));
	explicit_bzero(&store, sizeof(store));
	return rc;
}

/* "1d", "12h", "90m", "3600s" or "3600": seconds, 60 to 30 days. */
static long
parse_duration(const char *s)
{
	char *end;
	long n, unit = 1;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n <= 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || strchr("smhd", *end) == NULL)
			return -1;
		unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ?
		    3600 : 86400;
	}
	if (n > CONFIG_MAX_OVERLAP / unit || n * unit < 60)
		return -1;
	return n * unit;
}

/* What to do next, and the secrets for the web application. */
static int
print_rotation(const char *path, const char *domain,
    const struct secrets_pair *pair, time_t until)
{
	char until_text[32], out[1536];
	struct tm tm;
	int n, rc;

	gmtime_r(&until, &tm);
	strftime(until_text, sizeof(until_text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(out, sizeof(out),
	    "%s: new secrets for %s%s%s; the previous ones are accepted until "
	    "%s.\n"
	    "\n"
	    "Next:\n"
	    "1. Helpers already running take the new file by themselves "
	    "within a second\n"
	    "   (at once on SIGHUP). Several XMPP servers: copy the file to "
	    "each now.\n"
	    "2. Give the web application the new pair, node by node (old and "
	    "new tokens both\n"
	    "   pass meanwhile; collective.converse: prosody_otp_seed and "
	    "prosody_token_secret):\n"
	    "\n"
	    "otp_seed     = %s\n"
	    "token_secret = %s\n"
	    "\n"
	    "3. After %s tokens made with the old pair are refused; then "
	    "remove the\n"
	    "   previous_* lines (check-config says when).\n",
	    path, domain ? "[" : "the global section", domain ? domain : "",
	    domain ? "]" : "", until_text, pair->seed, pair->secret,
	    until_text);
	rc = n > 0 && (size_t)n < sizeof(out) ? write_secret(out, (size_t)n) : 1;
	explicit_bzero(out, sizeof(out));
	return rc;
}

/* rotate-secrets [--domain D] [--overlap DURATION] [--force] */
static int
rotate_secrets(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "overlap", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL;
	char err[SECRETS_ERR_LEN];
	struct secrets_pair pair;
	long overlap = 86400;
	time_t now = time(NULL);
	int ch, force = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			domain = optarg;
			break;
		case 'o':
			if ((overlap = parse_duration(optarg)) == -1) {
				fprintf(stderr, "prosody-token-auth: "
				    "rotate-secrets: --overlap '%s': give a "
				    "duration from 60s to 30d, such as 1d, "
				    "12h, 90m or 3600s\n", optarg);
				return 2;
			}
			break;
		case 'f':
			force = 1;
			break;
		default:
			fprintf(stderr, "prosody-token-auth: rotate-secrets "
			    "takes [--domain D] [--overlap DURATION] "
			    "[--force]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "prosody-token-auth: rotate-secrets: '%s' is "
		    "not an option it takes ([--domain D] [--overlap "
		    "DURATION] [--force])\n", argv[optind]);
		return 2;
	}
	if (secrets_new(&pair) == -1) {
		fprintf(stderr, "prosody-token-auth: getrandom: %s\n",
		    strerror(errno));
		return 1;
	}
	if ((rc = secrets_rotate(path, domain, &pair, now, now + overlap, force,
		 err)) == -1)
		fprintf(stderr, "prosody-token-auth: rotate-secrets: %s\n",
		    err);
	else
		rc = print_rotation(path, domain, &pair, now + overlap);
	explicit_bzero(&pair, sizeof(pair));
	return rc == 0 ? 0 : 1;
}

static int
reset_store(const struct config *c)
{
	char msg[REPLAY_ERR_LEN];
	int rc = replay_reset_clock(&c->replay, time(NULL), msg);

	if (rc == -1) {
		fprintf(stderr, "prosody-token-auth: reset-store: %s\n", msg);
		return 1;
	}
	if (rc == 1) {
		printf("%s\n", msg);
		return 0;
	}
	printf("%s\n"
	    "Logins refused because the clock was set back are accepted again "
	    "from now on.\n"
	    "One risk remains, as after any lock-out ends: a token accepted "
	    "while the clock\nwas ahead, and since purged, could be used again "
	    "while it is within the\nwindow, by whoever captured it.\n",
	    msg);
	return 0;
}

/* --- the table ---------------------------------------------------------- */

static int
run_mint(const struct config *c, char **argv)
{
	return mint(c, argv[1]);
}

static int
run_verify(const struct config *c, char **argv)
{
	return verify(c, argv[1], argv[2]);
}

static int
run_check_config(const struct config *c, char **argv)
{
	(void)argv;
	return check_config(c);
}

static int
run_reset_store(const struct config *c, char **argv)
{
	(void)argv;
	return reset_store(c);
}

static const struct subcommand {
	const char *name;
	const char *operands; /* for people */
	int count;	      /* how many */
	int (*run)(const struct config *, char **argv);
} subcommands[] = {
	{ "mint", "USER@DOMAIN", 1, run_mint },
	{ "verify", "USER@DOMAIN TOKEN", 2, run_verify },
	{ "check-config", NULL, 0, run_check_config },
	{ "gen-secrets", NULL, 0, NULL },
	{ "reset-store", NULL, 0, run_reset_store },
	{ "rotate-secrets", "[--domain D] [--overlap DURATION] [--force]", -1,
	    NULL },
	{ "jwt-keygen", "--kid KID [--alg ALG] --jwks FILE --private-key OUT",
	    -1, NULL },
};

#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static const struct subcommand *
find(const char *name)
{
	size_t i;

	for (i = 0; i < NSUBCOMMANDS; i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

/* One line saying what is wrong with the arguments; 2, for usage. */
static int
wrong_arguments(const struct subcommand *s, int given)
{
	if (s->count == 0)
		fprintf(stderr, "prosody-token-auth: %s takes no arguments, "
		    "but was given %d\n", s->name, given);
	else if (given < s->count)
		fprintf(stderr, "prosody-token-auth: %s needs %s\n", s->name,
		    s->operands);
	else
		fprintf(stderr, "prosody-token-auth: %s takes %s, but was given "
		    "%d arguments%s\n", s->name, s->operands, given,
		    strcmp(s->name, "verify") == 0 ? "; a token holds a "
		    "space: put it in quotes" : "");
	return 2;
}

/* rotate-secrets takes options, and a config that loads as it is. */
static int
load_and_rotate(const char *path, int argc, char **argv)
{
	char err[CONFIG_ERR_LEN];
	struct config c;

	if (config_load(path, &c, err) == -1) {
		fprintf(stderr, "prosody-token-auth: %s (rotate-secrets rewrites "
		    "a config that loads: fix it first)\n", err);
		return 1;
	}
	config_free(&c);
	return rotate_secrets(path, argc, argv);
}

int
cli_run(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = find(argv[0]);
	char err[CONFIG_ERR_LEN];
	struct config c;
	size_t i;
	int rc;

	if (s == NULL) {
		fprintf(stderr, "prosody-token-auth: '%s' is not a subcommand; "
		    "they are", argv[0]);
		for (i = 0; i < NSUBCOMMANDS; i++)
			fprintf(stderr, "%s %s", i == 0 ? "" : ",",
			    subcommands[i].name);
		fprintf(stderr, " (see --help)\n");
		return 2;
	}
	if (strcmp(s->name, "rotate-secrets") == 0)
		return load_and_rotate(config_path, argc, argv);
	if (strcmp(s->name, "jwt-keygen") == 0)
		return cli_jwt_keygen(argc, argv);
	if (strcmp(s->name, "mint") == 0 && argc > 2) {
		if (config_load(config_path, &c, err) == -1) {
			fprintf(stderr, "prosody-token-auth: %s\n", err);
			return 1;
		}
		rc = cli_mint_jwt(&c, argv[1], argc - 1, argv + 1);
		config_free(&c);
		return rc;
	}
	if (argc - 1 != s->count)
		return wrong_arguments(s, argc - 1);
	if (s->run == NULL)
		return gen_secrets();
	if (config_load(config_path, &c, err) == -1) {
		fprintf(stderr, "prosody-token-auth: %s\n", err);
		return 1;
	}
	rc = s->run(&c, argv);
	config_free(&c);
	return rc;
}
