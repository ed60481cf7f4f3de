/*
 * The transport floor: a helper that answers yes to every request, with
 * nothing else in the way. It frames like the real helper (generic lines or
 * ejabberd 2-byte lengths, detected from the first byte), reads with plain
 * blocking read(2) and writes each answer with its own write(2), as the
 * contract requires. Whatever the real helper costs beyond this is its own.
 *
 *   yes_helper [anything]      (arguments are ignored, so that it can stand
 *                               in for the helper on the same command line)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define BUF 65536

static int
put(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(STDOUT_FILENO, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
main(void)
{
	static uint8_t buf[BUF];
	size_t start = 0, end = 0, n;
	int ejabberd = -1;
	uint8_t *nl;
	ssize_t r;

	for (;;) {
		if (start == end)
			start = end = 0;
		else if (end == BUF) {
			memmove(buf, buf + start, end - start);
			end -= start;
			start = 0;
		}
		if ((r = read(STDIN_FILENO, buf + end, BUF - end)) == -1 &&
		    errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		end += (size_t)r;
		if (ejabberd == -1)
			ejabberd = !(buf[0] >= 0x20 || buf[0] == '\n');
		for (;;) {
			if (ejabberd) {
				if (end - start < 2)
					break;
				n = (size_t)buf[start] << 8 | buf[start + 1];
				if (end - start < 2 + n)
					break;
				start += 2 + n;
				if (put("\0\2\0\1", 4) == -1)
					return 0;
			} else {
				nl = memchr(buf + start, '\n', end - start);
				if (nl == NULL)
					break;
				start = (size_t)(nl - buf) + 1;
				if (put("1\n", 2) == -1)
					return 0;
			}
		}
	}
}
