#include <paths.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/*
 * While it is not connected, glibc's syslog(3) tries to connect to /dev/log
 * again on every message: with no syslog daemon, three system calls per
 * request, each for nothing. So while the socket is missing, messages are
 * dropped at once, as glibc would drop them, and whether it has appeared is
 * checked at most once a second.
 */
static int
syslog_present(void)
{
	static time_t next;
	static int present;
	time_t now = time(NULL);

	if (now >= next || now < next - 1) {
		present = access(_PATH_LOG, F_OK) == 0;
		next = now + 1;
	}
	return present;
}

void
log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (target == LOG_TO_SYSLOG) {
		if (syslog_present())
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
	size_t i;

	if (len > LOG_SAFE_MAX)
		len = LOG_SAFE_MAX;
	/* Printable ASCII but the backslash is what vis(3) leaves as it is:
	 * the common case, copied without its per-character conversions. */
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~' ||
		    s[i] == '\\')
			break;
	if (i == len) {
		memcpy(out, s, len);
		out[len] = '\0';
		return out;
	}
	strnvisx(out, 4 * LOG_SAFE_MAX + 1, s,
	    len > LOG_SAFE_MAX ? LOG_SAFE_MAX : len, VIS_CSTYLE | VIS_OCTAL);
	return out;
}
