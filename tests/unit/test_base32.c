#include "base32.h"
#include "unit.h"

static void
expect_decode(const char *in, const char *out)
{
	uint8_t buf[64];
	int n = base32_decode(in, strlen(in), buf);

	ck_assert_int_eq(n, (int)strlen(out));
	ck_assert_mem_eq(buf, out, strlen(out));
}

START_TEST(rfc4648_vectors)
{
	expect_decode("", "");
	expect_decode("MY======", "f");
	expect_decode("MZXQ====", "fo");
	expect_decode("MZXW6===", "foo");
	expect_decode("MZXW6YQ=", "foob");
	expect_decode("MZXW6YTB", "fooba");
	expect_decode("MZXW6YTBOI======", "foobar");
}
END_TEST

START_TEST(lower_case_and_no_padding)
{
	expect_decode("mzxw6ytboi", "foobar");
}
END_TEST

START_TEST(rejects_bad_characters_and_lengths)
{
	uint8_t buf[64];

	ck_assert_int_eq(base32_decode("MZXW6YT1", 8, buf), -1);
	ck_assert_int_eq(base32_decode("MZXW6YT8", 8, buf), -1);
	ck_assert_int_eq(base32_decode("MZXW 6YT", 8, buf), -1);
	ck_assert_int_eq(base32_decode("M", 1, buf), -1);
	ck_assert_int_eq(base32_decode("MZX", 3, buf), -1);
	ck_assert_int_eq(base32_decode("MZXW6Y", 6, buf), -1);
}
END_TEST

START_TEST(encode_round_trip)
{
	uint8_t raw[20], back[20];
	char text[BASE32_ENCODED_LEN(20) + 1];
	int i;

	for (i = 0; i < 20; i++)
		raw[i] = (uint8_t)(i * 37 + 11);
	base32_encode(raw, 20, text);
	ck_assert_uint_eq(strlen(text), 32);
	ck_assert_int_eq(base32_decode(text, 32, back), 20);
	ck_assert_mem_eq(raw, back, 20);
	base32_encode((const uint8_t *)"foobar", 6, text);
	ck_assert_str_eq(text, "MZXW6YTBOI");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("base32");
	TCase *tc = tcase_create("base32");

	ADD(tc, rfc4648_vectors);
	ADD(tc, lower_case_and_no_padding);
	ADD(tc, rejects_bad_characters_and_lengths);
	ADD(tc, encode_round_trip);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
