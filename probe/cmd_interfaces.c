/* iceprobe interfaces [--json] [--profile FILE] */
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "iceprobe/cli.h"
#include "commands.h"
#include "netif.h"

static JsonNode *interface_json(const NetifInterface *i)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, i->name);
    json_builder_set_member_name(b, "index");
    json_builder_add_int_value(b, i->index);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, netif_class_to_string(i->klass));
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, i->kind);
    json_builder_set_member_name(b, "up");
    json_builder_add_boolean_value(b, i->up);
    json_builder_set_member_name(b, "addresses");
    json_builder_begin_array(b);
    for (guint k = 0; k < i->prefixes->len; k++)
        json_builder_add_string_value(b, i->prefixes->pdata[k]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, i->reason);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

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
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "interfaces");
    json_builder_begin_array(b);
    for (guint k = 0; k < inv->interfaces->len; k++)
        json_builder_add_value(b, interface_json(inv->interfaces->pdata[k]));
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);
    printf("%s\n", text);
    return CLI_EXIT_PASS;
}
