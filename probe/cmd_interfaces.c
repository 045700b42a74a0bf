/* iceprobe interfaces [--json] [--profile FILE] */
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "iceprobe/cli.h"
#include "commands.h"
#include "netif.h"

static void print_table(const NetifInventory *inv)
{
    printf("%-16s %-9s %-10s %-4s %-24s %s\n", "NAME", "CLASS", "KIND", "UP", "ADDRESSES", "WHY");
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        g_autoptr(GString) addrs = g_string_new(NULL);
        for (guint a = 0; a < i->prefixes->len; a++)
            g_string_append_printf(addrs, "%s%s", a ? "," : "", (char *)i->prefixes->pdata[a]);
        printf("%-16s %-9s %-10s %-4s %-24s %s\n", i->name, netif_class_to_string(i->klass),
               i->kind, i->up ? "yes" : "no", addrs->len ? addrs->str : "-", i->reason);
    }
}

int cmd_interfaces(int argc, char **argv)
{
    gboolean json = FALSE;
    g_autofree char *profile_path = NULL;
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON", NULL},
        {"profile", 0, 0, G_OPTION_ARG_FILENAME, &profile_path,
         "apply this profile's tunnel_names and vpn_ranges", "FILE"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe", "interfaces", "local interfaces and their class", entries,
                           &argc, &argv))
        return CLI_EXIT_ERROR;

    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) profile = NULL;
    if (profile_path && !(profile = profile_load(profile_path, &error))) {
        fprintf(stderr, "iceprobe interfaces: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(NetifInventory) inv = netif_inventory_new(profile, &error);
    if (!inv) {
        fprintf(stderr, "iceprobe interfaces: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    if (!json) {
        print_table(inv);
        return CLI_EXIT_PASS;
    }
    JsonArray *ifs = json_array_new();
    for (guint k = 0; k < inv->interfaces->len; k++)
        json_array_add_object_element(
            ifs, netif_interface_to_json(inv->interfaces->pdata[k],
                                         NETIF_JSON_INDEX | NETIF_JSON_STATE, G_MAXUINT));
    JsonObject *top = json_object_new();
    json_object_set_array_member(top, "interfaces", ifs);
    g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), top);
    json_object_unref(top);
    g_autofree char *text = json_to_string(root, TRUE);
    printf("%s\n", text);
    return CLI_EXIT_PASS;
}
