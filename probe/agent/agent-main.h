/* The agent (agent.c; the command: probe/cmd_agent.c): its options, shared with `iceprobe run --peer`. */
#pragma once

#include <glib.h>

typedef struct {
    const char *controller; /* base URL, or several separated by commas (http.h) */
    const char *token;
    const char *spool;
    const char *ca_file;
    const char *name; /* restated, must match agent-add's */
    char **groups;    /* likewise */
    guint max_runs;   /* exit after this many runs are acknowledged; 0: never */
    guint settle_s;   /* a network change is reported once quiet this long (netwatch.h) */
} AgentOptions;

int agent_main(const AgentOptions *opt);
/* A token file's one line (16-256 printable characters). */
char *agent_read_token(const char *path, GError **error);
/* The platform's default (places.h): Linux $STATE_DIRECTORY/spool,
 * /var/lib/iceprobe-agent/spool as root, else the user's state dir. */
char *agent_default_spool(void);
