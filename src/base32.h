/*
 * RFC 4648 base32, as pyotp writes TOTP seeds: letters A-Z (either case) and
 * digits 2-7, '=' padding optional.
 */
#ifndef BASE32_H
#define BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to decode len characters. */
#define BASE32_DECODED_MAX(len) ((len) * 5 / 8)

/*
 * Decodes in[0..len) into out (room for BASE32_DECODED_MAX(len) bytes).
 * Returns the number of bytes, or -1 if a character is not base32 or the
 * length cannot be the encoding of whole bytes.
 */
int base32_decode(const char *in, size_t len, uint8_t *out);

/* Characters base32_encode writes for len bytes, without the NUL. */
#define BASE32_ENCODED_LEN(len) (((len) * 8 + 4) / 5)

/* Encodes len bytes without padding, then a NUL. */
void base32_encode(const uint8_t *in, size_t len, char *out);

#endif
