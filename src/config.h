/*
 * The configuration file: token parameters, the replay store, and the
 * secrets of the global section and of each [domain] section. Loading it
 * checks its owner and mode, and every error names the file and the line.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <sys/stat.h>

#include <limits.h>
#include <stddef.h>

#include "format.h"
#include "jwt.h"
#include "replay.h"
#include "token.h"

#define CONFIG_DEFAULT_PATH	    "/etc/prosody/token-auth.conf"
#define CONFIG_ENV		    "PROSODY_TOKEN_AUTH_CONFIG"
#define CONFIG_GLOBAL_SECTION	    "prosody.cfg.lua"
#define CONFIG_ERR_LEN		    (PATH_MAX + 256)

/*
 * A secret's fingerprint: the first 16 hex digits of HMAC-SHA256 keyed with
 * the secret as written, of "prosody-token-auth fingerprint". Anyone with
 * the secret can compute it (doc/test-vectors.md); it tells nothing of it.
 */
#define CONFIG_FINGERPRINT_LEN 16

/* Longest a rotation's overlap may be, from the time the file is read. */
#define CONFIG_MAX_OVERLAP (30 * 86400)

/* What people may see of a pair of secrets. */
struct config_pair_info {
	int line; /* its otp_seed's; 0 if the pair is not there */
	char seed_fingerprint[CONFIG_FINGERPRINT_LEN + 1];
	char secret_fingerprint[CONFIG_FINGERPRINT_LEN + 1];
};

/*
 * Who exists for the server (isuser): any user of the domain, or only
 * those who logged in with a valid token within the last days.
 */
#define CONFIG_SEEN_DAYS     400
#define CONFIG_SEEN_DAYS_MAX 3650
struct config_isuser {
	int seen;      /* isuser = seen */
	unsigned days; /* isuser_seen_days */
};

struct config_domain {
	char *name; /* lower case; NULL for the global section */
	int line;   /* where its section starts */
	struct token_keys keys;
	struct config_pair_info current, previous;
	struct jwt_domain jwt;	     /* jwt_keys and the rest, if set */
	struct format_keys formats;  /* what it accepts, format by format */
	struct config_isuser isuser; /* its own, or else the global one */
};

/* How to let the helper lock its secrets in memory. */
#define CONFIG_LOCK_ADVICE						      \
	"grant the helper CAP_IPC_LOCK or raise its RLIMIT_MEMLOCK (a few "  \
	"pages: LimitMEMLOCK= in a systemd unit, --capability=CAP_IPC_LOCK " \
	"for systemd-nspawn)"

/* What tells the file a config was read from from another. */
struct config_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct config {
	char path[PATH_MAX];
	struct config_stamp stamp; /* of the file as it was read */
	struct token_params params;
	struct replay_settings replay;
	int lock_required;	/* lock_memory = required */
	/*
	 * store_secret: the replay store's own key, which its keys are
	 * HMAC-SHA256 under (token.h), and what tells it from another; NULL
	 * and 0 without one (the keys are then plain SHA-256, as in 2.0).
	 */
	struct mac *store_key;
	uint64_t store_key_id;
	/*
	 * How long after its time step's end this config accepts a token of
	 * any of its formats (otp_window steps, a domain's jwt_leeway): the
	 * keep of its replay entries (replay.h).
	 */
	time_t store_keep;
	/*
	 * The longest a token accepted now lives under this config, from its
	 * step's start: a collective.converse token's whole window, a JWT's
	 * jwt_max_lifetime and leeway (replay.h's struct replay_time).
	 */
	time_t store_lifetime;
	int store_secret_line;
	char store_fingerprint[CONFIG_FINGERPRINT_LEN + 1];
	struct config_domain *domains;
	size_t ndomains;
	struct config_isuser isuser; /* as written above the sections */
};

/*
 * Loads path. Returns 0, or -1 with a message ("FILE:LINE: what, and how to
 * fix it") in err; nothing is kept on failure and no secret is left behind.
 */
int config_load(const char *path, struct config *, char err[CONFIG_ERR_LEN]);

/*
 * The stamp of the files of config c now: its file and its JWK Sets (c's
 * stamp is theirs as they were read). Returns 0, or -1 with errno if the
 * config file cannot be looked at. Equal stamps: the same files, unchanged
 * (as far as a stat can tell).
 */
int config_stamp(const struct config *c, struct config_stamp *);
int config_stamp_equal(const struct config_stamp *,
    const struct config_stamp *);

/*
 * Whether key (len bytes, as a line of the file has it) is the key name or
 * one of its other spellings (prosody_otp_seed is otp_seed).
 */
int config_key_is(const char *key, size_t len, const char *name);

/*
 * What a domain (case-insensitive) accepts: its section's, the global
 * section's, or NULL.
 */
const struct format_keys *config_formats(const struct config *,
    const char *domain, size_t len);

/* The collective.converse keys config_formats finds, or NULL. */
const struct token_keys *config_keys(const struct config *,
    const char *domain, size_t len);

/*
 * Who exists at a domain (case-insensitive), found as config_formats
 * finds what it accepts, or NULL where config_formats finds nothing.
 */
const struct config_isuser *config_isuser(const struct config *,
    const char *domain, size_t len);

/*
 * If the secrets could not be locked in memory (allowed unless lock_memory
 * = required): one line for people saying what is missing and how to grant
 * it; else NULL.
 */
const char *config_lock_warning(void);

/* Frees everything config_load made, wiping the key schedules. */
void config_free(struct config *);

#endif
