/*
 * New secrets, from the kernel's random generator: printed for a new
 * installation (gen-secrets), or written into the config file in place of
 * the current pair, which becomes the previous pair for an overlap while the
 * web application's nodes are given the new one (rotate-secrets).
 */
#ifndef SECRETS_H
#define SECRETS_H

#include <stddef.h>
#include <time.h>

#include "config.h"

#define SECRETS_BYTES	 20 /* each: 32 base32 characters, as pyotp makes */
#define SECRETS_TEXT_LEN 32
#define SECRETS_ERR_LEN	 (PATH_MAX + 256)

struct secrets_pair {
	char seed[SECRETS_TEXT_LEN + 1];
	char secret[SECRETS_TEXT_LEN + 1];
};

/* Fills buf from getrandom(2). Returns 0, or -1 with errno. */
int secrets_random(void *buf, size_t len);

/* A new pair, in base32. Returns 0, or -1 with errno. */
int secrets_new(struct secrets_pair *);

/*
 * Rewrites the config file path: in the section of domain (NULL: the
 * global one), the current pair becomes the previous pair, accepted until
 * until, and fresh is the current pair. The file keeps its comments, order,
 * owner, group and mode; it is replaced atomically (a file written beside
 * it, flushed, renamed), and only once it loads. A previous pair still in
 * force at now is not dropped unless force. Returns 0, or -1 with why in
 * err.
 */
int secrets_rotate(const char *path, const char *domain,
    const struct secrets_pair *fresh, time_t now, time_t until, int force,
    char err[SECRETS_ERR_LEN]);

#endif
