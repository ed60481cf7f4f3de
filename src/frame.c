/*
 * Rules for this file:
 * 1. Framing is never lost: every request, however malformed, oversized or
 *    cut short, produces exactly one event that is answered, and the stream
 *    continues with the next request.
 * 2. Bounded: a request longer than FRAME_MAX_REQUEST is dropped as it
 *    arrives, never buffered whole.
 * 3. Nothing but "1" and "0" for a client that did not ask for more: only
 *    the first line of a generic stream can ask, and a reason that is not
 *    a short plain word is never sent.
 */
#include <string.h>

#include "frame.h"

void
frame_init(struct framer *f, enum frame_protocol protocol)
{
	memset(f, 0, sizeof(*f));
	f->protocol = protocol;
}

uint8_t *
frame_space(struct framer *f, size_t *room)
{
	if (f->start > 0 && (f->start == f->end ||
				FRAME_BUF_SIZE - f->end < FRAME_MAX_REQUEST + 2)) {
		memmove(f->buf, f->buf + f->start, f->end - f->start);
		f->end -= f->start;
		explicit_bzero(f->buf + f->end, f->start);
		f->start = 0;
	}
	*room = FRAME_BUF_SIZE - f->end;
	return f->buf + f->end;
}

void
frame_added(struct framer *f, size_t n)
{
	f->end += n;
}

/*
 * The first request says which framing the server speaks. A generic request
 * begins with its command and ':'. An ejabberd frame begins with its length,
 * then a command: its first bytes can be anything, printable too (a long
 * password makes the length's high byte a letter), but never a command and
 * ':', since no command, read from its third byte on, begins like another
 * (the frame's third byte is its command's first). So the
 * stream is generic if it begins with a command and ':', ejabberd otherwise,
 * and undecided while what has arrived is still the beginning of one.
 */
static const char *const commands[] = {
	"auth:", "isuser:", "setpass:", "tryregister:", "removeuser:",
	"removeuser3:", "certauth:", "options:",
};

static enum frame_protocol
detect(const uint8_t *s, size_t len)
{
	size_t i, n;
	int maybe = 0;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		n = strlen(commands[i]);
		if (memcmp(s, commands[i], len < n ? len : n) != 0)
			continue;
		if (len >= n)
			return FRAME_GENERIC;
		maybe = 1;
	}
	return maybe ? FRAME_DETECT : FRAME_EJABBERD;
}

static enum frame_event
next_line(struct framer *f, const char **req, size_t *len)
{
	uint8_t *s = f->buf + f->start;
	size_t avail = f->end - f->start;
	uint8_t *nl = memchr(s, '\n', avail);

	if (nl == NULL) {
		/* A request of FRAME_MAX_REQUEST bytes may still be waiting
		 * for the '\n' after its '\r': keep it, whatever the reads. */
		if (f->oversized || avail > FRAME_MAX_REQUEST + 1) {
			f->oversized = 1;
			f->start = f->end;
		}
		return FRAME_NEED_MORE;
	}
	f->start += (size_t)(nl - s) + 1;
	if (f->oversized) {
		f->oversized = 0;
		return FRAME_REJECT;
	}
	*len = (size_t)(nl - s);
	if (*len > 0 && s[*len - 1] == '\r')
		(*len)--;
	if (*len > FRAME_MAX_REQUEST)
		return FRAME_REJECT;
	*req = (const char *)s;
	return FRAME_REQUEST;
}

/* The one option there is, asked for before anything else. */
static const char options_reasons[] = "options:reasons";

static int
asks_for_reasons(const char *req, size_t len)
{
	return len == sizeof(options_reasons) - 1 &&
	    memcmp(req, options_reasons, len) == 0;
}

static enum frame_event
next_packet(struct framer *f, const char **req, size_t *len)
{
	uint8_t *s = f->buf + f->start;
	size_t avail = f->end - f->start, n;

	if (f->oversized) {
		n = avail < f->skip ? avail : f->skip;
		f->start += n;
		f->skip -= n;
		if (f->skip > 0)
			return FRAME_NEED_MORE;
		f->oversized = 0;
		return FRAME_REJECT;
	}
	if (avail < 2)
		return FRAME_NEED_MORE;
	n = (size_t)s[0] << 8 | s[1];
	if (n > FRAME_MAX_REQUEST) {
		f->start += 2;
		f->skip = n;
		f->oversized = 1;
		return next_packet(f, req, len);
	}
	if (avail < 2 + n)
		return FRAME_NEED_MORE;
	f->start += 2 + n;
	*req = (const char *)s + 2;
	*len = n;
	return FRAME_REQUEST;
}

enum frame_event
frame_next(struct framer *f, const char **req, size_t *len)
{
	enum frame_event ev;

	if (f->start == f->end)
		return FRAME_NEED_MORE;
	if (f->protocol == FRAME_DETECT &&
	    (f->protocol = detect(f->buf + f->start, f->end - f->start)) ==
	    FRAME_DETECT)
		return FRAME_NEED_MORE;
	if (f->protocol == FRAME_EJABBERD)
		return next_packet(f, req, len);
	ev = next_line(f, req, len);
	if (ev != FRAME_NEED_MORE && !f->begun) {
		f->begun = 1;
		if (ev == FRAME_REQUEST && asks_for_reasons(*req, *len)) {
			f->reasons = 1;
			return FRAME_OPTIONS;
		}
	}
	return ev;
}

int
frame_pending(const struct framer *f)
{
	return f->start < f->end || f->oversized;
}

enum frame_event
frame_end(struct framer *f)
{
	int truncated = f->start < f->end || f->oversized;

	f->start = f->end;
	f->oversized = 0;
	f->skip = 0;
	return truncated ? FRAME_REJECT : FRAME_NEED_MORE;
}

int
frame_wants_reasons(const struct framer *f)
{
	return f->reasons;
}

/* Whether s is a word that may follow an answer. */
static size_t
reason_length(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n == FRAME_REASON_MAX ||
		    !((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
			return 0;
	return n;
}

size_t
frame_answer(const struct framer *f, int yes, const char *reason,
    uint8_t out[FRAME_ANSWER_MAX])
{
	size_t n = f->reasons ? reason_length(reason) : 0;

	if (f->protocol == FRAME_EJABBERD) {
		out[0] = 0;
		out[1] = 2;
		out[2] = 0;
		out[3] = yes ? 1 : 0;
		return 4;
	}
	out[0] = yes ? '1' : '0';
	if (n == 0) {
		out[1] = '\n';
		return 2;
	}
	out[1] = ' ';
	memcpy(out + 2, reason, n);
	out[2 + n] = '\n';
	return 3 + n;
}

void
frame_wipe(struct framer *f)
{
	explicit_bzero(f->buf, sizeof(f->buf));
	f->start = f->end = 0;
}
