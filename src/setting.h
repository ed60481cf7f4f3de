/*
 * One value of the config file, checked: a whole number in a range, a word
 * of given characters. config.c and the stores' keys use them alike. A
 * message names the key, never the value, and a value is refused rather
 * than cut to fit.
 */
#ifndef SETTING_H
#define SETTING_H

#include <stddef.h>

#define SETTING_ERR_LEN 256

/* A whole number from min to max. Returns 0, or -1 with why. */
int setting_number(const char *key, const char *value, size_t len,
    long long min, long long max, unsigned *out, char why[SETTING_ERR_LEN]);

/*
 * A word of 1 to size - 1 of the characters in allowed, into out; what
 * says which characters, for people. Returns 0, or -1 with why.
 */
int setting_word(const char *key, const char *value, size_t len, char *out,
    size_t size, const char *allowed, const char *what,
    char why[SETTING_ERR_LEN]);

#endif
