/*
 * test_breakit.c: the break-it findings of issue 12, each as a test that
 * failed on the code before its fix.
 *
 * Other helpers run racerepro on this machine at the same time, so the kill
 * tests look only at what they started themselves: the racerepro under test
 * runs in a session of its own (setsid), so every process it starts carries
 * that session id; its scratch and temporary folders go under a private
 * RR_SCRATCH_BASE; a segment is ours when its creator was one of our
 * processes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define MAX_PIDS 4096

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Starts `exec CMDLINE` in a new session with RR_SCRATCH_BASE=BASE; all
 * output goes to LOG. Returns the pid (= the session id). */
static pid_t start_session(const char *base, const char *log, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setsid();
		if (base)
			setenv("RR_SCRATCH_BASE", base, 1);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char exec_cmd[4200];
		snprintf(exec_cmd, sizeof exec_cmd, "exec %s", cmd);
		execl("/bin/sh", "sh", "-c", exec_cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The processes of session SID (from /proc/<pid>/stat), and their parents. */
static int session_pids(pid_t sid, pid_t *pids, pid_t *ppids, int cap)
{
	DIR *d = opendir("/proc");
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < cap) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[1024];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		char state;
		int ppid, pgrp, session;
		if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4)
			continue;
		if (session != sid || state == 'Z')
			continue;
		pids[n] = (pid_t)pid;
		if (ppids)
			ppids[n] = ppid;
		n++;
	}
	closedir(d);
	return n;
}

/* Kills whatever is left of session SID (our own processes only). */
static void kill_session(pid_t sid)
{
	pid_t pids[MAX_PIDS];
	int n = session_pids(sid, pids, NULL, MAX_PIDS);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
}

/* Waits up to MS for session SID to have no live process; returns how many
 * are left. */
static int wait_session_gone(pid_t sid, int ms)
{
	pid_t pids[MAX_PIDS];
	int n = 0;
	for (int t = 0; t <= ms; t += 50) {
		n = session_pids(sid, pids, NULL, MAX_PIDS);
		if (!n)
			return 0;
		sleep_ms(50);
	}
	return n;
}

/* SIGKILL of the driver alone, as a CI runner's timeout would send it; then
 * whatever the session still holds goes too, so that the next step of a test
 * starts from only what the killed run left on disk. */
static void kill_driver(pid_t sid)
{
	kill(sid, SIGKILL);
	waitpid(sid, NULL, 0);
	wait_session_gone(sid, 5000);
	kill_session(sid);
	wait_session_gone(sid, 5000);
}

static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* Removes DIR/PREFIX* (PREFIX names one of our own pids). */
static void remove_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix))) {
			char path[1024];
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			rrt_remove_tree(path);
		}
	closedir(d);
}

/* Segments whose creator is in PIDS; removes them if REMOVE. */
static int segments_created_by(const pid_t *pids, int n, int remove)
{
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	char line[512];
	int found = 0;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof line, f)) {
		long key, shmid, perms, size, cpid, lpid;
		if (sscanf(line, "%ld %ld %ld %ld %ld %ld", &key, &shmid, &perms, &size, &cpid,
			   &lpid) != 6)
			continue;
		for (int i = 0; i < n; i++)
			if (pids[i] == (pid_t)cpid) {
				found++;
				if (remove)
					shmctl((int)shmid, IPC_RMID, NULL);
				break;
			}
	}
	fclose(f);
	return found;
}

/* Any command that runs scenarios sweeps first; this one is quick. */
static void run_sweeping_command(const char *base, const char *out)
{
	struct rrt_result r;
	rrt_run(&r, "RR_SCRATCH_BASE=%s %s run broken_pipe --iterations 1 --quiet --out %s", base,
		rrt_bin("none"), out);
	rrt_free(&r);
}

/* Item 1: SIGKILL of a run of ftok_collision while its writer processes are
 * alive: none of them may survive, and the next run removes the segments
 * and scratch folders the killed one left. */
static void test_sigkill_leaves_no_processes_or_segments(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char base[512], log[512], out[512];
	snprintf(base, sizeof base, "%s/scratch", tmp);
	snprintf(log, sizeof log, "%s/run.log", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	assert_int_equal(mkdir(base, 0700), 0);
	pid_t sid = start_session(base, log,
				  "%s run ftok_collision --variant fixed --jobs 2 --duration 300s "
				  "--quiet --out %s/run1",
				  rrt_bin("none"), out);
	/* Wait (bounded) until a writer process runs: a process of the session
	 * whose parent is not the driver. */
	static pid_t pids[MAX_PIDS], ppids[MAX_PIDS];
	int n = 0, writers = 0;
	for (int t = 0; t < 180000 && !writers; t += 20) {
		n = session_pids(sid, pids, ppids, MAX_PIDS);
		for (int i = 0; i < n; i++)
			writers += pids[i] != sid && ppids[i] != sid;
		if (!writers)
			sleep_ms(20);
	}
	if (!writers) {
		kill_session(sid);
		waitpid(sid, NULL, 0);
		fail_msg("no writer process started within 180 s; see %s", log);
	}
	n = session_pids(sid, pids, NULL, MAX_PIDS);
	assert_int_equal(kill(sid, SIGKILL), 0);
	assert_int_equal(waitpid(sid, NULL, 0), sid);
	int left = wait_session_gone(sid, 5000);
	kill_session(sid); /* whatever the test found, leave nothing behind */
	wait_session_gone(sid, 5000);
	snprintf(out + strlen(out), sizeof out - strlen(out), "/s1");
	run_sweeping_command(base, out);
	int segs = segments_created_by(pids, n, 0);
	int dirs = count_entries(base, "racerepro-");
	segments_created_by(pids, n, 1);
	if (left || segs || dirs)
		fail_msg("after SIGKILL of the driver (%d processes seen, %d writers): %d processes "
			 "outlived it, %d segments and %d scratch folders survived the next run",
			 n, writers, left, segs, dirs);
}

/* Item 2: a kill during ftok_collision's setup (scratch folder full of key
 * files), a killed replay (its temporary folder) and a killed run (its
 * <out>/<run>/workers/): the next run removes each. */
static void test_killed_runs_leave_no_folders(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char base[512], log[512], out[512], path[1024];
	snprintf(base, sizeof base, "%s/scratch", tmp);
	snprintf(log, sizeof log, "%s/run.log", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	assert_int_equal(mkdir(base, 0700), 0);
	assert_int_equal(mkdir(out, 0700), 0);

	/* (a) ftok_collision killed during setup: a scratch folder exists and
	 * no writer has started yet. */
	pid_t sid = start_session(base, log,
				  "%s run ftok_collision --variant fixed --duration 300s --quiet "
				  "--out %s/a",
				  rrt_bin("none"), out);
	int seen = 0;
	for (int t = 0; t < 120000 && !seen; t += 10) {
		seen = count_entries(base, "racerepro-");
		if (!seen)
			sleep_ms(10);
	}
	sleep_ms(200); /* some key files made */
	kill_driver(sid);
	assert_true(seen);
	snprintf(path, sizeof path, "%s/s1", out);
	run_sweeping_command(base, path);
	int setup_left = count_entries(base, "racerepro-");

	/* (b) a replay killed while its worker hangs (the watchdog waits 10 s). */
	struct rrt_result r;
	rrt_run(&r, "%s run test_hang --iterations 1 --timeout 1s --strategy none --quiet --out %s/h",
		rrt_bin("none-test"), out);
	rrt_free(&r);
	char repro[1024] = "";
	snprintf(path, sizeof path, "%s/h/failures", out);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			snprintf(repro, sizeof repro, "%s/%s/failure.repro", path, de->d_name);
	closedir(d);
	assert_true(repro[0]);
	sid = start_session(base, log, "%s replay %s", rrt_bin("none-test"), repro);
	char mine[64];
	snprintf(mine, sizeof mine, "racerepro-%d-", (int)sid);
	const char *tmpbase = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	seen = 0;
	for (int t = 0; t < 60000 && !seen; t += 10) {
		seen = count_entries(base, mine) + count_entries(tmpbase, mine);
		if (!seen)
			sleep_ms(10);
	}
	sleep_ms(300);
	kill_driver(sid);
	assert_true(seen);
	snprintf(path, sizeof path, "%s/s2", out);
	run_sweeping_command(base, path);
	int replay_left = count_entries(base, mine) + count_entries(tmpbase, mine);
	remove_entries(tmpbase, mine); /* the killed replay's own, if it was left */

	/* (c) a run killed while its workers run keeps <out>/<run>/workers. */
	sid = start_session(base, log, "%s run broken_pipe --duration 300s --quiet --out %s/c",
			    rrt_bin("none"), out);
	snprintf(path, sizeof path, "%s/c/workers", out);
	struct stat st;
	seen = 0;
	for (int t = 0; t < 60000 && !seen; t += 10) {
		seen = stat(path, &st) == 0;
		if (!seen)
			sleep_ms(10);
	}
	sleep_ms(300);
	kill_driver(sid);
	assert_true(seen);
	char next[1024];
	snprintf(next, sizeof next, "%s/d", out);
	run_sweeping_command(base, next);
	int workers_left = stat(path, &st) == 0;
	if (setup_left || replay_left || workers_left)
		fail_msg("left after SIGKILL and one more run: %d scratch folders of a setup, %d "
			 "temporary folders of a replay, workers/ of a run: %s",
			 setup_left, replay_left, workers_left ? "kept" : "gone");
}

/* Item 7: with stderr (or stdin and stdout) closed, events.jsonl must not
 * become fd 2 and collect the diagnostics: every line stays JSON. */
static void test_closed_std_fds_keep_events_clean(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	static const char *const closes[] = {"2>&-", "<&- >&- 2>&-"};
	for (int i = 0; i < 2; i++) {
		struct rrt_result r;
		rrt_run(&r, "%s run broken_pipe --iterations 3 --strategy random --out %s/r%d %s",
			rrt_bin("none"), tmp, i, closes[i]);
		int status = r.status;
		rrt_free(&r);
		char path[512];
		snprintf(path, sizeof path, "%s/r%d/events.jsonl", tmp, i);
		char *text = rrt_read_file(path);
		int bad = text[0] && text[0] != '{';
		for (const char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
			bad |= p[1] != '{';
		if (bad)
			fail_msg("with %s, events.jsonl collected diagnostics (exit %d):\n%s", closes[i],
				 status, text);
		free(text);
		assert_true(rrt_check_jsonl(path) >= 2);
	}
}

static const char *cell_verdict(json_t *summary, const char *scenario, const char *variant)
{
	return json_string_value(json_object_get(rrt_cell(summary, scenario, variant), "verdict"));
}

/* Item 11: test_deadlock's buggy variant declares a deadlock as its expected
 * outcome (RR_EXPECT_DEADLOCK), so the deadlock is `reproduced`, live and
 * rebuilt by `report`; the message names the thread that had already exited.
 * A bounded controlled run: seed 5 of random deadlocks within 40 iterations. */
static void test_declared_deadlock_is_reproduced(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r, "%s run test_deadlock --strategy random --seed 5 --iterations 40 --quiet --out %s/d",
		rrt_bin("none-test"), tmp);
	rrt_free(&r);
	char path[512];
	snprintf(path, sizeof path, "%s/d/summary.json", tmp);
	json_t *j = rrt_load_json(path);
	json_t *c = rrt_cell(j, "test_deadlock", "buggy");
	assert_true(rrt_outcome(c, "hang") >= 1);
	const char *msg = json_string_value(
		json_object_get(json_array_get(json_object_get(c, "signatures"), 0), "message"));
	assert_non_null(msg);
	if (strcmp(cell_verdict(j, "test_deadlock", "buggy"), "reproduced") ||
	    !strstr(msg, "already exited: helper"))
		fail_msg("a declared deadlock: verdict %s, message '%s'",
			 cell_verdict(j, "test_deadlock", "buggy"), msg);
	json_decref(j);
	rrt_run(&r, "%s report %s/d", rrt_bin("none-test"), tmp);
	rrt_free(&r);
	j = rrt_load_json(path);
	assert_string_equal(cell_verdict(j, "test_deadlock", "buggy"), "reproduced");
	json_decref(j);
}

/* Item 14: explain marks every preemption with '*' (as many as its footer
 * counts) and prints the finding whole on its row, even a long one. */
static void test_explain_marks_preemptions_and_keeps_the_finding(void **state)
{
	(void)state;
	static const char *const repros[] = {
		"corpus/broken_pipe/repro/input-broken-pipe.repro",
		"corpus/dtls_timer_rx/repro/none-uaf-timer-taken-before-close.repro",
		"corpus/cancel_uaf/repro/buggy-emulated-none-pct.repro",
	};
	for (size_t k = 0; k < sizeof repros / sizeof repros[0]; k++) {
		struct rrt_result r;
		rrt_run(&r, "%s explain %s", rrt_bin("none"), repros[k]);
		assert_int_equal(r.status, 1);
		char outcome[1024] = "";
		const char *o = strstr(r.out, "\noutcome: ");
		assert_non_null(o);
		sscanf(o + 10, "%1023[^\n]", outcome);
		const char *f = strstr(r.out, " preemptions;");
		assert_non_null(f);
		while (f > r.out && f[-1] >= '0' && f[-1] <= '9')
			f--;
		int want = atoi(f), marked = 0, whole = 0;
		for (const char *line = r.out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
			if (line[0] != '*')
				continue;
			const char *end = strchr(line, '\n');
			size_t len = end ? (size_t)(end - line) : strlen(line);
			char row[2048];
			snprintf(row, sizeof row, "%.*s", (int)len, line);
			marked += strstr(row, "[preempts ") != NULL;
			whole |= strstr(row, outcome) != NULL;
		}
		if (marked != want || !whole)
			fail_msg("explain %s: %d preemptions, %d marked as such; finding whole on a "
				 "marked row: %s\n%s",
				 repros[k], want, marked, whole ? "yes" : "no", r.out);
		rrt_free(&r);
	}
}

/* Item 13: one iteration numbering. A worker that crashes (or hangs) on its
 * Nth iteration: the message, the events line, the signature's
 * first_iteration and the cell's first_failure all say iteration N. */
static void test_one_iteration_numbering(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	static const char *const cases[][2] = {{"test_crash", "--param every=3"},
					       {"test_hang", "--param every=2 --timeout 300ms"}};
	for (int k = 0; k < 2; k++) {
		long want = atol(strchr(cases[k][1], '=') + 1);
		struct rrt_result r;
		rrt_run(&r, "%s run %s %s --strategy none --iterations %ld --quiet --out %s/n%d",
			rrt_bin("none-test"), cases[k][0], cases[k][1], want, tmp, k);
		rrt_free(&r);
		char path[512];
		snprintf(path, sizeof path, "%s/n%d/summary.json", tmp, k);
		json_t *j = rrt_load_json(path);
		json_t *c = rrt_cell(j, cases[k][0], "buggy");
		json_t *sig = json_array_get(json_object_get(c, "signatures"), 0);
		const char *msg = json_string_value(json_object_get(sig, "message"));
		assert_non_null(msg);
		const char *it = strstr(msg, "iteration ");
		assert_non_null(it);
		long in_message = atol(it + 10);
		long first = (long)json_integer_value(json_object_get(sig, "first_iteration"));
		long cell_first = (long)json_integer_value(
			json_object_get(json_object_get(c, "first_failure"), "iteration"));
		json_decref(j);
		snprintf(path, sizeof path, "%s/n%d/events.jsonl", tmp, k);
		char *events = rrt_read_file(path);
		const char *fe = strstr(events, "\"event\":\"failure\"");
		assert_non_null(fe);
		const char *fi = strstr(fe, "\"iteration\":");
		assert_non_null(fi);
		long in_events = atol(fi + 12);
		free(events);
		if (in_message != want || first != want || cell_first != want || in_events != want)
			fail_msg("%s failing on its iteration %ld: message says %ld, events.jsonl %ld, "
				 "first_iteration %ld, first_failure %ld",
				 cases[k][0], want, in_message, in_events, first, cell_first);
	}
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void write_bytes(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* racerepro ARGS: exit 2 and exactly one line on stderr containing WHAT (and
 * not containing NOT, if given). Bounded by timeout(1): a hang fails. */
static void expect_one_line_2(const char *bin, const char *args, const char *what, const char *not)
{
	struct rrt_result r;
	rrt_run(&r, "timeout -s KILL 60 %s %s", bin, args);
	if (r.status != 2 || count_lines(r.err) != 1 || !strstr(r.err, what) ||
	    (not && strstr(r.err, not)))
		fail_msg("racerepro %s: want exit 2 and one line naming '%s'; got exit %d:\n%s", args,
			 what, r.status, r.err);
	rrt_free(&r);
}

static const char *const repro_commands[] = {"replay", "explain", "minimize"};

/* Item 8: a parameter value that is not of its type is a usage error: exit 2,
 * one line, no report folder; in a reproducer too, naming its line. */
static void test_bad_param_value_is_a_usage_error(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	struct rrt_result r;
	char bin[1024];
	const char *b = rrt_bin("none");
	if (b[0] == '/')
		snprintf(bin, sizeof bin, "%s", b);
	else
		assert_non_null(realpath(b, bin));
	rrt_run(&r, "cd %s && %s run broken_pipe --param work_us=abc --iterations 5", tmp, bin);
	char reports[512];
	snprintf(reports, sizeof reports, "%s/reports", tmp);
	struct stat st;
	if (r.status != 2 || count_lines(r.err) != 1 || !strstr(r.err, "work_us=abc") ||
	    stat(reports, &st) == 0)
		fail_msg("--param work_us=abc: want exit 2, one line naming it and no report folder; "
			 "got exit %d, folder %s:\n%s",
			 r.status, stat(reports, &st) == 0 ? "made" : "none", r.err);
	rrt_free(&r);
	expect_one_line_2(rrt_bin("none"), "soak broken_pipe --param work_us=abc --duration 1s",
			  "work_us=abc", NULL);
	char *text = rrt_read_file("corpus/broken_pipe/repro/input-bad-fd.repro");
	char *p = strstr(text, "param work_us=");
	assert_non_null(p);
	char bad[8192];
	snprintf(bad, sizeof bad, "%.*sparam work_us=abc%s", (int)(p - text), text,
		 strchr(p, '\n'));
	int line = 1;
	for (const char *q = text; q < p; q++)
		line += *q == '\n';
	free(text);
	char path[512], args[1024], what[64];
	snprintf(path, sizeof path, "%s/bad-param.repro", tmp);
	write_bytes(path, bad, strlen(bad));
	snprintf(what, sizeof what, "line %d", line);
	for (int i = 0; i < 3; i++) {
		snprintf(args, sizeof args, "%s %s", repro_commands[i], path);
		expect_one_line_2(rrt_bin("none"), args, what, NULL);
	}
}

/* Item 9: reproducer files that are not what they claim. */
static void test_reproducer_files_are_checked(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char path[512], args[1024];
	char *good = rrt_read_file("corpus/broken_pipe/repro/input-bad-fd.repro");
	size_t glen = strlen(good);
	for (int i = 0; i < 3; i++) {
		/* A FIFO nobody writes: refused at once, not waited on. */
		snprintf(path, sizeof path, "%s/fifo.repro", tmp);
		assert_int_equal(mkfifo(path, 0600), 0);
		snprintf(args, sizeof args, "%s %s", repro_commands[i], path);
		expect_one_line_2(rrt_bin("none"), args, "FIFO", NULL);
		unlink(path);
		/* A directory is not an empty file. */
		snprintf(args, sizeof args, "%s %s", repro_commands[i], tmp);
		expect_one_line_2(rrt_bin("none"), args, "directory", "empty");
	}
	/* Exactly 65,536 bytes is within the limit; 65,537 is not. */
	static char big[65536 + 2];
	memcpy(big, good, glen);
	size_t len = glen;
	while (len < sizeof big - 2) {
		size_t room = sizeof big - 2 - len;
		size_t line = room > 80 ? 80 : room;
		memset(big + len, ' ', line);
		big[len] = '#';
		big[len + line - 1] = '\n';
		len += line;
	}
	assert_int_equal(len, 65536);
	snprintf(path, sizeof path, "%s/exact.repro", tmp);
	write_bytes(path, big, 65536);
	struct rrt_result r;
	rrt_run(&r, "timeout -s KILL 120 %s replay %s", rrt_bin("none"), path);
	if (r.status == 2 || strstr(r.err, "larger"))
		fail_msg("a reproducer of exactly 65,536 bytes: exit %d\n%s", r.status, r.err);
	rrt_free(&r);
	big[65535] = '#';
	big[65536] = '\n';
	write_bytes(path, big, 65537);
	snprintf(args, sizeof args, "replay %s", path);
	expect_one_line_2(rrt_bin("none"), args, "larger than 65536 bytes", NULL);
	/* Cut inside its signature line. */
	char *sig = strstr(good, "\nsignature ");
	assert_non_null(sig);
	int line = 2;
	for (const char *q = good; q < sig; q++)
		line += *q == '\n';
	char what[64];
	snprintf(what, sizeof what, "line %d", line);
	snprintf(path, sizeof path, "%s/cut.repro", tmp);
	write_bytes(path, good, (size_t)(sig - good) + 1 + 15);
	for (int i = 0; i < 3; i++) {
		snprintf(args, sizeof args, "%s %s", repro_commands[i], path);
		expect_one_line_2(rrt_bin("none"), args, what, NULL);
	}
	/* Duplicate keys: a second schedule line, a second seed, a second param. */
	static const char *const dups[] = {"schedule 00\n", "seed 0x1\n", "param work_us=5\n"};
	for (int k = 0; k < 3; k++) {
		char text[8192];
		snprintf(text, sizeof text, "%s%s", good, dups[k]);
		snprintf(path, sizeof path, "%s/dup%d.repro", tmp, k);
		write_bytes(path, text, strlen(text));
		snprintf(what, sizeof what, "line %d", count_lines(good) + 1);
		for (int i = 0; i < 3; i++) {
			snprintf(args, sizeof args, "%s %s", repro_commands[i], path);
			expect_one_line_2(rrt_bin("none"), args, what, NULL);
		}
	}
	free(good);
}

/* A reproducer whose every trial run is slow: broken_pipe with each cleanup
 * callback working WORK_US microseconds. */
static void slow_repro(const char *path, const char *work_us)
{
	char *text = rrt_read_file("corpus/broken_pipe/repro/input-bad-fd.repro");
	char *p = strstr(text, "param work_us=");
	assert_non_null(p);
	char slow[8192];
	snprintf(slow, sizeof slow, "%.*sparam work_us=%s%s", (int)(p - text), text, work_us,
		 strchr(p, '\n'));
	free(text);
	write_bytes(path, slow, strlen(slow));
}

/* Waits up to MS for PID; returns its wait status, or -1 (then kills it). */
static int wait_bounded(pid_t pid, int ms)
{
	int st;
	for (int t = 0; t <= ms; t += 20) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		sleep_ms(20);
	}
	kill_session(pid);
	waitpid(pid, &st, 0);
	return -1;
}

/* Item 10: minimize stops on SIGINT and SIGTERM with 128+N and writes
 * nothing; --duration bounds it and it writes the shortest schedule so far. */
static void test_minimize_stops_on_signals_and_duration(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char repro[512], out[512], log[512];
	snprintf(repro, sizeof repro, "%s/slow.repro", tmp);
	snprintf(log, sizeof log, "%s/minimize.log", tmp);
	slow_repro(repro, "400000");
	static const int sigs[] = {SIGINT, SIGTERM};
	for (int k = 0; k < 2; k++) {
		snprintf(out, sizeof out, "%s/out%d.repro", tmp, k);
		pid_t pid = start_session(NULL, log, "%s minimize %s -o %s", rrt_bin("none"), repro, out);
		sleep_ms(1500);
		assert_int_equal(kill(pid, sigs[k]), 0);
		int st = wait_bounded(pid, 60000);
		struct stat sb;
		int wrote = stat(out, &sb) == 0;
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 128 + sigs[k] || wrote)
			fail_msg("minimize after SIG%s: want exit %d and no %s; got %s %d, output %s",
				 sigabbrev_np(sigs[k]), 128 + sigs[k], out,
				 st < 0 ? "still running after 60 s," : "status", st < 0 ? 0 : WEXITSTATUS(st),
				 wrote ? "written" : "none");
	}
	/* --duration: done within the bound (plus one trial), output written and
	 * still failing. */
	snprintf(out, sizeof out, "%s/bounded.repro", tmp);
	pid_t pid = start_session(NULL, log, "%s minimize %s -o %s --duration 2s", rrt_bin("none"),
				  repro, out);
	int st = wait_bounded(pid, 90000);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("minimize --duration 2s: want exit 0 within 90 s; got %s %d (see %s)",
			 st < 0 ? "still running," : "status", st < 0 ? 0 : WEXITSTATUS(st), log);
	struct rrt_result r;
	rrt_run(&r, "%s replay %s", rrt_bin("none"), out);
	assert_int_equal(r.status, 1);
	rrt_free(&r);
}

/* Every regular file under DIR that anyone but the owner may read or write;
 * their names go to BAD. */
static int count_open_files(const char *dir, char *bad, size_t cap)
{
	struct rrt_result r;
	rrt_run(&r, "find %s -type f -perm /077", dir);
	int n = count_lines(r.out);
	snprintf(bad, cap, "%s", r.out);
	rrt_free(&r);
	return n;
}

/* Item 4: report files are owner-only (0600) whatever the umask: summary.*,
 * junit.xml, trace.txt and the rest, live and rebuilt by `report`. */
static void test_report_files_are_owner_only(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char bad[4096];
	struct rrt_result r;
	rrt_run(&r, "umask 000 && %s run test_crash --iterations 2 --strategy random --quiet --out %s/r",
		rrt_bin("none-test"), tmp);
	rrt_free(&r);
	char dir[512];
	snprintf(dir, sizeof dir, "%s/r", tmp);
	char summary[600];
	snprintf(summary, sizeof summary, "%s/summary.json", dir);
	json_decref(rrt_load_json(summary));
	int n = count_open_files(dir, bad, sizeof bad);
	if (n)
		fail_msg("under umask 000, %d report files are not owner-only:\n%s", n, bad);
	rrt_run(&r, "umask 000 && %s report %s", rrt_bin("none-test"), dir);
	rrt_free(&r);
	n = count_open_files(dir, bad, sizeof bad);
	if (n)
		fail_msg("after `report` under umask 000, %d files are not owner-only:\n%s", n, bad);
}

/* Item 3: run ids collide across PID namespaces (the same pid in the same
 * second). Simulated here: before exec, the child makes the folders its own
 * default run id would name for the next seconds (as another container's run
 * would have). The run must take another id, not write into them. */
static void test_colliding_run_ids_get_their_own_folder(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char bin[1024];
	const char *b = rrt_bin("none");
	if (b[0] == '/')
		snprintf(bin, sizeof bin, "%s", b);
	else
		assert_non_null(realpath(b, bin));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (chdir(tmp) < 0 || mkdir("reports", 0755) < 0)
			_exit(120);
		time_t now = time(NULL);
		for (int k = 0; k < 30; k++) {
			time_t t = now + k;
			struct tm tm;
			char stamp[32], dir[128];
			gmtime_r(&t, &tm);
			strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
			snprintf(dir, sizeof dir, "reports/%s-run-%d", stamp, (int)getpid());
			if (mkdir(dir, 0700) < 0)
				_exit(121);
		}
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "run", "broken_pipe", "--variant", "fixed", "--iterations", "3",
		      "--quiet", (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	int status = WEXITSTATUS(st);
	struct rrt_result r;
	rrt_run(&r, "cd %s/reports && find . -mindepth 2 -maxdepth 2 -name summary.json", tmp);
	int summaries = count_lines(r.out);
	char found[1024];
	snprintf(found, sizeof found, "%s", r.out);
	rrt_free(&r);
	rrt_run(&r, "cd %s/reports && find . -mindepth 1 -maxdepth 1 -type d -empty | wc -l", tmp);
	int empty = atoi(r.out);
	rrt_free(&r);
	/* Its summary is in a folder of its own: not one of the 30 made for it. */
	if (status != 0 || summaries != 1 || empty != 30)
		fail_msg("a run whose id was taken: exit %d, %d summaries (%s), %d of the 30 taken "
			 "folders left alone",
			 status, summaries, found, empty);
}

/* Item 16 (part B): the terminal summary ends with an overall verdict line;
 * a fix confidence too small for a double is "< 1e-300", never "= 0". */
static void test_verdict_line_and_fix_confidence(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	struct rrt_result r;
	/* 20 iterations: the buggy cell may miss, the verdict line says which. */
	rrt_run(&r, "%s soak broken_pipe --strategy random --iterations 20 --seed 1 --quiet --out %s/s",
		rrt_bin("none"), tmp);
	const char *last = r.out + strlen(r.out);
	if (last > r.out)
		last--;
	while (last > r.out && last[-1] != '\n')
		last--;
	int holds = r.status == 0;
	if (strncmp(last, holds ? "Verdict: holds\n" : "Verdict: FAILS (", holds ? 15 : 16))
		fail_msg("soak exited %d; its last line is not the verdict:\n%s", r.status, r.out);
	rrt_free(&r);
	/* A long clean fixed cell against a buggy twin that failed half the time:
	 * (1/2)^55577 underflows. The events are the run's own, with the counts
	 * of such a run; `report` rebuilds the summaries from them. */
	char path[512];
	snprintf(path, sizeof path, "%s/s/events.jsonl", tmp);
	char *ev = rrt_read_file(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (char *line = strtok(ev, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strstr(line, "\"event\":\"cell_end\"")) {
			fprintf(f, "%s\n", line);
			continue;
		}
		int buggy = strstr(line, "\"variant\":\"buggy\"") != NULL;
		fprintf(f,
			"{\"event\":\"cell_end\",\"scenario\":\"broken_pipe\",\"variant\":\"%s\","
			"\"strategy\":\"random\",\"seed\":\"0x0000000000000001\",\"iterations\":%d,"
			"\"failures\":%d,\"errors\":0,\"elapsed_s\":10.0,\"rate\":100.0,\"outcomes\":"
			"{\"pass\":%d,\"bug\":%d,\"sanitizer\":0,\"crash\":0,\"hang\":0,\"error\":0},"
			"\"by_strategy\":{\"random\":{\"iterations\":%d,\"failures\":%d}},\"env\":{},"
			"\"t\":1.0}\n",
			buggy ? "buggy" : "fixed", buggy ? 1000 : 55577, buggy ? 500 : 0,
			buggy ? 500 : 55577, buggy ? 500 : 0, buggy ? 1000 : 55577, buggy ? 500 : 0);
	}
	fclose(f);
	free(ev);
	rrt_run(&r, "%s report %s/s", rrt_bin("none"), tmp);
	rrt_free(&r);
	snprintf(path, sizeof path, "%s/s/summary.md", tmp);
	char *md = rrt_read_file(path);
	const char *fc = strstr(md, "Fix confidence");
	const char *power = fc ? strstr(fc, "(1-p)^") : NULL;
	if (!power || strstr(power, "= 0") || !strstr(power, "< 1e-300") || !strstr(fc, "55577"))
		fail_msg("fix confidence of 55577 clean iterations at p = 0.5:\n%s", fc ? fc : md);
	free(md);
}

static long xml_count(const char *xml, const char *attr)
{
	const char *p = strstr(xml, attr);
	return p ? atol(p + strlen(attr)) : -1;
}

/* Item 5: after SIGTERM or SIGINT, junit.xml lists every planned cell and is
 * visibly not a pass: the cut-short cell an error (or its failure), the
 * cells never run skipped; `report DIR` rebuilds the same. */
static void test_interrupted_soak_junit_is_not_green(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	static const int sigs[] = {SIGTERM, SIGINT};
	for (int k = 0; k < 2; k++) {
		char out[512], log[512], path[600];
		snprintf(out, sizeof out, "%s/s%d", tmp, k);
		snprintf(log, sizeof log, "%s/soak%d.log", tmp, k);
		pid_t pid = start_session(NULL, log, "%s soak broken_pipe --duration 120s --quiet --out %s",
					  rrt_bin("none"), out);
		/* Interrupt once the first cell runs (its progress line is out). */
		snprintf(path, sizeof path, "%s/events.jsonl", out);
		int running = 0;
		for (int t = 0; t < 60000 && !running; t += 20) {
			struct stat st;
			running = stat(path, &st) == 0 && st.st_size > 300;
			if (!running)
				sleep_ms(20);
		}
		sleep_ms(500);
		assert_int_equal(kill(pid, sigs[k]), 0);
		int st = wait_bounded(pid, 60000);
		assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 128 + sigs[k]);
		for (int rebuilt = 0; rebuilt < 2; rebuilt++) {
			if (rebuilt) {
				struct rrt_result r;
				rrt_run(&r, "%s report %s", rrt_bin("none"), out);
				rrt_free(&r);
			}
			snprintf(path, sizeof path, "%s/junit.xml", out);
			rrt_check_xml(path);
			char *xml = rrt_read_file(path);
			long tests = xml_count(xml, "tests=\""), failures = xml_count(xml, "failures=\""),
			     errors = xml_count(xml, "errors=\""), skipped = xml_count(xml, "skipped=\"");
			int fixed_listed = strstr(xml, "name=\"fixed\"") != NULL;
			if (tests != 2 || !fixed_listed || failures + errors < 1 || skipped < 1)
				fail_msg("junit.xml after SIG%s%s: tests=%ld failures=%ld errors=%ld "
					 "skipped=%ld, fixed cell %s:\n%s",
					 sigabbrev_np(sigs[k]), rebuilt ? " (rebuilt)" : "", tests,
					 failures, errors, skipped, fixed_listed ? "listed" : "missing",
					 xml);
			free(xml);
		}
	}
}

/* Mounts a tmpfs of SIZE on DIR (root only); 0, or -1 (the test skips). */
static int mount_small(const char *dir, const char *size)
{
	struct rrt_result r;
	int rc = rrt_run(&r, "mount -t tmpfs -o size=%s,mode=0700 tmpfs %s", size, dir);
	rrt_free(&r);
	return rc == 0 ? 0 : -1;
}

static void unmount(const char *dir)
{
	struct rrt_result r;
	rrt_run(&r, "umount %s", dir);
	rrt_free(&r);
}

static int count_prefix_lines(const char *text, const char *prefix)
{
	int n = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

/* Item 6: a full disk. Mid-run: exactly one error line, exit 3, and every
 * finding the terminal reports has its line in events.jsonl. At the start:
 * the soak refuses to run. `report` into a full or read-only folder: exit 3,
 * one line, and no "wrote summary.json". Needs root for the small tmpfs. */
static void test_full_disk_loses_nothing_and_says_so_once(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	if (mount_small(dir, "48k") < 0)
		skip();
	struct rrt_result r;
	rrt_run(&r, "%s soak broken_pipe --duration 4s --seed 4 --out %s/run --quiet",
		rrt_bin("none"), dir);
	int status = r.status;
	int errors = count_prefix_lines(r.err, "racerepro: cannot");
	char *out = strdup(r.out), *err = strdup(r.err);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/run/events.jsonl", dir);
	rrt_check_jsonl(path);
	char *events = rrt_read_file(path);
	/* Each reported signature's evidence folder is named by a failure line. */
	int reported = 0, missing = 0;
	for (const char *p = out; (p = strstr(p, "/failures/")); p++) {
		const char *slash = strchr(p + 10, '/');
		if (!slash)
			break;
		char needle[300];
		snprintf(needle, sizeof needle, "\"repro\":\"failures/%.*s/", (int)(slash - p - 10),
			 p + 10);
		reported++;
		missing += !strstr(events, needle);
	}
	free(events);
	unmount(dir);
	if (status != 3 || errors != 1 || missing || !reported)
		fail_msg("a disk that fills mid-run: exit %d (want 3), %d error lines (want 1), %d of "
			 "%d reported findings missing from events.jsonl\nstdout:\n%s\nstderr:\n%s",
			 status, errors, missing, reported, out, err);
	free(out);
	free(err);

	/* A disk already full: the soak does not start. */
	assert_int_equal(mount_small(dir, "48k"), 0);
	rrt_run(&r, "dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; %s soak broken_pipe "
		    "--duration 4s --out %s/full --quiet",
		dir, rrt_bin("none"), dir);
	status = r.status;
	int lines = count_lines(r.err);
	int ran = strstr(r.out, "iterations") != NULL;
	char refused[2048];
	snprintf(refused, sizeof refused, "%s", r.err);
	rrt_free(&r);
	unmount(dir);
	if (status != 3 || lines != 1 || ran)
		fail_msg("a soak on a full disk: exit %d (want 3), %d stderr lines (want 1), %s:\n%s",
			 status, lines, ran ? "it ran" : "it did not run", refused);

	/* `report` into a full folder, then a read-only one. */
	static const char *const how[] = {"full", "read-only"};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(mount_small(dir, "256k"), 0);
		rrt_run(&r, "%s run broken_pipe --iterations 3 --quiet --out %s/r", rrt_bin("none"),
			dir);
		rrt_free(&r);
		if (k == 0)
			rrt_run(&r, "rm -f %s/r/summary.* %s/r/junit.xml; dd if=/dev/zero "
				    "of=%s/filler bs=1k 2>/dev/null; %s report %s/r",
				dir, dir, dir, rrt_bin("none"), dir);
		else
			rrt_run(&r, "mount -o remount,ro %s && %s report %s/r", dir, rrt_bin("none"),
				dir);
		status = r.status;
		lines = count_lines(r.err);
		int wrote = strstr(r.err, "wrote summary.json") != NULL;
		char said[2048];
		snprintf(said, sizeof said, "%s", r.err);
		rrt_free(&r);
		unmount(dir);
		if (status != 3 || lines != 1 || wrote)
			fail_msg("report into a %s folder: exit %d (want 3), %d lines (want 1)%s:\n%s",
				 how[k], status, lines, wrote ? ", claims it wrote summary.json" : "",
				 said);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_leaves_no_processes_or_segments),
		cmocka_unit_test(test_killed_runs_leave_no_folders),
		cmocka_unit_test(test_closed_std_fds_keep_events_clean),
		cmocka_unit_test(test_declared_deadlock_is_reproduced),
		cmocka_unit_test(test_explain_marks_preemptions_and_keeps_the_finding),
		cmocka_unit_test(test_one_iteration_numbering),
		cmocka_unit_test(test_bad_param_value_is_a_usage_error),
		cmocka_unit_test(test_reproducer_files_are_checked),
		cmocka_unit_test(test_minimize_stops_on_signals_and_duration),
		cmocka_unit_test(test_report_files_are_owner_only),
		cmocka_unit_test(test_colliding_run_ids_get_their_own_folder),
		cmocka_unit_test(test_verdict_line_and_fix_confidence),
		cmocka_unit_test(test_interrupted_soak_junit_is_not_green),
		cmocka_unit_test(test_full_disk_loses_nothing_and_says_so_once),
	};
	RRT_MAIN(tests);
}
