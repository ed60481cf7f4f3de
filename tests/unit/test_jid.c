#include "jid.h"
#include "unit.h"

/* What may not be in a user, nor in a domain. */
static const char forbidden_in_both[] = { '@', ':', '/', ' ', '\t', '\n',
	'\r', '\0', 0x01, 0x1f, 0x7f };

START_TEST(parts)
{
	char s[8];
	size_t i;

	ck_assert_int_eq(jid_valid_user("bob", 3), 1);
	ck_assert_int_eq(jid_valid_domain("example.org", 11), 1);
	ck_assert_int_eq(jid_valid_user("", 0), 0);
	ck_assert_int_eq(jid_valid_domain("", 0), 0);
	for (i = 0; i < sizeof(forbidden_in_both); i++) {
		memcpy(s, "ab?cd", 6);
		s[2] = forbidden_in_both[i];
		ck_assert_msg(!jid_valid_user(s, 5), "user with 0x%02x",
		    (unsigned char)s[2]);
		ck_assert_msg(!jid_valid_domain(s, 5), "domain with 0x%02x",
		    (unsigned char)s[2]);
	}
	/* A section header could not name such a domain; a user is free. */
	ck_assert_int_eq(jid_valid_user("a[b]", 4), 1);
	ck_assert_int_eq(jid_valid_domain("a[b", 3), 0);
	ck_assert_int_eq(jid_valid_domain("a]b", 3), 0);
	/* UTF-8 passes as it is: the server has prepared it. */
	ck_assert_int_eq(jid_valid_user("j\xc3\xb6rg", 5), 1);
}
END_TEST

START_TEST(lengths)
{
	static char s[JID_MAX_PART + 1];

	memset(s, 'a', sizeof(s));
	ck_assert_int_eq(jid_valid_user(s, JID_MAX_PART), 1);
	ck_assert_int_eq(jid_valid_user(s, JID_MAX_PART + 1), 0);
	ck_assert_int_eq(jid_valid_domain(s, JID_MAX_PART), 1);
	ck_assert_int_eq(jid_valid_domain(s, JID_MAX_PART + 1), 0);
}
END_TEST

START_TEST(split_and_set)
{
	struct jid j;

	ck_assert_int_eq(jid_split(&j, "bob@example.org", 15), 0);
	ck_assert_uint_eq(j.userlen, 3);
	ck_assert_mem_eq(j.domain, "example.org", 11);
	ck_assert_uint_eq(j.domainlen, 11);
	ck_assert_int_eq(jid_split(&j, "bob", 3), -1);
	ck_assert_int_eq(jid_split(&j, "@example.org", 12), -1);
	ck_assert_int_eq(jid_split(&j, "bob@", 4), -1);
	ck_assert_int_eq(jid_split(&j, "a@b@c", 5), -1);
	ck_assert_int_eq(jid_set(&j, "bob", 3, "ex ample", 8), -1);
	ck_assert_int_eq(jid_set(&j, "bob", 3, "example.org", 11), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("jid");
	TCase *tc = tcase_create("jid");

	ADD(tc, parts);
	ADD(tc, lengths);
	ADD(tc, split_and_set);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
