/*
 * The seed is a secret, so decoding uses arithmetic on each character rather
 * than a table indexed by it or a branch on its value.
 */
#include <string.h>

#include "base32.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* All ones if lo <= x <= hi, else zero. */
static unsigned
in_range(unsigned x, unsigned lo, unsigned hi)
{
	return (((x - lo) | (hi - x)) >> (sizeof(unsigned) * 8 - 1)) - 1;
}

/* The 5-bit value of c, or a value with bit 8 set if c is not base32. */
static unsigned
char_value(unsigned char c)
{
	unsigned upper = c & ~0x20U;
	unsigned is_letter = in_range(upper, 'A', 'Z');
	unsigned is_digit = in_range(c, '2', '7');

	return (is_letter & (upper - 'A')) | (is_digit & (c - '2' + 26)) |
	    (~(is_letter | is_digit) & 0x100);
}

int
base32_decode(const char *in, size_t len, uint8_t *out)
{
	unsigned bad = 0, acc = 0, bits = 0;
	size_t i, n = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	switch (len % 8) {
	case 1:
	case 3:
	case 6:
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned v = char_value((unsigned char)in[i]);

		bad |= v;
		acc = (acc << 5) | (v & 0x1f);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	explicit_bzero(&acc, sizeof(acc));
	if (bad & 0x100) {
		explicit_bzero(out, n);
		return -1;
	}
	return (int)n;
}

void
base32_encode(const uint8_t *in, size_t len, char *out)
{
	unsigned acc = 0, bits = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			*out++ = alphabet[(acc >> bits) & 0x1f];
		}
	}
	if (bits > 0)
		*out++ = alphabet[(acc << (5 - bits)) & 0x1f];
	*out = '\0';
	explicit_bzero(&acc, sizeof(acc));
}
