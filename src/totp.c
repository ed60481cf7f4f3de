/*
 * Security rules for this file:
 * 1. The HMAC output is secret: no branch and no memory index may depend on
 *    it, so the RFC 4226 dynamic truncation selects its four bytes with masks
 *    over every possible offset instead of indexing by the offset.
 * 2. Every intermediate holding a secret is wiped before returning.
 * 3. The codes a window keeps are secrets too: in locked memory, wiped
 *    when it is freed or when computing them failed. Whether they are
 *    computed again depends on the time step alone, never on a token.
 */
#include <string.h>

#include "secmem.h"
#include "totp.h"

uint64_t
totp_step(time_t t, unsigned interval)
{
	/* Floor division, so that times before 1970 still step downwards. */
	if (t < 0)
		return (uint64_t)((t - (time_t)interval + 1) / (time_t)interval);
	return (uint64_t)t / interval;
}

/* All ones if a == b, else zero; no branch. */
static uint32_t
mask_equal(uint32_t a, uint32_t b)
{
	uint32_t d = a ^ b;

	return (uint32_t)(((uint64_t)d - 1) >> 32);
}

/* RFC 4226 section 5.3, reading h[off..off+3] for the secret off. */
static uint32_t
dynamic_truncate(const uint8_t h[20])
{
	uint32_t off = h[19] & 0xf, v = 0, word, i;

	for (i = 0; i < 16; i++) {
		word = (uint32_t)h[i] << 24 | (uint32_t)h[i + 1] << 16 |
		    (uint32_t)h[i + 2] << 8 | h[i + 3];
		v |= word & mask_equal(i, off);
	}
	return v & 0x7fffffff;
}

int
totp_code(struct mac *key, uint64_t step, unsigned digits, char *out)
{
	uint8_t counter[8], h[MAC_MAX_LEN];
	const uint8_t *msg[1] = { counter };
	const size_t len[1] = { sizeof(counter) };
	uint64_t v;
	unsigned i;
	int rc;

	for (i = 0; i < 8; i++)
		counter[i] = (uint8_t)(step >> (56 - 8 * i));
	rc = mac_compute(key, msg, len, 1, h);
	/* 10 digits cover every 31-bit value, so no modulus is needed there. */
	v = dynamic_truncate(h);
	for (i = digits; i > 0; i--) {
		out[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	explicit_bzero(&v, sizeof(v));
	explicit_bzero(h, sizeof(h));
	return rc;
}

struct totp_window {
	uint64_t first;
	unsigned count, digits; /* count 0: nothing kept */
	char codes[TOTP_MAX_WINDOW * TOTP_MAX_DIGITS];
};

struct totp_window *
totp_window_new(void)
{
	return secmem_alloc(sizeof(struct totp_window));
}

void
totp_window_free(struct totp_window *w)
{
	secmem_free(w, sizeof(*w));
}

const char *
totp_window_codes(struct totp_window *w, struct mac *key, uint64_t first,
    unsigned count, unsigned digits)
{
	unsigned i;
	int failed = 0;

	if (count > TOTP_MAX_WINDOW)
		return NULL;
	if (w->count == count && w->first == first && w->digits == digits)
		return w->codes;
	for (i = 0; i < count; i++)
		failed |= totp_code(key, first + i, digits,
		    w->codes + (size_t)i * digits) != 0;
	if (failed) {
		explicit_bzero(w, sizeof(*w));
		return NULL;
	}
	w->first = first;
	w->count = count;
	w->digits = digits;
	return w->codes;
}
