#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "base32.h"
#include "cli.h"
#include "jid.h"
#include "replay.h"
#include "token.h"

#define SECRET_BYTES 20 /* 32 base32 characters, as pyotp makes them */

/* A JID from the command line, lower-cased, and its parts. */
struct jid_arg {
	char text[JID_MAX_LEN + 1];
	struct jid jid;
};

static int
fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Secrets go straight to the descriptor, not through a stdio buffer. */
static int
write_secret(const char *s, size_t len)
{
	ssize_t n;

	fflush(stdout);
	while (len > 0) {
		if ((n = write(STDOUT_FILENO, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
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
		if (fill_random(&b, 1) == -1)
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
	    token_format(nonce, &j.jid, keys, &c->params, time(NULL),
		token) == -1) {
		fprintf(stderr, "prosody-token-auth: cannot make a token\n");
		return 1;
	}
	strcat(token, "\n");
	rc = write_secret(token, strlen(token));
	explicit_bzero(token, sizeof(token));
	return rc;
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
		printf("valid: signed for %s, OTP within the time window, not "
		       "used yet (verify does not use it up)\n", j.text);
		return 0;
	case AUTH_STORE_FAILED:
		printf("valid: signed for %s, OTP within the time window; "
		       "whether it was used cannot be told (replay store not "
		       "read: %s)\n", j.text, err);
		return 0;
	default:
		printf("invalid: %s\n", auth_reason(v));
		return 1;
	}
}

static int
check_config(const struct config *c)
{
	size_t i;
	int problems;

	printf("%s: valid\n", c->path);
	if (config_lock_warning() != NULL)
		printf("%s\n", config_lock_warning());
	for (i = 0; i < c->ndomains; i++)
		printf("secrets: %s (line %d)\n"
		       "  otp_seed fingerprint: %s\n"
		       "  token_secret fingerprint: %s\n",
		    c->domains[i].name ? c->domains[i].name :
					 "global, for every other domain",
		    c->domains[i].line, c->domains[i].seed_fingerprint,
		    c->domains[i].secret_fingerprint);
	printf("token: %u-digit OTP every %u s, window +/-%u step(s), "
	       "%u-digit nonce\n",
	    c->params.otp_digits, c->params.otp_interval,
	    c->params.otp_window, c->params.nonce_digits);
	problems = replay_describe(&c->replay);
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
	uint8_t raw[2][SECRET_BYTES];
	char text[2][BASE32_ENCODED_LEN(SECRET_BYTES) + 1], out[512];
	int rc, n;

	if (fill_random(raw, sizeof(raw)) == -1) {
		fprintf(stderr, "prosody-token-auth: getrandom: %s\n",
		    strerror(errno));
		return 1;
	}
	base32_encode(raw[0], SECRET_BYTES, text[0]);
	base32_encode(raw[1], SECRET_BYTES, text[1]);
	n = snprintf(out, sizeof(out),
	    "# Secrets for prosody-token-auth, made by 'prosody-token-auth "
	    "gen-secrets'.\n"
	    "# Give both to the web application that signs the tokens "
	    "(collective.converse:\n"
	    "# prosody_otp_seed and prosody_token_secret in secrets.cfg) "
	    "and to nobody else.\n"
	    "otp_seed     = %s\n"
	    "token_secret = %s\n",
	    text[0], text[1]);
	rc = n > 0 && (size_t)n < sizeof(out) ? write_secret(out, (size_t)n) : 1;
	explicit_bzero(out, sizeof(out));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(text, sizeof(text));
	return rc;
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
	    "once the clock reaches its\ntime, by whoever captured it. Only a "
	    "web application whose clock was ahead\ntoo makes such tokens.\n",
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
