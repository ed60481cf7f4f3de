/*
 * Writing a whole buffer to a descriptor, for everything that writes: the
 * serve loop's answers, the connector's requests, the CLI's secrets, a
 * rewritten config file.
 */
#ifndef IO_H
#define IO_H

#include <signal.h>
#include <stddef.h>

/*
 * Writes all of buf to fd, however many write(2) calls it takes, again
 * after EINTR unless *stop was set meanwhile (stop NULL: always again).
 * Returns 0, or -1 with errno.
 */
int write_all(int fd, const void *buf, size_t len,
    const volatile sig_atomic_t *stop);

#endif
