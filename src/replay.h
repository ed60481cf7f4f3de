/*
 * The record of used nonces, shared by every helper process on the host:
 * an LMDB environment in a directory. Bounded in size, purged of entries that
 * can no longer be valid, and failing closed.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define REPLAY_KEY_LEN 32
#define REPLAY_ERR_LEN 256

enum replay_result {
	REPLAY_FRESH, /* not seen before: now recorded */
	REPLAY_SEEN,  /* recorded before: a replay */
	REPLAY_ERROR, /* could not be recorded: refuse */
};

struct replay;

/*
 * Opens (creating if needed, mode 0700) the store in dir, sized for capacity
 * live entries. Returns NULL with a message in err.
 */
struct replay *replay_open(const char *dir, size_t capacity,
    char err[REPLAY_ERR_LEN]);
void replay_close(struct replay *);

/*
 * Opens an existing store read-only, creating nothing (for the verify
 * subcommand, which may run as another user than the helper). Only
 * replay_lookup may be used on it.
 */
struct replay *replay_open_existing(const char *dir, char err[REPLAY_ERR_LEN]);

/*
 * Records key, valid until expiry, in one transaction that also purges
 * entries expired at now. Exactly one caller across all processes gets
 * REPLAY_FRESH for a key; REPLAY_ERROR comes with a message in err.
 */
enum replay_result replay_record(struct replay *,
    const uint8_t key[REPLAY_KEY_LEN], time_t expiry, time_t now,
    char err[REPLAY_ERR_LEN]);

/* Looks key up without recording it. */
enum replay_result replay_lookup(struct replay *,
    const uint8_t key[REPLAY_KEY_LEN], time_t now, char err[REPLAY_ERR_LEN]);

/* The map size used for a capacity, in bytes. */
size_t replay_map_size(size_t capacity);

#endif
