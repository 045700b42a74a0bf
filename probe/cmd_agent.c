/* iceprobe agent --controller URL [--controller URL...] --token-file FILE [--spool DIR]
 *               [--ca-file FILE] [--status] [--max-runs N] [--settle-s N] [--service]
 *
 * The command's options; the agent itself is probe/agent/agent.c. */
#include <stdio.h>
#include <string.h>

#include "iceprobe/cli.h"
#include "iceprobe/keyfile.h"
#include "agent-main.h"
#include "commands.h"
#include "places.h"
#include "service.h"
#include "spool.h"

#define AGENT_MAX_CONTROLLERS 16

/* What the command line gave, checked by agent_start(): under --service its
 * errors must reach the service's log, which exists only once the service
 * has started. */
typedef struct {
    char *token_file, *spool, *ca_file, *name;
    char **groups, **controllers;
    int max_runs, settle_s;
} AgentArgs;

static void agent_args_clear(AgentArgs *a)
{
    g_free(a->token_file);
    g_free(a->spool);
    g_free(a->ca_file);
    g_free(a->name);
    g_strfreev(a->groups);
    g_strfreev(a->controllers);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentArgs, agent_args_clear)

/* The arguments checked, the token read, then the agent. */
static int agent_start(gpointer data)
{
    AgentArgs *a = data;
    if (!a->controllers || !a->token_file) {
        cli_error("iceprobe agent", "--controller URL and --token-file FILE are required "
                                    "(try 'iceprobe agent --help')");
        return CLI_EXIT_ERROR;
    }
    if (g_strv_length(a->controllers) > AGENT_MAX_CONTROLLERS) {
        cli_error("iceprobe agent", "--controller given %u times; at most %d",
                  g_strv_length(a->controllers), AGENT_MAX_CONTROLLERS);
        return CLI_EXIT_ERROR;
    }
    for (char **c = a->controllers; *c; c++) {
        if ((!g_str_has_prefix(*c, "https://") && !g_str_has_prefix(*c, "http://")) ||
            strchr(*c, ',')) {
            cli_error("iceprobe agent", "--controller %s: not an http(s):// URL", *c);
            return CLI_EXIT_ERROR;
        }
    }
    g_autofree char *controller = g_strjoinv(",", a->controllers);
    if (a->max_runs < 0) {
        cli_error("iceprobe agent", "--max-runs must not be negative");
        return CLI_EXIT_ERROR;
    }
    if (a->settle_s < 1 || a->settle_s > 300) {
        cli_error("iceprobe agent", "--settle-s %d: must be 1-300 (seconds)", a->settle_s);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(GError) e = NULL;
    char *token = agent_read_token(a->token_file, &e);
    if (!token) {
        cli_error("iceprobe agent", "%s", e->message);
        return CLI_EXIT_ERROR;
    }
    AgentOptions opt = {.controller = controller,
                        .token = token,
                        .spool = a->spool,
                        .ca_file = a->ca_file,
                        .name = a->name,
                        .groups = a->groups,
                        .max_runs = (guint)a->max_runs,
                        .settle_s = (guint)a->settle_s};
    int rc = agent_main(&opt);
    keyfile_secret_free(token);
    return rc;
}

int cmd_agent(int argc, char **argv)
{
    g_auto(AgentArgs) a = {.settle_s = 5};
    gboolean status = FALSE, service = FALSE;
    g_autofree char *spool_help = g_strdup_printf(
        "where reports wait for the controller (default: %s)", places_default_spool_help());
    const GOptionEntry entries[] = {
        {"controller", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a.controllers,
         "the controller's URL (https://host:port); repeat for several controllers sharing "
         "one store: the agent moves on when one stops answering",
         "URL"},
        {"token-file", 0, 0, G_OPTION_ARG_FILENAME, &a.token_file,
         "the file holding this agent's token (from iceprobe-controller agent-add)", "FILE"},
        {"spool", 0, 0, G_OPTION_ARG_FILENAME, &a.spool, spool_help, "DIR"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &a.ca_file,
         "verify the controller against these CAs (default: the system's)", "FILE"},
        {"name", 0, 0, G_OPTION_ARG_STRING, &a.name, "restate the agent's name (must match)",
         "NAME"},
        {"group", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a.groups,
         "restate a group of the agent (must match; repeat for several)", "GROUP"},
        {"status", 0, 0, G_OPTION_ARG_NONE, &status,
         "print the spool's reports and why their uploads failed, then exit", NULL},
        {"max-runs", 0, 0, G_OPTION_ARG_INT, &a.max_runs,
         "exit after this many runs, once their reports are acknowledged (0: never)", "N"},
        {"settle-s", 0, 0, G_OPTION_ARG_INT, &a.settle_s,
         "tell the controller of a network change (a VPN up or down, an address, the default "
         "route) once the network has been quiet this long (1-300, default 5)",
         "N"},
        {"service", 0, 0, G_OPTION_ARG_NONE, &service,
         "Windows: run as the service " SERVICE_NAME " of the Service Control Manager, logging "
         "to %ProgramData%\\iceprobe\\agent.log (Linux refuses it: systemd runs the agent as "
         "it is)",
         NULL},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe", "agent", "the long-running agent of a controller", entries,
                           &argc, &argv))
        return CLI_EXIT_ERROR;
    if (!a.spool)
        a.spool = agent_default_spool();
    if (status) {
        g_autoptr(GError) e = NULL;
        g_autofree char *text = spool_status_text(a.spool, &e);
        if (!text) {
            cli_error("iceprobe agent", "%s", e->message);
            return CLI_EXIT_ERROR;
        }
        fputs(text, stdout);
        return CLI_EXIT_PASS;
    }
    if (!service)
        return agent_start(&a);
    int rc = CLI_EXIT_ERROR;
    g_autoptr(GError) e = NULL;
    if (!service_run(agent_start, &a, &rc, &e)) {
        cli_error("iceprobe agent", "%s", e->message);
        return CLI_EXIT_ERROR;
    }
    return rc;
}
