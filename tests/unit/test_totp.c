/* TOTP against RFC 6238 Appendix B (SHA-1, 8 digits). */
#include "totp.h"
#include "unit.h"

static const struct {
	time_t t;
	const char *code;
} rfc6238[] = {
	{ 59, "94287082" },
	{ 1111111109, "07081804" },
	{ 1111111111, "14050471" },
	{ 1234567890, "89005924" },
	{ 2000000000, "69279037" },
	{ 20000000000LL, "65353130" },
};

START_TEST(rfc6238_appendix_b)
{
	struct mac *key = mac_new("SHA1",
	    (const uint8_t *)"12345678901234567890", 20);
	char code[TOTP_MAX_DIGITS + 1];

	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(totp_code(key, totp_step(rfc6238[_i].t, 30), 8,
			     code), 0);
	code[8] = '\0';
	ck_assert_str_eq(code, rfc6238[_i].code);
	mac_free(key);
}
END_TEST

START_TEST(six_digits_are_the_last_six)
{
	struct mac *key = mac_new("SHA1",
	    (const uint8_t *)"12345678901234567890", 20);
	char code[TOTP_MAX_DIGITS + 1];

	ck_assert_int_eq(totp_code(key, totp_step(59, 30), 6, code), 0);
	code[6] = '\0';
	ck_assert_str_eq(code, "287082");
	mac_free(key);
}
END_TEST

START_TEST(steps)
{
	ck_assert_uint_eq(totp_step(0, 30), 0);
	ck_assert_uint_eq(totp_step(29, 30), 0);
	ck_assert_uint_eq(totp_step(30, 30), 1);
	ck_assert_uint_eq(totp_step(59, 30), 1);
	ck_assert_uint_eq(totp_step(1111111109, 30), 0x23523EC);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("totp");
	TCase *tc = tcase_create("totp");

	tcase_add_loop_test(tc, rfc6238_appendix_b, 0,
	    sizeof(rfc6238) / sizeof(rfc6238[0]));
	ADD(tc, six_digits_are_the_last_six);
	ADD(tc, steps);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
