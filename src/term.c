#include <sys/prctl.h>

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

int
term_prepare(int fd, pid_t parent)
{
	struct termios t;

	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &t) == -1)
		return -1;
	/* No echo, no line editing, no signal, flow-control or CR/NL
	 * translation, in or out: answers must not shift. */
	cfmakeraw(&t);
	t.c_iflag &= ~(tcflag_t)(IXOFF | IXANY);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSAFLUSH, &t) == -1)
		return -1;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		return -1;
	/* The parent may have died before the line above took effect. */
	if (getppid() != parent || parent == 1)
		return -1;
	return 1;
}
