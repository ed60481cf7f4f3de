/*
 * Where the helper's decisions go: syslog (facility authpriv) by default,
 * stderr when debugging by hand. Never a token or a secret.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target { LOG_TO_SYSLOG, LOG_TO_STDERR };

#define LOG_SAFE_MAX 256 /* characters of untrusted text shown, escaped */

void log_open(enum log_target);
void log_msg(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Escapes untrusted text (vis(3)) into out, cut at LOG_SAFE_MAX. */
const char *log_safe(char out[4 * LOG_SAFE_MAX + 1], const char *s,
    size_t len);

#endif
