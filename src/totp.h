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

#endif
