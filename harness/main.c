/* main.c: the racerepro binary; everything else lives in the harness. */
int rr__cli_main(int argc, char **argv);

int main(int argc, char **argv)
{
	return rr__cli_main(argc, argv);
}
