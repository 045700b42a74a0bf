/* Route prefixes: the profile's own, and Microsoft 365's Optimize endpoints read
 * with the one capped JSON reader (jsonin.c). */
#include "iceprobe/m365.h"

#include <string.h>

#include "iceprobe/jsonin.h"

G_DEFINE_QUARK(iceprobe - m365 - error - quark, m365_error)

void route_prefix_free(gpointer p)
{
    RoutePrefix *r = p;
    if (!r)
        return;
    g_clear_object(&r->prefix);
    g_free(r->cidr);
    g_free(r->udp_ports);
    g_free(r->tcp_ports);
    g_free(r->service);
    g_free(r);
}

char *route_prefix_spec(const RoutePrefix *r)
{
    return g_strdup_printf("%s%s%s%s%s", r->cidr, r->udp_ports ? " udp:" : "",
                           r->udp_ports ? r->udp_ports : "", r->tcp_ports ? " tcp:" : "",
                           r->tcp_ports ? r->tcp_ports : "");
}

char *route_prefix_ports(const RoutePrefix *r)
{
    if (!r->udp_ports && !r->tcp_ports)
        return NULL;
    return g_strdup_printf("%s%s%s%s%s", r->udp_ports ? "udp " : "",
                           r->udp_ports ? r->udp_ports : "",
                           r->udp_ports && r->tcp_ports ? ", " : "", r->tcp_ports ? "tcp " : "",
                           r->tcp_ports ? r->tcp_ports : "");
}

/* A ',' list of ports and ranges ("3478-3481,443"); its first port, 0 when the
 * text is not one. */
static guint16 port_list_first(const char *text)
{
    if (!text || !*text || strlen(text) > 256)
        return 0;
    guint16 first = 0;
    g_auto(GStrv) items = g_strsplit(text, ",", 64);
    for (char **i = items; *i; i++) {
        g_auto(GStrv) ends = g_strsplit(g_strstrip(*i), "-", 3);
        guint n = g_strv_length(ends);
        if (n < 1 || n > 2)
            return 0;
        guint64 lo = 0, hi = 0;
        if (!g_ascii_string_to_unsigned(ends[0], 10, 1, 65535, &lo, NULL) ||
            (n == 2 && (!g_ascii_string_to_unsigned(ends[1], 10, lo, 65535, &hi, NULL))))
            return 0;
        if (!first)
            first = (guint16)lo;
    }
    return first;
}

static GInetAddressMask *parse_cidr(const char *s)
{
    return strchr(s, '/') ? g_inet_address_mask_new_from_string(s, NULL) : NULL;
}

RoutePrefix *route_prefix_parse(const char *spec, GError **error)
{
    g_auto(GStrv) words = g_strsplit_set(spec, " \t", -1);
    RoutePrefix *r = g_new0(RoutePrefix, 1);
    r->service = g_strdup("the profile");
    for (char **w = words; *w; w++) {
        if (!**w)
            continue;
        if (!r->prefix) {
            r->prefix = parse_cidr(*w);
            if (!r->prefix) {
                g_set_error(error, M365_ERROR, M365_ERROR_FIELD,
                            "'%s' is not an address range (like 52.112.0.0/14)", *w);
                route_prefix_free(r);
                return NULL;
            }
            r->cidr = g_strdup(*w);
            continue;
        }
        gboolean udp = g_str_has_prefix(*w, "udp:"), tcp = g_str_has_prefix(*w, "tcp:");
        guint16 first = (udp || tcp) ? port_list_first(*w + 4) : 0;
        if (!first) {
            g_set_error(error, M365_ERROR, M365_ERROR_FIELD,
                        "'%s' (after %s) is not udp:PORTS or tcp:PORTS (like udp:3478-3481)", *w,
                        r->cidr);
            route_prefix_free(r);
            return NULL;
        }
        char **list = udp ? &r->udp_ports : &r->tcp_ports;
        if (*list) {
            g_set_error(error, M365_ERROR, M365_ERROR_FIELD, "%s: give %s ports once", r->cidr,
                        udp ? "udp" : "tcp");
            route_prefix_free(r);
            return NULL;
        }
        *list = g_strdup(*w + 4);
        if (udp)
            r->udp_port = first;
        else
            r->tcp_port = first;
    }
    if (!r->prefix) {
        g_set_error(error, M365_ERROR, M365_ERROR_FIELD, "an empty prefix");
        route_prefix_free(r);
        return NULL;
    }
    return r;
}

static const JsonInLimits endpoints_limits = {"the endpoints document", M365_MAX_BYTES, 8};

/* One entry's ports (udpPorts, tcpPorts: "3478,3479", "80,443") and the first of each. */
static gboolean entry_ports(JsonObject *o, const char *at, RoutePrefix *proto, GError **error)
{
    if (!jsonin_string(o, at, "udpPorts", FALSE, 256, &proto->udp_ports, error) ||
        !jsonin_string(o, at, "tcpPorts", FALSE, 256, &proto->tcp_ports, error))
        return FALSE;
    /* the web service writes them without spaces; a space would split must_bypass's item */
    if (proto->udp_ports)
        g_strdelimit(proto->udp_ports, " ", ',');
    if (proto->tcp_ports)
        g_strdelimit(proto->tcp_ports, " ", ',');
    if ((proto->udp_ports && !(proto->udp_port = port_list_first(proto->udp_ports))) ||
        (proto->tcp_ports && !(proto->tcp_port = port_list_first(proto->tcp_ports)))) {
        jsonin_field_error(error, at, proto->udp_ports && !proto->udp_port ? "udpPorts" : "tcpPorts",
                           "not a list of ports");
        return FALSE;
    }
    return TRUE;
}

GPtrArray *m365_endpoints_parse(const char *data, gsize len, GError **error)
{
    g_autoptr(JsonNode) root = jsonin_parse(data, len, &endpoints_limits, error);
    if (!root)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(root)) {
        g_set_error(error, M365_ERROR, M365_ERROR_SYNTAX,
                    "not Microsoft's endpoints document (a JSON array of endpoint sets)");
        return NULL;
    }
    JsonArray *a = json_node_get_array(root);
    guint n = json_array_get_length(a);
    if (n > M365_MAX_ENTRIES) {
        g_set_error(error, M365_ERROR, M365_ERROR_SIZE, "more than %d endpoint sets",
                    M365_MAX_ENTRIES);
        return NULL;
    }
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(route_prefix_free);
    for (guint i = 0; i < n; i++) {
        g_autofree char *at = g_strdup_printf("[%u]", i);
        JsonObject *o = jsonin_item_object(a, "", i, error);
        g_autofree char *category = NULL, *service = NULL;
        g_auto(GStrv) ips = NULL;
        if (!o || !jsonin_string(o, at, "category", FALSE, 64, &category, error) ||
            !jsonin_string(o, at, "serviceAreaDisplayName", FALSE, 256, &service, error) ||
            !jsonin_strv(o, at, "ips", FALSE, 1024, 64, &ips, error))
            return NULL;
        if (!category || strcmp(category, "Optimize") != 0 || !ips)
            continue;
        RoutePrefix proto = {0};
        if (!entry_ports(o, at, &proto, error)) {
            g_free(proto.udp_ports);
            g_free(proto.tcp_ports);
            return NULL;
        }
        for (guint j = 0; ips[j]; j++) {
            GInetAddressMask *m = parse_cidr(ips[j]);
            if (!m) {
                jsonin_field_error(error, at, "ips", "'%s' is not an address range", ips[j]);
                g_free(proto.udp_ports);
                g_free(proto.tcp_ports);
                return NULL;
            }
            if (out->len >= M365_MAX_PREFIXES) {
                g_object_unref(m);
                g_free(proto.udp_ports);
                g_free(proto.tcp_ports);
                g_set_error(error, M365_ERROR, M365_ERROR_SIZE, "more than %d Optimize prefixes",
                            M365_MAX_PREFIXES);
                return NULL;
            }
            RoutePrefix *r = g_new0(RoutePrefix, 1);
            r->prefix = m;
            r->cidr = g_strdup(ips[j]);
            r->udp_ports = g_strdup(proto.udp_ports);
            r->tcp_ports = g_strdup(proto.tcp_ports);
            r->udp_port = proto.udp_port;
            r->tcp_port = proto.tcp_port;
            r->service = g_strdup(service ? service : "Microsoft 365");
            g_ptr_array_add(out, r);
        }
        g_free(proto.udp_ports);
        g_free(proto.tcp_ports);
    }
    return g_steal_pointer(&out);
}

/* Addresses that speak for a prefix: its first, middle and last host (the
 * network's own address and the top one left out when the prefix is wide
 * enough), as Microsoft's connectivity test samples a prefix. */
GPtrArray *route_prefix_samples(GInetAddressMask *m)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    GInetAddress *base = g_inet_address_mask_get_address(m);
    guint bits = g_inet_address_mask_get_length(m);
    gsize n = g_inet_address_get_native_size(base);
    guint total = (guint)n * 8;
    guint8 net[16];
    memcpy(net, g_inet_address_to_bytes(base), n);
    for (guint b = bits; b < total; b++) /* the network's address, whatever was written */
        net[b / 8] &= (guint8) ~(0x80u >> (b % 8));
    GSocketFamily family = g_inet_address_get_family(base);
    guint host_bits = total - bits;
    for (int which = 0; which < 3; which++) {
        guint8 a[16];
        memcpy(a, net, n);
        if (host_bits == 0) {
            if (which > 0)
                break;
        } else if (which == 0) {
            if (host_bits > 1)
                a[n - 1] |= 1; /* the first host */
        } else if (which == 1) {
            if (host_bits < 3)
                continue;
            a[bits / 8] |= (guint8)(0x80u >> (bits % 8)); /* the middle */
            a[n - 1] |= 1;
        } else {
            for (guint b = bits; b < total; b++) /* the last host */
                a[b / 8] |= (guint8)(0x80u >> (b % 8));
            if (host_bits > 1)
                a[n - 1] &= 0xfe;
        }
        GInetAddress *addr = g_inet_address_new_from_bytes(a, family);
        gboolean dup = FALSE;
        for (guint i = 0; i < out->len; i++)
            dup |= g_inet_address_equal(out->pdata[i], addr);
        if (dup)
            g_object_unref(addr);
        else
            g_ptr_array_add(out, addr);
    }
    return out;
}
