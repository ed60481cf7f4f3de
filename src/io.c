#include <errno.h>
#include <unistd.h>

#include "io.h"

int
write_all(int fd, const void *buf, size_t len,
    const volatile sig_atomic_t *stop)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR && (stop == NULL || !*stop))
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
