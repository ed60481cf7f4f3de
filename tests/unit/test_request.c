#include "request.h"
#include "unit.h"

static struct request r;

static int
parse(const char *s)
{
	return request_parse(s, strlen(s), &r);
}

START_TEST(auth_with_colons_in_password)
{
	ck_assert_int_eq(parse("auth:bob:example.org:pa:ss:word"), 0);
	ck_assert_int_eq(r.command, REQUEST_AUTH);
	ck_assert_mem_eq(r.jid.user, "bob", r.jid.userlen);
	ck_assert_uint_eq(r.jid.userlen, 3);
	ck_assert_mem_eq(r.jid.domain, "example.org", r.jid.domainlen);
	ck_assert_uint_eq(r.passwordlen, 10);
	ck_assert_mem_eq(r.password, "pa:ss:word", 10);
	ck_assert_int_eq(parse("auth:bob:example.org:"), 0);
	ck_assert_uint_eq(r.passwordlen, 0);
}
END_TEST

START_TEST(isuser)
{
	ck_assert_int_eq(parse("isuser:bob:example.org"), 0);
	ck_assert_int_eq(r.command, REQUEST_ISUSER);
	ck_assert_uint_eq(r.jid.domainlen, 11);
	ck_assert_int_eq(parse("isuser:bob:example.org:extra"), -1);
}
END_TEST

START_TEST(other_commands_are_known_but_refused)
{
	ck_assert_int_eq(parse("setpass:bob:example.org:x"), 0);
	ck_assert_int_eq(r.command, REQUEST_REFUSED);
	ck_assert_int_eq(parse("tryregister:bob:example.org:x"), 0);
	ck_assert_int_eq(parse("removeuser:bob:example.org"), 0);
	ck_assert_int_eq(parse("removeuser3:bob:example.org:x"), 0);
	ck_assert_int_eq(parse("certauth:bob:example.org:x"), 0);
	ck_assert_int_eq(r.command, REQUEST_REFUSED);
}
END_TEST

static const char *const malformed[] = {
	"", ":", "auth", "auth:", "auth:bob", "auth:bob:example.org",
	"auth::example.org:x", "auth:bob::x", "auth:b@b:example.org:x",
	"auth:b/b:example.org:x", "auth:b b:example.org:x",
	"auth:b\tb:example.org:x", "auth:bob:ex ample.org:x",
	"auth:bob:ex@mple.org:x", "isuser:bob:", "isuser::example.org",
	"AUTH:bob:example.org:x", "login:bob:example.org:x", "isuser",
	"auth:b\x7f:example.org:x",
};

START_TEST(malformed_requests)
{
	ck_assert_int_eq(parse(malformed[_i]), -1);
}
END_TEST

START_TEST(nul_and_long_parts)
{
	char buf[2100];

	ck_assert_int_eq(request_parse("auth:b\0b:example.org:x", 22, &r), -1);
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "isuser:", 7);
	buf[7 + 1024] = ':';
	ck_assert_int_eq(request_parse(buf, 7 + 1024 + 1 + 5, &r), -1);
	buf[7 + 1024] = 'a';
	buf[7 + 1023] = ':';
	ck_assert_int_eq(request_parse(buf, 7 + 1023 + 1 + 5, &r), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("request");

	ADD(tc, auth_with_colons_in_password);
	ADD(tc, isuser);
	ADD(tc, other_commands_are_known_but_refused);
	tcase_add_loop_test(tc, malformed_requests, 0,
	    sizeof(malformed) / sizeof(malformed[0]));
	ADD(tc, nul_and_long_parts);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
