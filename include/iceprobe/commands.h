/* The iceprobe subcommands (probe/cmd_*.c); probe/main.c lists them. */
#pragma once

int cmd_interfaces(int argc, char **argv);
