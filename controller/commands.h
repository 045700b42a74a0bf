/* The iceprobe-controller subcommands; controller/main.c lists them. */
#pragma once

int cmd_serve(int argc, char **argv);
int cmd_agent_add(int argc, char **argv);
int cmd_agent_list(int argc, char **argv);
int cmd_agent_remove(int argc, char **argv);
