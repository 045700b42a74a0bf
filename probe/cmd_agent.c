/* iceprobe agent --controller URL [--controller URL...] --token-file FILE [--spool DIR]
 *               [--ca-file FILE] [--status] [--max-runs N] [--settle-s N]
 *
 * The command's options; the agent itself is probe/agent/agent.c. */
#include <stdio.h>
#include <string.h>

#include "iceprobe/cli.h"
#include "iceprobe/keyfile.h"
#include "agent-main.h"
#include "commands.h"
#include "places.h"
#include "spool.h"

#define AGENT_MAX_CONTROLLERS 16

int cmd_agent(int argc, char **argv)
{
    g_autofree char *token_file = NULL, *spool = NULL, *ca_file = NULL, *name = NULL;
    g_auto(GStrv) groups = NULL, controllers = NULL;
    gboolean status = FALSE;
    int max_runs = 0, settle_s = 5;
    g_autofree char *spool_help = g_strdup_printf(
        "where reports wait for the controller (default: %s)", places_default_spool_help());
    const GOptionEntry entries[] = {
        {"controller", 0, 0, G_OPTION_ARG_STRING_ARRAY, &controllers,
         "the controller's URL (https://host:port); repeat for several controllers sharing "
         "one store: the agent moves on when one stops answering",
         "URL"},
        {"token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
         "the file holding this agent's token (from iceprobe-controller agent-add)", "FILE"},
        {"spool", 0, 0, G_OPTION_ARG_FILENAME, &spool, spool_help, "DIR"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
         "verify the controller against these CAs (default: the system's)", "FILE"},
        {"name", 0, 0, G_OPTION_ARG_STRING, &name, "restate the agent's name (must match)", "NAME"},
        {"group", 0, 0, G_OPTION_ARG_STRING_ARRAY, &groups,
         "restate a group of the agent (must match; repeat for several)", "GROUP"},
        {"status", 0, 0, G_OPTION_ARG_NONE, &status,
         "print the spool's reports and why their uploads failed, then exit", NULL},
        {"max-runs", 0, 0, G_OPTION_ARG_INT, &max_runs,
         "exit after this many runs, once their reports are acknowledged (0: never)", "N"},
        {"settle-s", 0, 0, G_OPTION_ARG_INT, &settle_s,
         "tell the controller of a network change (a VPN up or down, an address, the default "
         "route) once the network has been quiet this long (1-300, default 5)",
         "N"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe", "agent", "the long-running agent of a controller", entries,
                           &argc, &argv))
        return CLI_EXIT_ERROR;
    if (!spool)
        spool = agent_default_spool();
    if (status) {
        g_autoptr(GError) e = NULL;
        g_autofree char *text = spool_status_text(spool, &e);
        if (!text) {
            fprintf(stderr, "iceprobe agent: %s\n", e->message);
            return CLI_EXIT_ERROR;
        }
        fputs(text, stdout);
        return CLI_EXIT_PASS;
    }
    if (!controllers || !token_file) {
        fprintf(stderr, "iceprobe agent: --controller URL and --token-file FILE are required "
                        "(try 'iceprobe agent --help')\n");
        return CLI_EXIT_ERROR;
    }
    if (g_strv_length(controllers) > AGENT_MAX_CONTROLLERS) {
        fprintf(stderr, "iceprobe agent: --controller given %u times; at most %d\n",
                g_strv_length(controllers), AGENT_MAX_CONTROLLERS);
        return CLI_EXIT_ERROR;
    }
    for (char **c = controllers; *c; c++) {
        if ((!g_str_has_prefix(*c, "https://") && !g_str_has_prefix(*c, "http://")) ||
            strchr(*c, ',')) {
            fprintf(stderr, "iceprobe agent: --controller %s: not an http(s):// URL\n", *c);
            return CLI_EXIT_ERROR;
        }
    }
    g_autofree char *controller = g_strjoinv(",", controllers);
    if (max_runs < 0) {
        fprintf(stderr, "iceprobe agent: --max-runs must not be negative\n");
        return CLI_EXIT_ERROR;
    }
    if (settle_s < 1 || settle_s > 300) {
        fprintf(stderr, "iceprobe agent: --settle-s %d: must be 1-300 (seconds)\n", settle_s);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(GError) e = NULL;
    char *token = agent_read_token(token_file, &e);
    if (!token) {
        fprintf(stderr, "iceprobe agent: %s\n", e->message);
        return CLI_EXIT_ERROR;
    }
    AgentOptions opt = {.controller = controller,
                        .token = token,
                        .spool = spool,
                        .ca_file = ca_file,
                        .name = name,
                        .groups = groups,
                        .max_runs = (guint)max_runs,
                        .settle_s = (guint)settle_s};
    int rc = agent_main(&opt);
    keyfile_secret_free(token);
    return rc;
}
