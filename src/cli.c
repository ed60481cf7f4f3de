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
#include "replay.h"
#include "request.h"
#include "token.h"

#define SECRET_BYTES 20 /* 32 base32 characters, as pyotp makes them */

struct jid {
	char text[2 * REQUEST_MAX_PART + 2];
	const char *user, *domain;
	size_t userlen, domainlen;
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
parse_jid(const char *s, struct jid *j)
{
	char *at;
	size_t i;

	if (strlen(s) >= sizeof(j->text) || (at = strchr(s, '@')) == NULL) {
		fprintf(stderr, "prosody-token-auth: '%s' is not USER@DOMAIN\n",
		    s);
		return -1;
	}
	strcpy(j->text, s);
	at = j->text + (at - s);
	for (i = 0; j->text[i] != '\0'; i++)
		j->text[i] = (char)tolower((unsigned char)j->text[i]);
	j->user = j->text;
	j->userlen = (size_t)(at - j->text);
	j->domain = at + 1;
	j->domainlen = strlen(at + 1);
	if (!request_valid_part(j->user, j->userlen) ||
	    !request_valid_part(j->domain, j->domainlen)) {
		fprintf(stderr, "prosody-token-auth: '%s': the user and the "
		    "domain must be non-empty, without '@', ':', '/' or white "
		    "space\n", s);
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

int
cli_mint(const struct config *c, const char *jidtext)
{
	const struct token_keys *keys;
	char nonce[TOKEN_MAX_NONCE], token[TOKEN_MAX_LEN + 2];
	struct jid j;
	int rc;

	if (parse_jid(jidtext, &j) == -1)
		return 1;
	if ((keys = config_keys(c, j.domain, j.domainlen)) == NULL) {
		fprintf(stderr, "prosody-token-auth: %s: no secrets for domain "
		    "'%s' and no global ones\n", c->path, j.domain);
		return 1;
	}
	if (random_digits(nonce, c->params.nonce_digits) == -1 ||
	    token_format(nonce, j.user, j.userlen, j.domain, j.domainlen,
		keys, &c->params, time(NULL), token) == -1) {
		fprintf(stderr, "prosody-token-auth: cannot make a token\n");
		return 1;
	}
	strcat(token, "\n");
	rc = write_secret(token, strlen(token));
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* Whether the nonce was used already; the store is only read, never made. */
static void
report_replay(const struct config *c, const struct token *t,
    const struct jid *j, int *valid)
{
	time_t now = time(NULL);
	struct replay_time when = { now, token_expiry(&c->params, now),
		c->params.otp_interval };
	uint8_t key[TOKEN_REPLAY_KEY_LEN];
	char err[REPLAY_ERR_LEN];
	struct replay *store;

	if (token_replay_key(t, &c->params, j->user, j->userlen, j->domain,
		j->domainlen, key) == -1) {
		printf("replay store not checked: internal error\n");
		return;
	}
	if ((store = replay_open_existing(c->replay_store, err)) == NULL) {
		printf("not used yet, as far as can be seen (replay store not "
		       "read: %s)\n", err);
		return;
	}
	if (replay_lookup(store, key, &when, err) == REPLAY_SEEN) {
		printf("invalid: %s\n", auth_reason(AUTH_REPLAY));
		*valid = 0;
	} else {
		printf("not used yet (verify does not use it up)\n");
	}
	replay_close(store);
}

int
cli_verify(const struct config *c, const char *jidtext, const char *token)
{
	enum auth_verdict v;
	struct token t;
	struct jid j;
	int valid;

	if (parse_jid(jidtext, &j) == -1)
		return 1;
	v = auth_check(c, j.user, j.userlen, j.domain, j.domainlen, token,
	    strlen(token), time(NULL), &t);
	valid = v == AUTH_ACCEPTED;
	if (valid)
		printf("valid: signed for %.*s@%s, OTP within the time "
		       "window\n", (int)j.userlen, j.user, j.domain);
	else
		printf("invalid: %s\n", auth_reason(v));
	if (valid)
		report_replay(c, &t, &j, &valid);
	explicit_bzero(&t, sizeof(t));
	return valid ? 0 : 1;
}

static void
describe_store(const struct config *c)
{
	struct stat st;

	if (stat(c->replay_store, &st) == 0)
		printf("replay store: %s (%s, room for %zu nonces)\n",
		    c->replay_store,
		    S_ISDIR(st.st_mode) ? "exists" : "NOT A DIRECTORY",
		    c->replay_capacity);
	else
		printf("replay store: %s (made at the first login; its parent "
		       "must be writable by the helper's user)\n",
		    c->replay_store);
}

int
cli_check_config(const struct config *c)
{
	size_t i;

	printf("%s: OK\n", c->path);
	if (config_lock_warning() != NULL)
		printf("%s\n", config_lock_warning());
	for (i = 0; i < c->ndomains; i++)
		printf("secrets: %s (line %d)\n",
		    c->domains[i].name ? c->domains[i].name :
					 "global, for every other domain",
		    c->domains[i].line);
	printf("token: %u-digit OTP every %u s, window +/-%u step(s), "
	       "%u-digit nonce\n",
	    c->params.otp_digits, c->params.otp_interval,
	    c->params.otp_window, c->params.nonce_digits);
	describe_store(c);
	return 0;
}

int
cli_gen_secrets(void)
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
