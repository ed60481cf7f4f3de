/*
 * The record of used nonces: what makes a token single use. One interface,
 * two stores, chosen by replay_store in the config:
 *
 *   an absolute path	an LMDB environment in that directory, shared by
 *			every helper on the host (the default);
 *   redis://, rediss://,	Redis or Valkey, shared by every helper of every
 *   unix://		XMPP server that uses it.
 *
 * Both keep the same promises: a nonce is accepted once for its JID across
 * everything that shares the store, whatever the config was when it was
 * recorded; its record lasts until its token can no longer pass the OTP
 * check; no JID holds more than per_user live records; and whatever cannot
 * be recorded is REPLAY_ERROR, so that its token is refused.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define REPLAY_KEY_LEN	32  /* a nonce's key: HMAC-SHA256(nonce, JID) */
#define REPLAY_USER_LEN 16  /* a JID's key, to count its live nonces */
#define REPLAY_ERR_LEN	320
#define REPLAY_OWN_MAX	4096 /* room for a store's own settings */
#define REPLAY_DEFAULT_STORE	"/var/lib/prosody-token-auth/replay"
#define REPLAY_DEFAULT_PER_USER 30

struct replay_backend;

/* What the config says about the store. */
struct replay_settings {
	const struct replay_backend *backend; /* the kind replay_store names */
	/* replay_store as it may be shown and logged anywhere: a password
	 * in it shows as ***. */
	char store[PATH_MAX];
	unsigned per_user; /* live nonces one JID may hold */
	/* The store's own keys, made and read by the store alone (and
	 * wiped: they may hold a password). Plain bytes, so that settings
	 * compare with memcmp. */
	union {
		max_align_t align;
		unsigned char bytes[REPLAY_OWN_MAX];
	} own;
};

/* One line of the config that belongs to the store: key = value. */
struct replay_line {
	const char *key;   /* its name, as replay_key gives it */
	const char *value; /* not NUL-terminated */
	size_t len;
	int line;
};

/*
 * A nonce to record: its key, its JID's, the end of its token's time step
 * (a collective.converse OTP's step; a JWT's exp), which the store's
 * high-water mark is kept in (0: not known, then taken as the batch's now
 * when checked, and as its expiry when purged), for how long after that
 * the config recording it still accepts a token (the longest of its
 * formats': otp_window steps of otp_interval seconds, jwt_leeway), and
 * what its keys were made with (0: plain SHA-256; else the id of
 * store_secret): the same for every entry of a batch. seen_days: for a
 * JID whose domain has isuser = seen, for how many days from the day it is
 * recorded its JID is known to have logged in (replay_seen); 0 for the
 * others.
 */
struct replay_entry {
	uint8_t key[REPLAY_KEY_LEN];
	uint8_t user[REPLAY_USER_LEN];
	time_t step_end;
	time_t keep;
	uint64_t key_id;
	unsigned seen_days;
};

/*
 * How far after now the step of a token accepted now may end: a JWT's exp
 * may be jwt_max_lifetime (a day at most) and its leeway ahead. A store
 * takes a step end beyond it as not known.
 */
#define REPLAY_MAX_AHEAD (25 * 3600)

/*
 * When the entries are recorded, until when they must at least be kept, and
 * the longest any token lives under the config that recorded them (from the
 * start of its step to the end of the window: 0 if not known), which a
 * shared store keeps them for whatever the time in the step.
 */
struct replay_time {
	time_t now;
	time_t expiry;
	time_t lifetime;
};

enum replay_result {
	REPLAY_FRESH,	  /* not seen before: now recorded */
	REPLAY_SEEN,	  /* recorded before: a replay */
	REPLAY_USER_FULL, /* its JID holds per_user live nonces already */
	REPLAY_FULL,	  /* no room (what is left is kept for other JIDs) */
	REPLAY_BEHIND_MARK, /* its step ends at or before the mark: whether it
			     * was used may be forgotten (a clock set back, or
			     * the store's keys changed): refuse */
	REPLAY_ERROR,	  /* could not be recorded: refuse */
};

enum replay_access {
	REPLAY_WRITE, /* made if need be (LMDB: the directory, mode 0700) */
	REPLAY_READ   /* looked into only: nothing is made or changed */
};

struct replay;

/*
 * The keys of the config that belong to the store: replay_store,
 * replay_per_user, and each kind of store's own; the i-th, or NULL past
 * the last.
 */
const char *replay_key(size_t i);

/*
 * Sets s from the store's lines of the config, in any order, each key at
 * most once (the caller sees to that); what is not given takes its
 * default. Every line is checked against the store replay_store names,
 * and the store's keys against each other. Returns 0, or -1 with why (never
 * quoting a value) and the line to blame in *line (0: none).
 */
int replay_settings_load(struct replay_settings *s,
    const struct replay_line lines[], size_t n, int *line,
    char why[REPLAY_ERR_LEN]);

/* Wipes the settings (they may hold a password). */
void replay_settings_wipe(struct replay_settings *s);

/*
 * What key is set to, as it may be shown (a password never is). Returns
 * 0, or -1 if the store the settings name has no such key.
 */
int replay_setting_shown(const struct replay_settings *s, const char *key,
    char *out, size_t size);

/* The store's kind in one word ("lmdb", "redis"), as the log names it. */
const char *replay_kind(const struct replay_settings *);

/* What the store needs of the sandbox after start-up. */
#define REPLAY_SANDBOX_DIRECTORY 1 /* to read and write beneath replay_store */
#define REPLAY_SANDBOX_INET	 2 /* TCP sockets (AF_INET, AF_INET6) */
#define REPLAY_SANDBOX_RESOLVE	 4 /* host names resolved again: the
				    * resolver's files, UDP, netlink */
unsigned replay_sandbox_needs(const struct replay_settings *);

/*
 * Whether the store's place is safe (LMDB: a directory, or its parent if
 * it is not made yet, owned by root or by us, writable by nobody else, not
 * a symbolic link: otherwise another user could move the store away and
 * replay). Returns 0, or -1 with why and how to fix it in err.
 */
int replay_check_place(const struct replay_settings *,
    char err[REPLAY_ERR_LEN]);

/*
 * Whether this user can record in the store, for a start that must fail
 * loudly rather than refuse every login (serve, as its helpers' user).
 * LMDB: the store is opened for writing, so made if need be, and closed.
 * Redis: nothing is checked (it is reached at logins, and may move).
 * Returns 0, or -1 with why in err.
 */
int replay_check_usable(const struct replay_settings *,
    char err[REPLAY_ERR_LEN]);

/*
 * Opens the store. NULL with why in err; a Redis store that cannot be
 * reached is not an error here: it is tried again when needed.
 */
struct replay *replay_open(const struct replay_settings *, enum replay_access,
    char err[REPLAY_ERR_LEN]);

/*
 * Opens the store anew, in place of old (NULL, or closed here whatever
 * happens), taking over what of old it can use rather than making it
 * again: a Redis store's connection, with its back-off and its resolved
 * addresses, when both go to the same server the same way. Otherwise as
 * replay_open.
 */
struct replay *replay_reopen(struct replay *old, const struct replay_settings *,
    enum replay_access, char err[REPLAY_ERR_LEN]);
void replay_close(struct replay *);

/*
 * Records n entries at once (one transaction, or one round trip), purging
 * what has expired. results[i] says what became of entries[i]; an entry
 * given twice is seen the second time; across everything sharing the
 * store, exactly one caller gets REPLAY_FRESH for a key. An entry
 * recorded REPLAY_FRESH with seen_days marks its JID seen until the end of
 * the day seen_days days from now's (written at most once a day for a
 * JID): in the same transaction on LMDB, after the batch on Redis. Returns
 * 0, or -1 if some entry is REPLAY_FULL or REPLAY_ERROR, or a JID could not
 * be marked seen (its login stands), with why in err.
 */
int replay_record(struct replay *, const struct replay_entry entries[],
    size_t n, const struct replay_time *, enum replay_result results[],
    char err[REPLAY_ERR_LEN]);

/* Whether an entry is recorded (REPLAY_SEEN), without recording it. */
enum replay_result replay_lookup(struct replay *, const struct replay_entry *,
    const struct replay_time *, char err[REPLAY_ERR_LEN]);

/* Days since the epoch, UTC: what a JID's seen mark counts in. */
#define REPLAY_DAY(t) ((uint64_t)(t) / 86400)

/*
 * Whether the JID whose key (as an entry's user) is user is marked seen
 * at now: REPLAY_SEEN, or REPLAY_FRESH if not (never, or longer ago than
 * its domain keeps it); REPLAY_ERROR with why in err if the store cannot
 * tell.
 */
enum replay_result replay_seen(struct replay *,
    const uint8_t user[REPLAY_USER_LEN], time_t now, char err[REPLAY_ERR_LEN]);

/*
 * For people (check-config): prints to stdout, a line each, what the store
 * is and whether it can be used by this process, with warnings and how to
 * fix each problem. Returns the number of problems found.
 */
int replay_describe(const struct replay_settings *);

/*
 * Forgets the store's memory of the clock (reset-store): after a clock that
 * ran ahead was corrected, the tokens of the time steps it purged are
 * refused until the clock passes them again; this ends that at once. What it did, or why not, goes to msg. Returns 0
 * when done, 1 when there is nothing to do (Redis keeps no such memory: it
 * expires entries by its own clock), -1 on failure.
 */
int replay_reset_clock(const struct replay_settings *, time_t now,
    char msg[REPLAY_ERR_LEN]);

#endif
