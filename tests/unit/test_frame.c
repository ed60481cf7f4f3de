#include "frame.h"
#include "unit.h"

static struct framer f;

/* Feeds bytes in pieces of at most step, collecting one letter per event:
 * the request's first byte (or '_' if empty), or '!' for a rejection. */
static void
feed(const void *data, size_t len, size_t step, char *events)
{
	const uint8_t *p = data;
	size_t n, room;
	const char *req;
	enum frame_event ev;

	while (len > 0) {
		uint8_t *space = frame_space(&f, &room);

		ck_assert_uint_gt(room, 0);
		n = len < step ? len : step;
		n = n < room ? n : room;
		memcpy(space, p, n);
		frame_added(&f, n);
		p += n;
		len -= n;
		while ((ev = frame_next(&f, &req, &n)) != FRAME_NEED_MORE) {
			*events++ = ev == FRAME_REJECT ? '!' :
				    n == 0		? '_' :
							  req[0];
			*events = '\0';
		}
	}
}

START_TEST(generic_lines_any_split)
{
	const char *in = "auth:a:b:c\nisuser:a:b\r\nxyz\n";
	char events[16];
	size_t step;

	for (step = 1; step <= strlen(in); step++) {
		frame_init(&f, FRAME_DETECT);
		events[0] = '\0';
		feed(in, strlen(in), step, events);
		ck_assert_str_eq(events, "aix");
		ck_assert_int_eq(f.protocol, FRAME_GENERIC);
	}
}
END_TEST

START_TEST(generic_strips_one_cr)
{
	const char *req;
	size_t len;

	frame_init(&f, FRAME_GENERIC);
	feed("isuser:a:b\r\n", 12, 12, (char[4]){ 0 });
	frame_init(&f, FRAME_GENERIC);
	memcpy(frame_space(&f, &len), "ab\r\n", 4);
	frame_added(&f, 4);
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_uint_eq(len, 2);
}
END_TEST

START_TEST(generic_oversized_then_good)
{
	static char big[3 * FRAME_BUF_SIZE];
	char events[8] = "";
	size_t step;

	for (step = 1000; step <= sizeof(big); step *= 4) {
		frame_init(&f, FRAME_GENERIC);
		memset(big, 'x', sizeof(big));
		memcpy(big + sizeof(big) - 12, "\nisuser:a:b\n", 12);
		events[0] = '\0';
		feed(big, sizeof(big), step, events);
		ck_assert_str_eq(events, "!i");
	}
}
END_TEST

START_TEST(generic_many_in_one_read)
{
	char in[100 * 11 + 1], events[128] = "";
	int i;

	for (i = 0; i < 100; i++)
		memcpy(in + 11 * i, "isuser:a:b\n", 11);
	frame_init(&f, FRAME_DETECT);
	feed(in, 1100, 1100, events);
	ck_assert_uint_eq(strlen(events), 100);
}
END_TEST

static size_t
packet(uint8_t *out, const char *body, size_t len)
{
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, body, len);
	return len + 2;
}

START_TEST(ejabberd_any_split)
{
	uint8_t in[64];
	size_t len = 0, step;
	char events[16];

	len += packet(in + len, "auth:a:b:c", 10);
	len += packet(in + len, "", 0);
	len += packet(in + len, "isuser:a:b", 10);
	for (step = 1; step <= len; step++) {
		frame_init(&f, FRAME_DETECT);
		events[0] = '\0';
		feed(in, len, step, events);
		ck_assert_str_eq(events, "a_i");
		ck_assert_int_eq(f.protocol, FRAME_EJABBERD);
	}
}
END_TEST

START_TEST(ejabberd_oversized_then_good)
{
	static uint8_t in[70000];
	char events[8] = "";
	size_t len;

	in[0] = 0xff;
	in[1] = 0xff;
	memset(in + 2, 'a', 0xffff);
	len = 2 + 0xffff;
	len += packet(in + len, "isuser:a:b", 10);
	frame_init(&f, FRAME_DETECT);
	feed(in, len, 4096, events);
	ck_assert_str_eq(events, "!i");
}
END_TEST

/* Length bytes that a terminal would treat specially carry no meaning here. */
START_TEST(ejabberd_control_bytes_in_length)
{
	static const uint8_t special[] = { 3, 4, 13, 17, 19, 21, 26, 28, 127 };
	static uint8_t in[2 * 4096];
	char events[8];
	size_t i, n;

	for (i = 0; i < sizeof(special); i++) {
		n = special[i];
		frame_init(&f, FRAME_EJABBERD);
		memset(in, 'i', sizeof(in));
		in[0] = 0;
		in[1] = (uint8_t)n;
		events[0] = '\0';
		feed(in, 2 + n, 7, events);
		ck_assert_str_eq(events, "i");
		/* High byte: 13 * 256 = 3328 bytes, below the limit. */
		if (n * 256 + 5 <= FRAME_MAX_REQUEST) {
			frame_init(&f, FRAME_EJABBERD);
			in[0] = (uint8_t)n;
			in[1] = 5;
			events[0] = '\0';
			feed(in, 2 + n * 256 + 5, 1000, events);
			ck_assert_str_eq(events, "i");
		}
	}
}
END_TEST

/*
 * A client chooses its password's length, and so the first byte of the
 * first frame: printable, white space, even a command's first letter. The
 * stream is still ejabberd's, and every frame is answered in its format.
 */
START_TEST(ejabberd_detected_whatever_the_length)
{
	static const uint16_t lengths[] = { 0x0900, 0x0a00, 0x0d01, 0x0e00,
		0x2000, 0x2020, 0x4142, 0x6175, 0x6973, 0x7f00, 0xffff };
	static uint8_t in[2 + 0xffff + 2 + 10];
	char events[8];
	size_t i, n, len, step;

	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		n = lengths[i];
		in[0] = (uint8_t)(n >> 8);
		in[1] = (uint8_t)n;
		memcpy(in + 2, "auth:u:d:", 9);
		memset(in + 11, 'p', n - 9);
		len = 2 + n;
		len += packet(in + len, "isuser:a:b", 10);
		for (step = 1; step <= 4096; step *= 8) {
			frame_init(&f, FRAME_DETECT);
			events[0] = '\0';
			feed(in, len, step, events);
			ck_assert_int_eq(f.protocol, FRAME_EJABBERD);
			ck_assert_str_eq(events,
			    n <= FRAME_MAX_REQUEST ? "ai" : "!i");
		}
	}
}
END_TEST

/* A generic stream may arrive a byte at a time: no decision before it can
 * be made, then every line. */
START_TEST(generic_detected_byte_by_byte)
{
	static const char *const streams[] = { "auth:a:b:c\n",
		"isuser:a:b\n", "setpass:a:b:c\n", "tryregister:a:b:c\n",
		"removeuser:a:b\n", "removeuser3:a:b:c\n", "certauth:x\n" };
	char events[4];
	size_t i;

	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		frame_init(&f, FRAME_DETECT);
		events[0] = '\0';
		feed(streams[i], strlen(streams[i]), 1, events);
		ck_assert_int_eq(f.protocol, FRAME_GENERIC);
		ck_assert_int_eq(events[0], streams[i][0]);
		ck_assert_int_eq(events[1], '\0');
	}
	/* Cut short while still undecided: one refusal, in generic form. */
	frame_init(&f, FRAME_DETECT);
	feed("isus", 4, 1, events);
	ck_assert_int_eq(frame_end(&f), FRAME_REJECT);
	ck_assert_int_eq(frame_answer(&f, 0, NULL, (uint8_t[FRAME_ANSWER_MAX]){ 0 }),
	    2);
}
END_TEST

START_TEST(truncated_at_end_of_input)
{
	uint8_t in[] = { 0, 50, 'a', 'b' };
	char events[8] = "";

	frame_init(&f, FRAME_DETECT);
	feed(in, sizeof(in), 4, events);
	ck_assert_str_eq(events, "");
	ck_assert_int_eq(frame_end(&f), FRAME_REJECT);
	ck_assert_int_eq(frame_end(&f), FRAME_NEED_MORE);

	frame_init(&f, FRAME_DETECT);
	feed("auth:a:b", 8, 8, events);
	ck_assert_int_eq(frame_end(&f), FRAME_REJECT);

	frame_init(&f, FRAME_DETECT);
	ck_assert_int_eq(frame_end(&f), FRAME_NEED_MORE);
}
END_TEST

START_TEST(answers)
{
	uint8_t out[FRAME_ANSWER_MAX];

	frame_init(&f, FRAME_GENERIC);
	ck_assert_uint_eq(frame_answer(&f, 1, NULL, out), 2);
	ck_assert_mem_eq(out, "1\n", 2);
	ck_assert_uint_eq(frame_answer(&f, 0, NULL, out), 2);
	ck_assert_mem_eq(out, "0\n", 2);
	frame_init(&f, FRAME_EJABBERD);
	ck_assert_uint_eq(frame_answer(&f, 1, NULL, out), 4);
	ck_assert_mem_eq(out, "\0\2\0\1", 4);
	ck_assert_uint_eq(frame_answer(&f, 0, NULL, out), 4);
	ck_assert_mem_eq(out, "\0\2\0\0", 4);
}
END_TEST

/* Only a generic stream's first line asks for reasons; then refusals say
 * why, in one plain word, and nothing else changes. */
START_TEST(reasons_asked_for_first)
{
	const char *in = "options:reasons\nauth:a:b:c\noptions:reasons\n";
	uint8_t out[FRAME_ANSWER_MAX];
	const char *req;
	size_t len;

	frame_init(&f, FRAME_DETECT);
	memcpy(frame_space(&f, &len), in, strlen(in));
	frame_added(&f, strlen(in));
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_OPTIONS);
	ck_assert_int_eq(frame_wants_reasons(&f), 1);
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_mem_eq(req, "options:reasons", len);
	ck_assert_uint_eq(frame_answer(&f, 0, "replayed", out), 11);
	ck_assert_mem_eq(out, "0 replayed\n", 11);
	ck_assert_uint_eq(frame_answer(&f, 1, NULL, out), 2);
	ck_assert_mem_eq(out, "1\n", 2);
	/* not a plain word, or too long: not sent */
	ck_assert_uint_eq(frame_answer(&f, 0, "bad word", out), 2);
	ck_assert_uint_eq(frame_answer(&f, 0, "", out), 2);
	ck_assert_uint_eq(frame_answer(&f, 0,
	    "a_reason_of_thirty_two_letters_x", out), 2);
	ck_assert_uint_eq(frame_answer(&f, 0,
	    "a_reason_of_thirty_one_letters_", out), 34);
	ck_assert_mem_eq(out, "0 a_reason_of_thirty_one_letters_\n", 34);
}
END_TEST

START_TEST(reasons_only_where_asked)
{
	const char *in = "auth:a:b:c\noptions:reasons\n";
	uint8_t out[FRAME_ANSWER_MAX];
	const char *req;
	size_t len;

	frame_init(&f, FRAME_GENERIC);
	memcpy(frame_space(&f, &len), in, strlen(in));
	frame_added(&f, strlen(in));
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_int_eq(frame_wants_reasons(&f), 0);
	ck_assert_uint_eq(frame_answer(&f, 0, "replayed", out), 2);
	ck_assert_mem_eq(out, "0\n", 2);
	/* ejabberd framing has no options: the request is just a request */
	frame_init(&f, FRAME_EJABBERD);
	memcpy(frame_space(&f, &len), "\0\17options:reasons", 17);
	frame_added(&f, 17);
	ck_assert_int_eq(frame_next(&f, &req, &len), FRAME_REQUEST);
	ck_assert_int_eq(frame_wants_reasons(&f), 0);
	ck_assert_uint_eq(frame_answer(&f, 0, "replayed", out), 4);
	ck_assert_mem_eq(out, "\0\2\0\0", 4);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	ADD(tc, generic_lines_any_split);
	ADD(tc, generic_strips_one_cr);
	ADD(tc, generic_oversized_then_good);
	ADD(tc, generic_many_in_one_read);
	ADD(tc, ejabberd_any_split);
	ADD(tc, ejabberd_oversized_then_good);
	ADD(tc, ejabberd_control_bytes_in_length);
	ADD(tc, ejabberd_detected_whatever_the_length);
	ADD(tc, generic_detected_byte_by_byte);
	ADD(tc, truncated_at_end_of_input);
	ADD(tc, answers);
	ADD(tc, reasons_asked_for_first);
	ADD(tc, reasons_only_where_asked);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
