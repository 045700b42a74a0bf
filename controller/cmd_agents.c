/* iceprobe-controller agent-add | agent-list | agent-remove --config FILE */
#include <stdio.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "credentials.h"
#include "iceprobe/cli.h"
#include "iceprobe/protocol.h"
#include "privileges.h"
#include "store.h"

/* The configuration and store of an agent command (as [server] user when root,
 * so a store it creates belongs to the controller). NULL after printing why. */
static Store *open_store(const char *command, const char *config_path)
{
    if (!config_path) {
        fprintf(stderr, "iceprobe-controller %s: --config FILE is required\n", command);
        return NULL;
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(ControllerConfig) config = config_load(config_path, &error);
    Store *store = NULL;
    if (config && privileges_drop(config->user, &error))
        store = store_open(config_store_target(config), &error);
    if (!store)
        fprintf(stderr, "iceprobe-controller %s: %s\n", command, error->message);
    return store;
}

int cmd_agent_add(int argc, char **argv)
{
    g_autofree char *config_path = NULL, *name = NULL;
    g_auto(GStrv) groups = NULL;
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "the configuration file", "FILE"},
        {"name", 'n', 0, G_OPTION_ARG_STRING, &name, "the agent's name", "NAME"},
        {"group", 'g', 0, G_OPTION_ARG_STRING_ARRAY, &groups, "a group (may be repeated)", "GROUP"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe-controller", "agent-add", "register an agent", entries, &argc,
                           &argv))
        return CLI_EXIT_ERROR;
    if (!protocol_valid_name(name)) {
        fprintf(stderr,
                "iceprobe-controller agent-add: --name NAME is required: 1-%d letters, "
                "digits, '.', '_' or '-'\n",
                PROTOCOL_MAX_NAME);
        return CLI_EXIT_ERROR;
    }
    for (char **g = groups; g && *g; g++) {
        if (!protocol_valid_name(*g)) {
            fprintf(stderr, "iceprobe-controller agent-add: --group '%s' is not a name\n", *g);
            return CLI_EXIT_ERROR;
        }
    }
    g_autoptr(Store) store = open_store("agent-add", config_path);
    if (!store)
        return CLI_EXIT_ERROR;
    g_autofree char *token = credentials_new_token();
    g_autofree char *hash = token ? credentials_token_hash(token) : NULL;
    g_autoptr(GError) error = NULL;
    static const char *const none[] = {NULL};
    if (!hash || !store_agent_add(store, name, groups ? (const char *const *)groups : none, hash,
                                  g_get_real_time() / G_USEC_PER_SEC, &error)) {
        fprintf(stderr, "iceprobe-controller agent-add: %s\n",
                error ? error->message : "no random token could be made");
        return CLI_EXIT_ERROR;
    }
    g_autofree char *joined = groups ? g_strjoinv(", ", groups) : g_strdup("no group");
    printf("agent '%s' added (%s); its token follows, shown this once: put it in the agent's "
           "--token-file\n%s\n",
           name, joined, token);
    return CLI_EXIT_PASS;
}

int cmd_agent_list(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "the configuration file", "FILE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "as JSON", NULL},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe-controller", "agent-list", "list the registered agents",
                           entries, &argc, &argv))
        return CLI_EXIT_ERROR;
    g_autoptr(Store) store = open_store("agent-list", config_path);
    if (!store)
        return CLI_EXIT_ERROR;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) agents = store_agent_list(store, &error);
    if (!agents) {
        fprintf(stderr, "iceprobe-controller agent-list: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    if (json)
        printf("[");
    else
        printf("%-24s %-24s %-20s %s\n", "NAME", "GROUPS", "LAST SEEN (UTC)", "VERSION");
    for (guint i = 0; i < agents->len; i++) {
        StoreAgent *a = agents->pdata[i];
        g_autofree char *groups = g_strjoinv(",", a->groups);
        g_autofree char *seen = NULL;
        if (a->last_seen) {
            g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(a->last_seen);
            seen = g_date_time_format(t, json ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S");
        }
        if (json) {
            g_autofree char *q_name = g_strescape(a->name, NULL);
            g_autofree char *q_groups = g_strescape(groups, NULL);
            printf("%s{\"name\":\"%s\",\"groups\":\"%s\",\"last_seen\":%s%s%s}", i ? "," : "",
                   q_name, q_groups, seen ? "\"" : "", seen ? seen : "null", seen ? "\"" : "");
        } else {
            printf("%-24s %-24s %-20s %s\n", a->name, groups, seen ? seen : "never",
                   a->version ? a->version : "-");
        }
    }
    if (json)
        printf("]\n");
    return CLI_EXIT_PASS;
}

int cmd_agent_remove(int argc, char **argv)
{
    g_autofree char *config_path = NULL, *name = NULL;
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "the configuration file", "FILE"},
        {"name", 'n', 0, G_OPTION_ARG_STRING, &name, "the agent's name", "NAME"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe-controller", "agent-remove",
                           "remove an agent and revoke its token", entries, &argc, &argv))
        return CLI_EXIT_ERROR;
    if (!name) {
        fprintf(stderr, "iceprobe-controller agent-remove: --name NAME is required\n");
        return CLI_EXIT_ERROR;
    }
    g_autoptr(Store) store = open_store("agent-remove", config_path);
    if (!store)
        return CLI_EXIT_ERROR;
    g_autoptr(GError) error = NULL;
    if (!store_agent_remove(store, name, &error)) {
        fprintf(stderr, "iceprobe-controller agent-remove: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    printf("agent '%s' removed; its token no longer works\n", name);
    return CLI_EXIT_PASS;
}
