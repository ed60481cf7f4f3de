#include <stdarg.h>
#include <stdio.h>

/* strnvisx is the same in both flavours; choose one to be explicit. */
#define LIBBSD_OPENBSD_VIS
#include <bsd/vis.h>

#include "log.h"

static enum log_target target = LOG_TO_STDERR;

void
log_open(enum log_target t)
{
	target = t;
	if (t == LOG_TO_SYSLOG)
		openlog("prosody-token-auth", LOG_PID | LOG_NDELAY,
		    LOG_AUTHPRIV);
}

void
log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (target == LOG_TO_SYSLOG) {
		vsyslog(priority, fmt, ap);
	} else {
		fputs("prosody-token-auth: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

const char *
log_safe(char out[4 * LOG_SAFE_MAX + 1], const char *s, size_t len)
{
	strnvisx(out, 4 * LOG_SAFE_MAX + 1, s,
	    len > LOG_SAFE_MAX ? LOG_SAFE_MAX : len, VIS_CSTYLE | VIS_OCTAL);
	return out;
}
