/*
 * The configuration file: token parameters, the replay store, and the
 * secrets of the global section and of each [domain] section. Loading it
 * checks its owner and mode, and every error names the file and the line.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "token.h"

#define CONFIG_DEFAULT_PATH	    "/etc/prosody/token-auth.conf"
#define CONFIG_ENV		    "PROSODY_TOKEN_AUTH_CONFIG"
#define CONFIG_DEFAULT_REPLAY_STORE "/var/lib/prosody-token-auth/replay"
#define CONFIG_DEFAULT_CAPACITY	    100000
#define CONFIG_GLOBAL_SECTION	    "prosody.cfg.lua"
#define CONFIG_ERR_LEN		    (PATH_MAX + 256)

struct config_domain {
	char *name; /* lower case; NULL for the global section */
	int line;   /* where its section starts */
	struct token_keys keys;
};

struct config {
	char path[PATH_MAX];
	struct token_params params;
	char replay_store[PATH_MAX];
	size_t replay_capacity; /* nonces the store holds at most */
	struct config_domain *domains;
	size_t ndomains;
};

/*
 * Loads path. Returns 0, or -1 with a message ("FILE:LINE: what, and how to
 * fix it") in err; nothing is kept on failure and no secret is left behind.
 */
int config_load(const char *path, struct config *, char err[CONFIG_ERR_LEN]);

/* The keys for a domain (case-insensitive), the global ones, or NULL. */
const struct token_keys *config_keys(const struct config *,
    const char *domain, size_t len);

/* Frees everything config_load made, wiping the key schedules. */
void config_free(struct config *);

#endif
