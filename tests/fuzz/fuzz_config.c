/*
 * Fuzz target: the config parser. The input is written to a file of mode
 * 0600 in a private directory and loaded with config_load. Invariants:
 *
 * - never a crash, undefined behaviour or leak;
 * - every error message starts with the file's name and a ':';
 * - no error message shows a secret: the file is loaded a second time with
 *   the values given for otp_seed / token_secret (and their prosody_
 *   names) disguised, every letter and digit replaced by another of the
 *   same kind (so that what is valid stays valid and what is not stays
 *   not), and the outcome and the message must be exactly the same;
 * - a config that loads has keys for every domain, lower-case domain names
 *   found again in any case, and parameters within their bounds.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX], path[PATH_MAX];

static void
remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fuzz-config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/token-auth.conf", dir);
	atexit(remove_dir);
}

static void
write_file(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || fchmod(fd, 0600) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size) ||
	    close(fd) == -1) {
		perror(path);
		abort();
	}
}

static int
blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int
secret_key(const uint8_t *k, size_t len)
{
	static const char *const names[] = { "otp_seed", "token_secret",
		"prosody_otp_seed", "prosody_token_secret" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && memcmp(names[i], k, len) == 0)
			return 1;
	return 0;
}

/* Another character of the same kind for base32 and for the parser. */
static uint8_t
disguise_char(uint8_t c)
{
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c == 'z' ? 'a' : c + 1);
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c == 'Z' ? 'A' : c + 1);
	if (c >= '2' && c <= '7')
		return (uint8_t)(c == '7' ? '2' : c + 1);
	switch (c) {	/* digits that are not base32 */
	case '0': return '1';
	case '1': return '8';
	case '8': return '9';
	case '9': return '0';
	}
	return c;
}

/*
 * Copies the file with the letters and digits after the '=' of every
 * otp_seed / token_secret line changed. Returns how many were changed.
 */
static size_t
disguise(const uint8_t *in, size_t size, uint8_t *out)
{
	size_t pos = 0, changed = 0, i, end, k, kend;
	const uint8_t *nl, *eq;

	memcpy(out, in, size);
	while (pos < size) {
		nl = memchr(in + pos, '\n', size - pos);
		end = nl != NULL ? (size_t)(nl - in) : size;
		eq = memchr(in + pos, '=', end - pos);
		if (eq != NULL && memchr(in + pos, '\0', end - pos) == NULL) {
			k = pos;
			kend = (size_t)(eq - in);
			while (k < kend && blank(in[k]))
				k++;
			while (kend > k && (blank(in[kend - 1]) ||
					       in[kend - 1] == '\r'))
				kend--;
			if (secret_key(in + k, kend - k))
				for (i = (size_t)(eq - in) + 1; i < end; i++) {
					out[i] = disguise_char(in[i]);
					changed += out[i] != in[i];
				}
		}
		pos = end + 1;
	}
	return changed;
}

/* A store is a directory or a Redis URL, nothing else. */
static int
store_named(const char *store)
{
	return store[0] == '/' || strncmp(store, "redis://", 8) == 0 ||
	    strncmp(store, "rediss://", 9) == 0 ||
	    strncmp(store, "unix://", 7) == 0;
}

static void
check_loaded(const struct config *c)
{
	const struct token_params *p = &c->params;
	char upper[1024];
	size_t i, j, len;

	if (c->ndomains == 0 || p->otp_digits < TOTP_MIN_DIGITS ||
	    p->otp_digits > TOTP_MAX_DIGITS || p->otp_interval == 0 ||
	    p->nonce_digits < TOKEN_MIN_NONCE ||
	    p->nonce_digits > TOKEN_MAX_NONCE || !store_named(c->replay.store)) {
		fprintf(stderr, "config_load accepted bad parameters\n");
		abort();
	}
	for (i = 0; i < c->ndomains; i++) {
		const struct config_domain *d = &c->domains[i];

		if (d->keys.current.otp == NULL ||
		    d->keys.current.sig == NULL ||
		    (d->keys.previous.otp == NULL) !=
		    (d->keys.previous.sig == NULL) ||
		    (d->keys.previous.otp != NULL) != (d->previous.line != 0)) {
			fprintf(stderr, "config_load: a domain without keys, "
			    "or half a previous pair\n");
			abort();
		}
		if (d->name == NULL)
			continue;
		len = strlen(d->name);
		if (len >= sizeof(upper))
			abort();
		for (j = 0; j < len; j++) {
			if (isupper((unsigned char)d->name[j]))
				abort();
			upper[j] = (char)toupper((unsigned char)d->name[j]);
		}
		if (config_keys(c, upper, len) != &d->keys ||
		    config_keys(c, d->name, len) != &d->keys) {
			fprintf(stderr, "config_keys does not find [%s]\n",
			    d->name);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err[CONFIG_ERR_LEN], err2[CONFIG_ERR_LEN];
	struct config cfg, cfg2;
	uint8_t *copy;
	size_t plen;
	int rc, rc2;

	if (dir[0] == '\0')
		setup();
	plen = strlen(path);

	write_file(data, size);
	err[0] = '\0';
	rc = config_load(path, &cfg, err);
	if (rc == 0) {
		check_loaded(&cfg);
		config_free(&cfg);
	} else if (strncmp(err, path, plen) != 0 || err[plen] != ':' ||
	    strlen(err) <= plen + 2) {
		fprintf(stderr, "error message without the file's name: "
		    "%s\n", err);
		abort();
	}

	if ((copy = malloc(size + 1)) == NULL)
		abort();
	if (disguise(data, size, copy) > 0) {
		write_file(copy, size);
		err2[0] = '\0';
		rc2 = config_load(path, &cfg2, err2);
		if (rc2 == 0)
			config_free(&cfg2);
		if (rc2 != rc || (rc != 0 && strcmp(err, err2) != 0)) {
			fprintf(stderr, "the outcome depends on the secrets' "
			    "letters:\n  %s\n  %s\n", rc ? err : "loaded",
			    rc2 ? err2 : "loaded");
			abort();
		}
	}
	free(copy);
	return 0;
}
