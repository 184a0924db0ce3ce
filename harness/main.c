/* main.c: the racerepro binary; everything else lives in the harness. */
#include "cli.h"

int main(int argc, char **argv)
{
	return rr__cli_main(argc, argv);
}
