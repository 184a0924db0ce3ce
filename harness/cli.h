/*
 * cli.h: the racerepro command line (cli.c), called by main.c.
 */
#ifndef RR_CLI_H
#define RR_CLI_H

/* Runs `racerepro ARGV[1] ...`; returns the process exit code. */
int rr__cli_main(int argc, char **argv);

#endif
