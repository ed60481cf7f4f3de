/*
 * Inside the replay store: what a kind of store is, for replay.c to choose
 * by replay_store and dispatch to. Each kind lives in one file and is one
 * struct replay_backend, listed in replay.c's table; it owns everything
 * about itself: the values that name it, its keys of the config, its
 * settings, its files or connections, what check-config says of it, what
 * reset-store does to it and what it needs of the sandbox. Users of the
 * store include replay.h only.
 */
#ifndef REPLAY_STORE_H
#define REPLAY_STORE_H

#include "replay.h"

struct replay_backend {
	/* Words for messages about the config. */
	const char *name; /* "LMDB" */
	const char *word; /* "lmdb": the kind in the log's store= */
	const char *form; /* the values that name it, as an error lists them */
	const char *noun; /* the same, short: "an absolute directory path" */
	const char *kind; /* replay_store when it names it: "a directory (LMDB)" */
	const char *what; /* what its keys apply to: "an LMDB store" */
	const char *how;  /* how to name it: "set replay_store = /DIRECTORY" */
	const char *const *keys; /* its own keys of the config; NULL ends */
	unsigned sandbox;	 /* REPLAY_SANDBOX_*, whatever the settings */
	/* What else these settings need of it (NULL: nothing). */
	unsigned (*sandbox_needs)(const struct replay_settings *);

	/*
	 * The config. names: whether replay_store's value names this kind.
	 * set_store: fills s->store and the defaults of s->own (zeroed) from
	 * that value. set: one of its keys (a value not NUL-terminated).
	 * misplaced: why a key of another kind means nothing here, if it has
	 * more to say than that it belongs to the other (NULL, or -1: no).
	 * check: its settings against each other once every line is read,
	 * with the key to blame (replay_store or one of its own); NULL if
	 * they cannot disagree.
	 * shown: what one of its keys is set to, never a password.
	 * Each returns 0, or -1 with why.
	 */
	int (*names)(const char *value);
	int (*set_store)(struct replay_settings *s, const char *value,
	    char why[REPLAY_ERR_LEN]);
	int (*set)(struct replay_settings *s, const char *key,
	    const char *value, size_t len, char why[REPLAY_ERR_LEN]);
	int (*misplaced)(const char *key, char why[REPLAY_ERR_LEN]);
	int (*check)(const struct replay_settings *s, const char **blame,
	    char why[REPLAY_ERR_LEN]);
	int (*shown)(const struct replay_settings *s, const char *key,
	    char *out, size_t size);

	/* The store: as replay.h says of replay_check_place, replay_open
	 * (old: NULL, or a store of this kind to take over), replay_record,
	 * replay_lookup, replay_close, replay_describe, replay_reset_clock. */
	int (*check_place)(const struct replay_settings *,
	    char err[REPLAY_ERR_LEN]);
	/* Whether replay_check_usable opens the store to try it. */
	int check_usable;
	struct replay *(*open)(const struct replay_settings *,
	    enum replay_access, struct replay *old, char err[REPLAY_ERR_LEN]);
	int (*record)(struct replay *, const struct replay_entry[], size_t,
	    const struct replay_time *, enum replay_result[],
	    char err[REPLAY_ERR_LEN]);
	enum replay_result (*lookup)(struct replay *,
	    const struct replay_entry *, const struct replay_time *,
	    char err[REPLAY_ERR_LEN]);
	/* replay_seen; and marking the JIDs of the entries recorded fresh
	 * seen, after record, for a store that does not do it in record
	 * (NULL: it does): 0, or -1 with err. */
	enum replay_result (*seen)(struct replay *,
	    const uint8_t user[REPLAY_USER_LEN], time_t now,
	    char err[REPLAY_ERR_LEN]);
	int (*mark_seen)(struct replay *, const struct replay_entry[],
	    const enum replay_result[], size_t, time_t now,
	    char err[REPLAY_ERR_LEN]);
	void (*close)(struct replay *);
	int (*describe)(const struct replay_settings *);
	int (*reset)(const struct replay_settings *, time_t now,
	    char msg[REPLAY_ERR_LEN]);
};

/* Every store's own struct begins with this. */
struct replay {
	const struct replay_backend *backend;
};

/* The kinds of store (replay.c's table lists them, the default first). */
extern const struct replay_backend replay_lmdb;	 /* replay_lmdb.c */
extern const struct replay_backend replay_redis; /* replay_redis.c */

#endif
