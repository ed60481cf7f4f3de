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

#define REPLAY_KEY_LEN	32  /* a nonce's key: SHA-256(nonce, JID) */
#define REPLAY_USER_LEN 16  /* a JID's key, to count its live nonces */
#define REPLAY_ERR_LEN	320
#define REPLAY_SETTING_MAX 1024
#define REPLAY_PASSWORD_MAX 512 /* a Redis password */

/* What the config says about the store. */
struct replay_settings {
	/* A directory, or a Redis URL as it may be shown: its password is in
	 * redis_password and shows here as ***, so that store can be printed
	 * and logged anywhere (replay_store_value_set sets both). */
	char store[PATH_MAX];
	char redis_password[REPLAY_PASSWORD_MAX + 1];
	size_t capacity;	 /* live nonces at most (LMDB) */
	unsigned per_user;	 /* live nonces one JID may hold */
	unsigned redis_timeout_ms; /* connect, or one batch's round trip */
	unsigned redis_wait_replicas;
	char redis_prefix[64];
	char redis_sentinels[REPLAY_SETTING_MAX]; /* host:port,host:port */
	char redis_master[256];
};

/* A nonce to record: its key, and its JID's. */
struct replay_entry {
	uint8_t key[REPLAY_KEY_LEN];
	uint8_t user[REPLAY_USER_LEN];
};

/* When the entries are recorded, and until when they must be kept. */
struct replay_time {
	time_t now;
	time_t expiry;
};

enum replay_result {
	REPLAY_FRESH,	  /* not seen before: now recorded */
	REPLAY_SEEN,	  /* recorded before: a replay */
	REPLAY_USER_FULL, /* its JID holds per_user live nonces already */
	REPLAY_FULL,	  /* no room (what is left is kept for other JIDs) */
	REPLAY_ERROR,	  /* could not be recorded: refuse */
};

enum replay_access {
	REPLAY_WRITE, /* made if need be (LMDB: the directory, mode 0700) */
	REPLAY_READ   /* looked into only: nothing is made or changed */
};

struct replay;

/*
 * Whether value names a store: an absolute directory, or a URL of a form
 * the store understands. Returns 0, or -1 with why in why (never quoting a
 * password).
 */
int replay_store_value_check(const char *value, char why[REPLAY_ERR_LEN]);

/*
 * Sets s->store (and s->redis_password) from the config's value, checked
 * as replay_store_value_check does. Returns 0, or -1 with why.
 */
int replay_store_value_set(struct replay_settings *s, const char *value,
    char why[REPLAY_ERR_LEN]);

/* Whether the settings name a Redis store (else LMDB). */
int replay_is_redis(const struct replay_settings *);

/*
 * Whether the store's settings agree with each other (a Redis URL without
 * a host needs sentinels, sentinels need a TCP URL without a host, the
 * sentinels' list must parse). Returns 0; or, with why, -1 if replay_store
 * is to blame, -2 if replay_redis_sentinels is.
 */
int replay_settings_agree(const struct replay_settings *,
    char why[REPLAY_ERR_LEN]);

/*
 * Whether the store's place is safe (LMDB: a directory, or its parent if
 * it is not made yet, owned by root or by us, writable by nobody else, not
 * a symbolic link: otherwise another user could move the store away and
 * replay). Returns 0, or -1 with why and how to fix it in err.
 */
int replay_check_place(const struct replay_settings *,
    char err[REPLAY_ERR_LEN]);

/*
 * Opens the store. NULL with why in err; a Redis store that cannot be
 * reached is not an error here: it is tried again when needed.
 */
struct replay *replay_open(const struct replay_settings *, enum replay_access,
    char err[REPLAY_ERR_LEN]);
void replay_close(struct replay *);

/*
 * Records n entries at once (one transaction, or one round trip), purging
 * what has expired. results[i] says what became of entries[i]; an entry
 * given twice is seen the second time; across everything sharing the
 * store, exactly one caller gets REPLAY_FRESH for a key. Returns 0, or -1
 * if some entry is REPLAY_FULL or REPLAY_ERROR, with why in err.
 */
int replay_record(struct replay *, const struct replay_entry entries[],
    size_t n, const struct replay_time *, enum replay_result results[],
    char err[REPLAY_ERR_LEN]);

/* Whether an entry is recorded (REPLAY_SEEN), without recording it. */
enum replay_result replay_lookup(struct replay *, const struct replay_entry *,
    const struct replay_time *, char err[REPLAY_ERR_LEN]);

/*
 * For people (check-config): prints to stdout, a line each, what the store
 * is and whether it can be used by this process, with warnings and how to
 * fix each problem. Returns the number of problems found.
 */
int replay_describe(const struct replay_settings *);

/*
 * Forgets the store's memory of the clock (reset-store): after a clock that
 * ran ahead was corrected, logins are refused for up to one token lifetime;
 * this ends that at once. What it did, or why not, goes to msg. Returns 0
 * when done, 1 when there is nothing to do (Redis keeps no such memory: it
 * expires entries by its own clock), -1 on failure.
 */
int replay_reset_clock(const struct replay_settings *, time_t now,
    char msg[REPLAY_ERR_LEN]);

#endif
