/*
 * When stdin is a terminal (Prosody's mod_auth_external talks through a
 * pseudo-terminal): raw mode, and ending with the parent, since end of input
 * never comes there.
 */
#ifndef TERM_H
#define TERM_H

#include <sys/types.h>

/*
 * If fd is a terminal, switches it to raw mode with TCSAFLUSH (dropping input
 * that arrived before, unanswered), and arranges for SIGTERM when the parent
 * dies. parent is the parent's pid as seen at start. Returns 1 if fd is a
 * terminal, 0 if not, -1 if the parent is already gone or the terminal
 * cannot be set.
 */
int term_prepare(int fd, pid_t parent);

#endif
