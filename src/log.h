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

/*
 * The lines logged to stderr between these two, one per decision of a
 * batch, are written with one write(2) when the batch ends (after its
 * answers). To syslog each is one message, sent as it comes.
 */
void log_batch_begin(void);
void log_batch_end(void);

/* Escapes untrusted text (vis(3)) into out, cut at LOG_SAFE_MAX. */
const char *log_safe(char out[4 * LOG_SAFE_MAX + 1], const char *s,
    size_t len);

#endif
