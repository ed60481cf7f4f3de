/* HMAC-SHA256 against RFC 4231, through our keyed, reused contexts. */
#include <stdio.h>

#include "mac.h"
#include "unit.h"

static void
hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void
expect(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
    const char *want)
{
	struct mac *m = mac_new("SHA256", key, keylen);
	const uint8_t *msg[1] = { data };
	const size_t lens[1] = { len };
	uint8_t out[MAC_MAX_LEN];
	char got[2 * MAC_MAX_LEN + 1];
	int round;

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(mac_len(m), 32);
	/* Twice: the second run reuses the key schedule. */
	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(mac_compute(m, msg, lens, 1, out), 0);
		hex(out, 32, got);
		ck_assert_str_eq(got, want);
	}
	mac_free(m);
}

START_TEST(rfc4231)
{
	uint8_t k[131], d[50];
	size_t i;

	memset(k, 0x0b, 20);
	expect(k, 20, (const uint8_t *)"Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	expect((const uint8_t *)"Jefe", 4,
	    (const uint8_t *)"what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k, 0xaa, 20);
	memset(d, 0xdd, 50);
	expect(k, 20, d, 50,
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	for (i = 0; i < 25; i++)
		k[i] = (uint8_t)(i + 1);
	memset(d, 0xcd, 50);
	expect(k, 25, d, 50,
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	memset(k, 0xaa, 131);
	expect(k, 131,
	    (const uint8_t *)"Test Using Larger Than Block-Size Key - Hash Key "
			     "First",
	    54,
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	expect(k, 131,
	    (const uint8_t *)"This is a test using a larger than block-size key "
			     "and a larger than block-size data. The key needs "
			     "to be hashed before being used by the HMAC "
			     "algorithm.",
	    152,
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

START_TEST(message_in_parts_equals_whole)
{
	struct mac *m = mac_new("SHA256", (const uint8_t *)"Jefe", 4);
	const uint8_t *parts[3] = { (const uint8_t *)"what do ya ",
		(const uint8_t *)"want for ", (const uint8_t *)"nothing?" };
	const size_t lens[3] = { 11, 9, 8 };
	uint8_t out[MAC_MAX_LEN];
	char got[2 * MAC_MAX_LEN + 1];

	ck_assert_int_eq(mac_compute(m, parts, lens, 3, out), 0);
	hex(out, 32, got);
	ck_assert_str_eq(got,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	mac_free(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mac");
	TCase *tc = tcase_create("hmac-sha256");

	ADD(tc, rfc4231);
	ADD(tc, message_in_parts_equals_whole);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
