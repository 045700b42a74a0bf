/* The iceprobe subcommands (probe/cmd_*.c); probe/main.c lists them. */
#pragma once

int cmd_interfaces(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* iceprobe run --peer (cmd_peer.c). */
typedef struct {
    const char *profile_path, *controller, *token_file, *peer, *ca_file;
    const char *json_path, *junit_path;
} PeerRunOptions;
int run_with_peer(const PeerRunOptions *o);
