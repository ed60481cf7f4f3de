/*
 * TOTP (RFC 6238) over HMAC-SHA1, as pyotp computes it. No I/O, no clock:
 * the caller passes the time step.
 */
#ifndef TOTP_H
#define TOTP_H

#include <stdint.h>
#include <time.h>

#include "mac.h"

#define TOTP_MIN_DIGITS 6
#define TOTP_MAX_DIGITS 10

/* The time step of a moment: floor(t / interval). */
uint64_t totp_step(time_t t, unsigned interval);

/*
 * Writes the code for counter step as exactly digits ASCII digits (no NUL)
 * into out, in constant time. key is an HMAC-SHA1 context holding the seed.
 * Returns 0, or -1 if the library failed.
 */
int totp_code(struct mac *key, uint64_t step, unsigned digits, char *out);

/*
 * The codes of a window of steps, which are the same for every token of a
 * time step: computed once per step (and per key), kept in locked memory
 * that is wiped when the window is freed. One window belongs to one key.
 */
#define TOTP_MAX_WINDOW 21 /* steps: 10 either side of now, and now */

struct totp_window;

/* A window in locked memory, or NULL with errno. */
struct totp_window *totp_window_new(void);

/* Wipes and frees it; NULL is allowed. */
void totp_window_free(struct totp_window *);

/*
 * The codes of steps first .. first + count - 1 under key, digits each,
 * one after another: kept from the last call when it asked for the same
 * steps and digits, else computed now, all of them (which is public: it
 * depends on the time only). NULL if count is more than TOTP_MAX_WINDOW
 * or the library failed.
 */
const char *totp_window_codes(struct totp_window *, struct mac *key,
    uint64_t first, unsigned count, unsigned digits);

#endif
