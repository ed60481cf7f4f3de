/*
 * Fuzz target: the request framing and the protocol loop.
 *
 * Input: byte 0 picks the framing (detect, generic, ejabberd), byte 1 how
 * the stream is cut into reads; the rest is the byte stream from the server.
 *
 * A model written here from the protocol's description (not from frame.c)
 * lists the requests the stream holds: generic, one per line, a final
 * unterminated line counting as one; ejabberd, one per length-prefixed
 * frame, a final cut-short frame counting as one; oversized ones (longer
 * than FRAME_MAX_REQUEST) counting as one refused request each; a generic
 * stream's first line, if it is exactly "options:reasons", asks for
 * reasons: no request, answered 1, and every later 0 carries the answer
 * function's reason. Then:
 *
 * 1. frame_* driven directly, the stream cut into reads as byte 1 says:
 *    exactly one event per request, in order, each request handed over
 *    with exactly its bytes, each oversized or truncated one as a refusal,
 *    and the buffer never full;
 * 2. serve over a socket pair (each read one message, so the cuts
 *    are the same every run) with a fake answer function: exactly one
 *    answer per request, in the framing's format, saying what the answer
 *    function said for it (0 for refusals). The answer function also runs
 *    request_parse on every request and checks its fields lie inside it.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "serve.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct expected {
	int reject;	/* refused whole: oversized or truncated */
	int option;	/* the first line, asking for reasons */
	size_t off, len; /* the request's bytes in the stream */
};

#define FAKE_REASON "fuzzed_no" /* the fake answer function's one reason */

static struct expected *model_events;
static size_t model_count, model_cap;

static void
expect(int reject, size_t off, size_t len)
{
	if (model_count == model_cap) {
		model_cap = model_cap ? 2 * model_cap : 256;
		model_events = realloc(model_events,
		    model_cap * sizeof(*model_events));
		assert(model_events != NULL);
	}
	model_events[model_count++] = (struct expected){ reject, 0, off, len };
}

/*
 * The framing a stream announces: generic's starts with a command and ':',
 * ejabberd's with the two bytes of a length, then a command. A stream that
 * ends while it could still be the start of a generic command is announced
 * as neither (FRAME_DETECT): it is one request cut short, refused.
 */
static enum frame_protocol
announced(const uint8_t *s, size_t n)
{
	static const char *const cmds[] = { "auth", "isuser", "setpass",
		"tryregister", "removeuser", "removeuser3", "certauth",
		"options" };
	enum frame_protocol p = FRAME_EJABBERD;
	char word[16];
	size_t i, len;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		len = (size_t)snprintf(word, sizeof(word), "%s:", cmds[i]);
		if (n >= len && memcmp(s, word, len) == 0)
			return FRAME_GENERIC;
		if (n < len && memcmp(s, word, n) == 0)
			p = FRAME_DETECT;
	}
	return p;
}

static void
model_generic(const uint8_t *s, size_t n)
{
	size_t pos = 0, len;
	const uint8_t *nl;

	while (pos < n) {
		nl = memchr(s + pos, '\n', n - pos);
		if (nl == NULL) {
			expect(1, pos, n - pos); /* cut short by the end */
			return;
		}
		len = (size_t)(nl - (s + pos));
		if (len > 0 && s[pos + len - 1] == '\r')
			len--;
		expect(len > FRAME_MAX_REQUEST, pos, len);
		if (pos == 0 && len == strlen("options:reasons") &&
		    memcmp(s, "options:reasons", len) == 0)
			model_events[0].option = 1;
		pos = (size_t)(nl - s) + 1;
	}
}

/* Whether the stream asked for reasons. */
static int
model_reasons(void)
{
	return model_count > 0 && model_events[0].option;
}

static void
model_ejabberd(const uint8_t *s, size_t n)
{
	size_t pos = 0, len;

	while (pos < n) {
		if (n - pos < 2) {
			expect(1, pos, n - pos);
			return;
		}
		len = (size_t)s[pos] << 8 | s[pos + 1];
		if (n - pos - 2 < len) {
			expect(1, pos, n - pos);
			return;
		}
		expect(len > FRAME_MAX_REQUEST, pos + 2, len);
		pos += 2 + len;
	}
}

static enum frame_protocol
model(const uint8_t *s, size_t n, enum frame_protocol p)
{
	model_count = 0;
	if (n == 0)
		return p;
	if (p == FRAME_DETECT)
		p = announced(s, n);
	if (p == FRAME_GENERIC)
		model_generic(s, n);
	else if (p == FRAME_EJABBERD)
		model_ejabberd(s, n);
	else
		expect(1, 0, n);
	return p;
}

/* Read sizes: byte 1's low bits pick a style, the rest seed the sizes. */
struct cutter {
	unsigned style;
	uint32_t state;
};

static size_t
next_cut(struct cutter *c)
{
	c->state ^= c->state << 13;
	c->state ^= c->state >> 17;
	c->state ^= c->state << 5;
	switch (c->style) {
	case 0:
		return FRAME_BUF_SIZE; /* as much as fits */
	case 1:
		return 1;
	case 2:
		return 1 + c->state % 16;
	default:
		return 1 + c->state % FRAME_MAX_REQUEST;
	}
}

static void
cutter_init(struct cutter *c, uint8_t b)
{
	c->style = b & 3;
	c->state = 0x9e3779b9u ^ ((uint32_t)b * 0x01000193u);
}

/* 1. frame_* directly. */
static void
check_framer(const uint8_t *s, size_t n, enum frame_protocol p,
    enum frame_protocol resolved, uint8_t cut)
{
	static struct framer f;
	struct cutter c;
	enum frame_event ev;
	const char *req;
	size_t pos = 0, k = 0, room, len, take;
	uint8_t *space, answer[FRAME_ANSWER_MAX];

	cutter_init(&c, cut);
	frame_init(&f, p);
	for (;;) {
		while ((ev = frame_next(&f, &req, &len)) != FRAME_NEED_MORE) {
			if (k >= model_count) {
				fprintf(stderr, "framer: event %zu but the "
				    "stream holds %zu requests\n", k + 1,
				    model_count);
				abort();
			}
			if ((ev == FRAME_OPTIONS) != model_events[k].option) {
				fprintf(stderr, "framer: event %zu: %s\n", k + 1,
				    ev == FRAME_OPTIONS ? "options not asked" :
				    "options asked, not seen");
				abort();
			}
			if (ev == FRAME_OPTIONS) {
				assert(frame_wants_reasons(&f));
			} else if (ev == FRAME_REJECT) {
				if (!model_events[k].reject) {
					fprintf(stderr, "framer: request %zu "
					    "(%zu bytes at %zu) refused\n",
					    k + 1, model_events[k].len,
					    model_events[k].off);
					abort();
				}
			} else if (model_events[k].reject ||
			    len != model_events[k].len ||
			    memcmp(req, s + model_events[k].off, len) != 0) {
				fprintf(stderr, "framer: request %zu: got %zu "
				    "bytes, expected %s%zu bytes at %zu\n",
				    k + 1, len, model_events[k].reject ?
				    "a refusal of " : "", model_events[k].len,
				    model_events[k].off);
				abort();
			}
			k++;
		}
		if (pos == n)
			break;
		space = frame_space(&f, &room);
		assert(room > 0);
		take = next_cut(&c);
		take = take < room ? take : room;
		take = take < n - pos ? take : n - pos;
		memcpy(space, s + pos, take);
		frame_added(&f, take);
		pos += take;
	}
	if (frame_end(&f) == FRAME_REJECT) {
		if (k >= model_count || !model_events[k].reject) {
			fprintf(stderr, "framer: a refusal at the end that "
			    "the stream does not hold\n");
			abort();
		}
		k++;
	}
	if (k != model_count) {
		fprintf(stderr, "framer: %zu events for %zu requests\n", k,
		    model_count);
		abort();
	}
	/* At most one refusal at the end, and nothing after it. */
	assert(frame_end(&f) == FRAME_NEED_MORE);
	assert(frame_next(&f, &req, &len) == FRAME_NEED_MORE);
	if (n > 0) {
		assert(f.protocol == resolved);
		assert(frame_wants_reasons(&f) == model_reasons());
		assert(frame_answer(&f, 1, NULL, answer) ==
		    (resolved == FRAME_EJABBERD ? 4 : 2));
		assert(frame_answer(&f, 0, FAKE_REASON, answer) ==
		    (resolved == FRAME_EJABBERD ? 4 : model_reasons() ?
		    3 + strlen(FAKE_REASON) : 2));
	}
	frame_wipe(&f);
}

/* The fake answer function: what it says depends on the request only. */
static int
fake_answer_of(const char *req, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)req[i]) * 16777619u;
	return (h >> 7) & 1;
}

struct served {
	const uint8_t *s;
	size_t next;  /* the model's event to look at next */
	int pending;  /* a batch answered, its "answered" call not yet made */
	int answers[SERVE_BATCH_MAX]; /* the last batch's */
	size_t n;     /* its size */
};

/* The next event of the model must be this one: a refusal or a request
 * with exactly these bytes. */
static const struct expected *
next_expected(struct served *sv, const struct serve_request *q)
{
	const struct expected *e;

	if (sv->next < model_count && model_events[sv->next].option)
		sv->next++; /* answered by serve itself */
	if (sv->next >= model_count) {
		fprintf(stderr, "helper: more requests handed over than the "
		    "stream has\n");
		abort();
	}
	e = &model_events[sv->next++];
	if (q->text == NULL) {
		if (!e->reject) {
			fprintf(stderr, "helper: request %zu handed over as "
			    "refused\n", sv->next);
			abort();
		}
		return e;
	}
	if (e->reject || e->len != q->len ||
	    memcmp(q->text, sv->s + e->off, q->len) != 0) {
		fprintf(stderr, "helper: request %zu: got %zu bytes, expected "
		    "%zu bytes%s\n", sv->next, q->len, e->len,
		    e->reject ? " (a refusal)" : "");
		abort();
	}
	return e;
}

static void
check_fields(const char *req, size_t len)
{
	const char *end = req + len;
	struct request r;

	if (request_parse(req, len, &r) == 0 && r.command != REQUEST_REFUSED) {
		assert(r.jid.user >= req &&
		    r.jid.user + r.jid.userlen <= end);
		assert(r.jid.domain >= req &&
		    r.jid.domain + r.jid.domainlen <= end);
		assert(jid_valid_user(r.jid.user, r.jid.userlen));
		assert(jid_valid_domain(r.jid.domain, r.jid.domainlen));
		if (r.command == REQUEST_AUTH)
			assert(r.password >= req &&
			    r.password + r.passwordlen == end);
	}
}

static void
fake_answer(void *ctx, const struct serve_request *reqs, size_t n,
    int answers[])
{
	struct served *sv = ctx;
	size_t i;

	assert(n >= 1 && n <= SERVE_BATCH_MAX);
	assert(!sv->pending);
	sv->pending = 1;
	for (i = 0; i < n; i++) {
		next_expected(sv, &reqs[i]);
		answers[i] = 0;
		if (reqs[i].text != NULL) {
			check_fields(reqs[i].text, reqs[i].len);
			answers[i] = fake_answer_of(reqs[i].text, reqs[i].len);
		}
		sv->answers[i] = answers[i];
	}
	sv->n = n;
}

/* The reason of a no, asked as it is written, only where asked for. */
static const char *
fake_reason(void *ctx, size_t i)
{
	struct served *sv = ctx;

	assert(sv->pending && i < sv->n);
	assert(model_reasons());
	return sv->answers[i] ? NULL : FAKE_REASON;
}

/* After every batch, once: the time to log. */
static void
fake_answered(void *ctx)
{
	struct served *sv = ctx;

	assert(sv->pending);
	sv->pending = 0;
}

/* 2. serve, reading from a socket pair, answering into a memfd. */
static void
check_helper(const uint8_t *s, size_t n, enum frame_protocol p,
    enum frame_protocol resolved, uint8_t cut)
{
	static int out = -1;
	static uint8_t *got, *want;
	static size_t got_cap;
	struct served sv = { s, 0, 0, { 0 }, 0 };
	const struct serve_handler h = { fake_answer, fake_answered, NULL,
		fake_reason, &sv };
	static const struct serve_limits no_limits = { 0, 0 };
	struct sigaction saved[4];
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };
	sigset_t mask;
	struct cutter c;
	size_t pos = 0, take, k, wlen = 0, msgs = 0;
	ssize_t r;
	int sv_fd[2], i;

	if (out == -1) {
		out = memfd_create("answers", MFD_CLOEXEC);
		assert(out != -1);
	}
	if (got_cap < (3 + strlen(FAKE_REASON)) * model_count + 16) {
		got_cap = (3 + strlen(FAKE_REASON)) * model_count + 16;
		got = realloc(got, got_cap);
		want = realloc(want, got_cap);
		assert(got != NULL && want != NULL);
	}
	assert(ftruncate(out, 0) == 0);
	assert(lseek(out, 0, SEEK_SET) == 0);
	assert(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		   sv_fd) == 0);
	/*
	 * Each message is one read; none is longer than FRAME_MAX_REQUEST,
	 * which always fits in the framer's space, so none is cut. A bounded
	 * number of messages keeps them within the socket's buffer.
	 */
	cutter_init(&c, cut);
	while (pos < n) {
		take = msgs++ < 64 ? next_cut(&c) : FRAME_MAX_REQUEST;
		take = take < FRAME_MAX_REQUEST ? take : FRAME_MAX_REQUEST;
		take = take < n - pos ? take : n - pos;
		r = send(sv_fd[1], s + pos, take, MSG_DONTWAIT);
		if (r != (ssize_t)take) {
			fprintf(stderr, "send: %s\n", strerror(errno));
			abort();
		}
		pos += take;
	}
	shutdown(sv_fd[1], SHUT_WR);

	/* serve takes over the stop signals; give them back after. */
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], NULL, &saved[i]);
	sigprocmask(SIG_BLOCK, NULL, &mask);
	if (serve(sv_fd[0], out, p, &no_limits, &h) != SERVE_INPUT_ENDED ||
	    sv.pending)
		abort();
	sigprocmask(SIG_SETMASK, &mask, NULL);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &saved[i], NULL);
	close(sv_fd[0]);
	close(sv_fd[1]);

	for (k = 0; k < model_count; k++) {
		int yes = !model_events[k].reject &&
		    fake_answer_of((const char *)s + model_events[k].off,
			model_events[k].len);

		if (model_events[k].option) {
			want[wlen++] = '1';
			want[wlen++] = '\n';
		} else if (resolved != FRAME_EJABBERD) {
			want[wlen++] = yes ? '1' : '0';
			if (!yes && model_reasons()) {
				want[wlen++] = ' ';
				memcpy(want + wlen, FAKE_REASON,
				    strlen(FAKE_REASON));
				wlen += strlen(FAKE_REASON);
			}
			want[wlen++] = '\n';
		} else {
			memcpy(want + wlen, (uint8_t[]){ 0, 2, 0, yes }, 4);
			wlen += 4;
		}
	}
	r = pread(out, got, got_cap, 0);
	if (r != (ssize_t)wlen || memcmp(got, want, wlen) != 0) {
		fprintf(stderr, "helper: %zd bytes of answers, expected %zu "
		    "(%zu requests)\n", r, wlen, model_count);
		abort();
	}
	if (sv.next == 0 && model_reasons())
		sv.next = 1; /* only the options line: answered by serve */
	if (sv.next != model_count) {
		fprintf(stderr, "helper: %zu of %zu requests handed over to "
		    "the answer function\n", sv.next, model_count);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum frame_protocol protocols[3] = { FRAME_DETECT,
		FRAME_GENERIC, FRAME_EJABBERD };
	enum frame_protocol p, resolved;
	const uint8_t *s;
	size_t n;

	if (size < 2)
		return 0;
	p = protocols[data[0] % 3];
	s = data + 2;
	n = size - 2;
	resolved = model(s, n, p);
	check_framer(s, n, p, resolved, data[1]);
	check_helper(s, n, p, resolved, data[1]);
	return 0;
}
