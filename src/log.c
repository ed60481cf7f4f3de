/*
 * Rules for this file:
 * 1. Untrusted text is escaped (log_safe) before it is logged; a token or
 *    a secret is never given to it.
 * 2. A batch's lines are written only when the caller ends the batch,
 *    once its answers are written: one line a decision, in order; to
 *    stderr all with one write(2), to syslog one message each.
 * 3. Logging never fails loudly: what cannot be written is dropped, as
 *    syslog(3) drops it.
 */
#include <paths.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* strnvisx is the same in both flavours; choose one to be explicit. */
#define LIBBSD_OPENBSD_VIS
#include <bsd/vis.h>

#include "io.h"
#include "log.h"

#define PREFIX	   "prosody-token-auth: "
#define BATCH_ROOM 32768 /* bytes of stderr lines kept for one write */

static enum log_target target = LOG_TO_STDERR;

/* A batch's lines for stderr, kept until its answers are written. */
static struct {
	int open;
	size_t used;
	char text[BATCH_ROOM];
} batch;

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

/*
 * Keeps one stderr line in the batch, with its newline; 0 if it does not
 * fit in what is left (then nothing is kept).
 */
static int __attribute__((format(printf, 1, 0)))
keep_line(const char *fmt, va_list ap)
{
	char *at = batch.text + batch.used;
	size_t room = sizeof(batch.text) - batch.used, len;
	int n;

	if (room <= sizeof(PREFIX))
		return 0;
	memcpy(at, PREFIX, sizeof(PREFIX) - 1);
	len = sizeof(PREFIX) - 1;
	n = vsnprintf(at + len, room - len, fmt, ap);
	if (n < 0 || (size_t)n >= room - len)
		return 0;
	len += (size_t)n;
	at[len++] = '\n'; /* (in the place of vsnprintf's NUL) */
	batch.used += len;
	return 1;
}

/* Writes the lines kept, and keeps the batch open for more. */
static void
flush_lines(void)
{
	if (batch.used > 0)
		(void)write_all(STDERR_FILENO, batch.text, batch.used, NULL);
	batch.used = 0;
}

/*
 * To syslog, each line is one message as it comes: sending a batch's
 * messages with one sendmmsg(2) was measured no cheaper (doc/performance.md).
 */
void
log_msg(int priority, const char *fmt, ...)
{
	va_list ap, again;
	int kept = 0;

	va_start(ap, fmt);
	if (target == LOG_TO_SYSLOG) {
		if (syslog_present())
			vsyslog(priority, fmt, ap);
		va_end(ap);
		return;
	}
	if (batch.open) {
		va_copy(again, ap);
		kept = keep_line(fmt, again);
		va_end(again);
		if (!kept && batch.used > 0) {
			flush_lines();
			va_copy(again, ap);
			kept = keep_line(fmt, again);
			va_end(again);
		}
	}
	if (!kept) { /* a line longer than the batch's room: alone */
		fputs(PREFIX, stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

void
log_batch_begin(void)
{
	batch.open = 1;
	batch.used = 0;
}

void
log_batch_end(void)
{
	flush_lines();
	batch.open = 0;
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
