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

/*
 * When a record is made (now) and until when it is kept (expiry). Expiries
 * are whole multiples of step seconds, so a key recorded earlier and still
 * kept is under one of the few expiries between now and this one; or, if
 * the clock was set back, under a later one, up to one lifetime (expiry -
 * now) later: a token accepted while the clock read later still than that
 * cannot be valid now.
 */
struct replay_time {
	time_t now;
	time_t expiry;
	unsigned step;
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
 * Records n keys in one transaction, which also purges entries expired at
 * now. results[i] is REPLAY_FRESH or REPLAY_SEEN for keys[i] (a key given
 * twice is seen the second time); across all processes, exactly one caller
 * gets REPLAY_FRESH for a key. A key that cannot be recorded gets
 * REPLAY_ERROR (when the store is nearly full, those beyond its capacity);
 * then -1 is returned and err says why, otherwise 0.
 */
int replay_record(struct replay *, const uint8_t keys[][REPLAY_KEY_LEN],
    size_t n, const struct replay_time *,
    enum replay_result results[], char err[REPLAY_ERR_LEN]);

/* Looks key up without recording it. */
enum replay_result replay_lookup(struct replay *,
    const uint8_t key[REPLAY_KEY_LEN],
    const struct replay_time *,
    char err[REPLAY_ERR_LEN]);

/* The map size used for a capacity, in bytes. */
size_t replay_map_size(size_t capacity);

#endif
