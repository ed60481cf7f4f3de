/* Shared by the Check unit suites. */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

/* Fixed throw-away secrets, as pyotp.random_base32() makes them. */
#define TEST_SEED   "XVGR73KMZH2M4XMY"
#define TEST_SECRET "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"

/* Made by the contract's reference generator at t = 1700000000. */
#define TEST_NOW   1700000000
#define TEST_TOKEN                                                            \
	"8095230901234567890123456789012345678901 "                           \
	"6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s="

static inline int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define ADD(tc, fn) tcase_add_test(tc, fn)

/* A JID made of two C strings (not checked: tests may want bad ones). */
#define JID(u, d)                                                             \
	(&(struct jid){ .user = (u), .userlen = strlen(u), .domain = (d),     \
	    .domainlen = strlen(d) })

#endif
