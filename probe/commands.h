/* The iceprobe subcommands (probe/cmd_*.c); probe/main.c lists them. */
#pragma once

int cmd_interfaces(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_agent(int argc, char **argv);
