/* main.c: the racerepro binary; everything else lives in the harness. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rr_internal.h"

/* Started with stdin, stdout or stderr closed (`2>&-`), the first file the
 * run opens (events.jsonl) would become fd 2 and collect every diagnostic.
 * /dev/null keeps the three numbers taken before anything else is opened. */
static void occupy_std_fds(void)
{
	for (;;) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return; /* nowhere to say so: the run goes on as before */
		if (fd > 2) {
			close(fd);
			return;
		}
		/* fds 0-2 must survive exec (gdb, the sanitizers' symbolizer). */
		if (fcntl(fd, F_SETFD, 0) < 0)
			return;
	}
}

int main(int argc, char **argv)
{
	occupy_std_fds();
	/* The commands that run scenarios first remove what killed runs left
	 * behind (sweep.c: only folders and segments provably ours and dead). */
	static const char *const runs_scenarios[] = {"run", "soak", "replay", "explain",
						     "minimize", NULL};
	for (int i = 0; argc > 1 && runs_scenarios[i]; i++)
		if (!strcmp(argv[1], runs_scenarios[i]))
			rr__sweep_stale();
	return rr__cli_main(argc, argv);
}
