#include <stdio.h>
#include <string.h>

#include <bsd/stdlib.h>

#include "setting.h"

int
setting_number(const char *key, const char *value, size_t len,
    long long min, long long max, unsigned *out, char why[SETTING_ERR_LEN])
{
	char digits[24];
	const char *error = "too long";
	long long n = 0;

	/* Longer than any number in range: refused, never cut to fit. */
	if (len < sizeof(digits)) {
		memcpy(digits, value, len);
		digits[len] = '\0';
		n = strtonum(digits, min, max, &error);
	}
	if (error != NULL) {
		snprintf(why, SETTING_ERR_LEN, "%s must be a whole number from "
		    "%lld to %lld", key, min, max);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

int
setting_word(const char *key, const char *value, size_t len, char *out,
    size_t size, const char *allowed, const char *what,
    char why[SETTING_ERR_LEN])
{
	size_t i;

	if (len == 0 || len >= size) {
		snprintf(why, SETTING_ERR_LEN, "%s must be 1 to %zu characters",
		    key, size - 1);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (value[i] == '\0' || strchr(allowed, value[i]) == NULL) {
			snprintf(why, SETTING_ERR_LEN, "%s may hold only %s",
			    key, what);
			return -1;
		}
	}
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}
