/* The local checks of a run, before any media flows: which interfaces are
 * tunnels, where the edge names point, which way the kernel routes to the edge,
 * whether a TURN allocation works on each transport, and whether TLS on the TLS
 * port is the edge's own. Each adds one record to the result and the findings
 * that follow from it. */
#include <string.h>

#include "egress.h"
#include "identity.h"
#include "qoswatch.h"
#include "resolve.h"
#include "sock.h"
#include "run-private.h"
#include "vpn.h"

#define DNS_TIMEOUT_MS  3000
#define TURN_TIMEOUT_MS 4000

static double ms_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

char *run_addr_string(GInetAddress *a, guint port)
{
    g_autofree char *ip = g_inet_address_to_string(a);
    return g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6
               ? g_strdup_printf("[%s]:%u", ip, port)
               : g_strdup_printf("%s:%u", ip, port);
}

TlsRelayConfig run_tls_config(const RunCtx *c, guint port, gboolean tls)
{
    TlsRelayConfig cfg = {
        .edge_ip = c->edge_ip,
        .port = port,
        .tls = tls,
        .ca_file = c->profile->edge.tls_ca_file,
        .pin_sha256 = c->profile->edge.tls_pin_sha256,
        .server_name = c->profile->edge.tls_server_name,
        .timeout_ms = TURN_TIMEOUT_MS,
        /* MS-TURN's "TLS" is pseudo-TLS, spoken by libnice through a plain forwarder. */
        .ms_turn = c->profile->edge.ms_turn,
        .pseudo_tls = c->profile->edge.ms_turn && tls,
    };
    if (cfg.ms_turn)
        cfg.tls = FALSE;
    return cfg;
}

void checks_interfaces(RunCtx *c)
{
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GError) error = NULL;
    c->inv = netif_inventory_new(c->profile, &error);
    if (!c->inv) {
        run_result_add_check(c->result, "interfaces", VERDICT_ERROR, "%s", error->message);
        return;
    }
    JsonObject *probe = json_object_new();
    json_object_set_string_member(probe, "name", g_get_host_name());
    JsonArray *ifs = json_array_new();
    GString *tunnels = g_string_new(NULL);
    for (guint i = 0; i < c->inv->interfaces->len; i++) {
        const NetifInterface *n = c->inv->interfaces->pdata[i];
        json_array_add_object_element(ifs, netif_interface_to_json(n, NETIF_JSON_STATE, G_MAXUINT));
        if (n->klass == NETIF_CLASS_TUNNEL)
            g_string_append_printf(tunnels, "%s%s (%s)", tunnels->len ? ", " : "", n->name,
                                   n->reason);
    }
    json_object_set_array_member(probe, "interfaces", ifs);
    /* What this probe could see as the user it runs as: interfaces, addresses,
     * routes and counters come from netlink, readable by any user; a counter it
     * cannot read is named here (the tunnel's counters are evidence). */
    JsonArray *unseen = json_array_new();
    for (guint i = 0; i < c->inv->interfaces->len; i++) {
        const NetifInterface *n = c->inv->interfaces->pdata[i];
        guint64 rx, tx;
        g_autoptr(GError) e = NULL;
        if (!netif_counters(n->index, &rx, &tx, &e)) {
            g_autofree char *what = g_strdup_printf("packet counters of %s: %s", n->name,
                                                    e ? e->message : "unreadable");
            json_array_add_string_element(unseen, what);
        }
    }
    /* The VPN's own facts (the tunnel's product, MTU, pool address, split or
     * full, its gateway): null without a tunnel. */
    g_autoptr(GError) re = NULL;
    g_autoptr(GPtrArray) routes = netif_routes(&re);
    if (!routes) {
        g_autofree char *what = g_strdup_printf("the routing table: %s", re->message);
        json_array_add_string_element(unseen, what);
    }
    JsonObject *vpn = vpn_facts(c->inv, c->profile, routes);
    if (vpn)
        json_object_set_object_member(probe, "vpn", vpn);
    else
        json_object_set_null_member(probe, "vpn");
    identity_to_json(probe, unseen); /* uid (Linux) or elevated (Windows) */
    const char *platform_unseen[] = {egress_unavailable(), qos_unavailable()};
    for (gsize i = 0; i < G_N_ELEMENTS(platform_unseen); i++)
        if (platform_unseen[i])
            json_array_add_string_element(unseen, platform_unseen[i]);
    json_object_set_string_member(probe, "user", g_get_user_name());
    json_object_set_array_member(probe, "could_not_see", unseen);
    json_array_add_object_element(c->result->probes, probe);
    CheckRecord *r =
        run_result_add_check(c->result, "interfaces", VERDICT_PASS, "%u interfaces; tunnels: %s",
                             c->inv->interfaces->len, tunnels->len ? tunnels->str : "none");
    r->duration_ms = ms_since(t0);
    g_string_free(tunnels, TRUE);
}

/* Why an address is wrong for an edge name, or NULL when it is fine. */
static char *judge_address(const RunCtx *c, GInetAddress *a, GPtrArray *expected)
{
    g_autofree char *s = g_inet_address_to_string(a);
    if (profile_in_ranges(c->profile->network.vpn_ranges, a))
        return g_strdup_printf("%s is in the VPN pool", s);
    if (profile_in_ranges(c->profile->network.internal_ranges, a))
        /* A host without a tunnel is an internal client: the internal view, which
         * points it at the edge's internal interface, is the right one for it. */
        return c->internal_host ? NULL : g_strdup_printf("%s is an internal address", s);
    /* An edge name that gained an IPv6 address the profile does not list (it
     * lists the IPv4 ones iceprobe tests) is judged by the ranges only. */
    if (expected && expected->len && !profile_address_expected(expected, a))
        return g_strdup_printf("%s is not the expected external address", s);
    return NULL;
}

static gboolean check_name(RunCtx *c, const char *name, GPtrArray *expected, JsonArray *detail,
                           GString *problems, GPtrArray *keep)
{
    g_autoptr(GError) error = NULL;
    GList *addrs = resolve_name(name, DNS_TIMEOUT_MS, &error);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "name", name);
    JsonArray *got = json_array_new();
    gboolean ok = addrs != NULL;
    if (!addrs)
        g_string_append_printf(problems, "%s%s", problems->len ? "; " : "", error->message);
    for (GList *l = addrs; l; l = l->next) {
        g_autofree char *s = g_inet_address_to_string(l->data);
        json_array_add_string_element(got, s);
        g_autofree char *why = judge_address(c, l->data, expected);
        if (why) {
            ok = FALSE;
            g_string_append_printf(problems, "%s%s resolves to %s", problems->len ? "; " : "", name,
                                   why);
        }
        if (keep)
            g_ptr_array_add(keep, g_object_ref(l->data));
    }
    json_object_set_array_member(o, "addresses", got);
    json_object_set_boolean_member(o, "ok", ok);
    json_array_add_object_element(detail, o);
    g_resolver_free_addresses(addrs);
    return ok;
}

gboolean checks_dns(RunCtx *c)
{
    gint64 t0 = g_get_monotonic_time();
    const Profile *p = c->profile;
    c->internal_host = c->inv && !netif_inventory_first_tunnel(c->inv);
    JsonArray *detail = json_array_new();
    GString *problems = g_string_new(NULL);
    g_autoptr(GPtrArray) resolved = g_ptr_array_new_with_free_func(g_object_unref);
    gboolean edge_ok =
        check_name(c, p->edge.host, p->edge.expected_addresses, detail, problems, resolved);
    gboolean all_ok = edge_ok;
    for (guint i = 0; i < p->dns_names->len; i++) {
        const ProfileDnsName *n = p->dns_names->pdata[i];
        all_ok &= check_name(c, n->name, n->expected, detail, problems, NULL);
    }
    /* An edge given as an address, with no names to check, leaves nothing to judge. */
    gboolean nothing = g_hostname_is_ip_address(p->edge.host) && p->dns_names->len == 0;
    CheckRecord *r;
    if (!all_ok) {
        r = run_result_add_check(c->result, "dns", VERDICT_FAIL, "%s", problems->str);
        JsonObject *e = json_object_new();
        json_object_set_array_member(e, "names", json_array_ref(detail));
        run_result_add_finding(c->result, "EDGE_DNS_INTERNAL", e, "%s.", problems->str);
    } else if (nothing) {
        r = run_result_add_check(c->result, "dns", VERDICT_SKIP,
                                 "the edge is given as an address; no names to check");
    } else if (c->internal_host) {
        r = run_result_add_check(c->result, "dns", VERDICT_PASS,
                                 "every name resolves as an internal client (no tunnel) needs");
    } else {
        r = run_result_add_check(c->result, "dns", VERDICT_PASS,
                                 "every name resolves to its external address");
    }
    json_object_set_boolean_member(r->detail, "internal_host", c->internal_host);
    json_object_set_array_member(r->detail, "names", detail);
    r->duration_ms = ms_since(t0);
    g_string_free(problems, TRUE);

    /* Test the edge where it should be: at its expected address when the
     * profile gives one (so a DNS fault does not hide the others), else where
     * DNS points. */
    GPtrArray *use = p->edge.expected_addresses->len ? p->edge.expected_addresses : resolved;
    /* An internal client goes where its DNS points (the edge's internal side). */
    if (c->internal_host && edge_ok && resolved->len)
        use = resolved;
    c->edge_addrs = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < use->len; i++) {
        if (g_inet_address_get_family(use->pdata[i]) == G_SOCKET_FAMILY_IPV4)
            g_ptr_array_add(c->edge_addrs, g_object_ref(use->pdata[i]));
    }
    if (c->edge_addrs->len == 0) {
        c->result->error = g_strdup_printf("no IPv4 address to test the edge %s at", p->edge.host);
        return FALSE;
    }
    c->edge_ip = g_inet_address_to_string(c->edge_addrs->pdata[0]);
    return TRUE;
}

void checks_route(RunCtx *c)
{
    gint64 t0 = g_get_monotonic_time();
    JsonArray *detail = json_array_new();
    GString *bad = g_string_new(NULL), *good = g_string_new(NULL);
    JsonObject *evidence = json_object_new();
    for (guint i = 0; i < c->edge_addrs->len; i++) {
        GInetAddress *a = c->edge_addrs->pdata[i];
        g_autofree char *s = g_inet_address_to_string(a);
        g_autoptr(GError) error = NULL;
        NetifRoute route;
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "destination", s);
        if (!netif_route_get(a, NULL, 0, &route, &error)) {
            json_object_set_string_member(o, "error", error->message);
            g_string_append_printf(bad, "%s%s", bad->len ? "; " : "", error->message);
            json_array_add_object_element(detail, o);
            continue;
        }
        const NetifInterface *n = netif_inventory_by_index(c->inv, route.oif);
        const char *name = n ? n->name : "?";
        const char *klass = n ? netif_class_to_string(n->klass) : "unknown";
        json_object_set_string_member(o, "interface", name);
        json_object_set_string_member(o, "class", klass);
        if (route.gateway) {
            g_autofree char *gw = g_inet_address_to_string(route.gateway);
            json_object_set_string_member(o, "gateway", gw);
        }
        json_array_add_object_element(detail, o);
        if (n && n->klass == NETIF_CLASS_TUNNEL) {
            g_string_append_printf(bad, "%sthe route to the edge %s goes through the tunnel %s",
                                   bad->len ? "; " : "", s, name);
            json_object_set_string_member(evidence, "destination", s);
            json_object_set_string_member(evidence, "interface", name);
        } else {
            g_string_append_printf(good, "%s%s via %s (%s)", good->len ? ", " : "", s, name, klass);
        }
        netif_route_clear(&route);
    }
    CheckRecord *r;
    if (bad->len) {
        r = run_result_add_check(c->result, "route", VERDICT_FAIL, "%s", bad->str);
        if (json_object_has_member(evidence, "interface")) {
            run_result_add_finding(c->result, "RELAY_VIA_TUNNEL", json_object_ref(evidence), "%s.",
                                   bad->str);
        }
    } else {
        r = run_result_add_check(c->result, "route", VERDICT_PASS, "%s", good->str);
    }
    json_object_unref(evidence);
    json_object_set_array_member(r->detail, "routes", detail);
    r->duration_ms = ms_since(t0);
    g_string_free(bad, TRUE);
    g_string_free(good, TRUE);
}

/* One prefix: where the kernel routes its samples, for the flow's protocol and
 * port when the prefix has them; its label as Microsoft's test gives it. */
static const char *judge_prefix(RunCtx *c, const RoutePrefix *r, JsonObject *o, GString *tunnels)
{
    g_autoptr(GPtrArray) samples = route_prefix_samples(r->prefix);
    int ipproto = r->udp_port ? IPPROTO_UDP : r->tcp_port ? IPPROTO_TCP : 0;
    guint16 port = r->udp_port ? r->udp_port : r->tcp_port;
    guint tunneled = 0, routed = 0;
    JsonArray *routes = json_array_new();
    for (guint i = 0; i < samples->len; i++) {
        g_autofree char *a = g_inet_address_to_string(samples->pdata[i]);
        JsonObject *s = json_object_new();
        json_object_set_string_member(s, "address", a);
        NetifRoute route;
        g_autoptr(GError) e = NULL;
        if (!netif_route_get_flow(samples->pdata[i], ipproto, port, &route, &e)) {
            json_object_set_string_member(s, "error", e->message);
            json_array_add_object_element(routes, s);
            continue;
        }
        const NetifInterface *n = netif_inventory_by_index(c->inv, route.oif);
        gboolean tunnel = n && n->klass == NETIF_CLASS_TUNNEL;
        json_object_set_string_member(s, "interface", n ? n->name : "?");
        json_object_set_string_member(s, "class", n ? netif_class_to_string(n->klass) : "unknown");
        json_array_add_object_element(routes, s);
        routed++;
        tunneled += tunnel;
        if (tunnel && !strstr(tunnels->str, n->name))
            g_string_append_printf(tunnels, "%s%s", tunnels->len ? ", " : "", n->name);
        netif_route_clear(&route);
    }
    const char *label = routed == 0               ? "no route"
                        : tunneled == 0           ? "split out"
                        : tunneled == samples->len ? "tunneled"
                                                   : "partly tunneled";
    json_object_set_string_member(o, "prefix", r->cidr);
    json_object_set_string_member(o, "service", r->service);
    g_autofree char *ports = route_prefix_ports(r);
    if (ports)
        json_object_set_string_member(o, "ports", ports);
    json_object_set_string_member(o, "label", label);
    json_object_set_array_member(o, "routes", routes);
    return label;
}

void checks_routes(RunCtx *c)
{
    GPtrArray *prefixes = c->profile->routes.bypass;
    if (!prefixes->len)
        return; /* the profile lists none: nothing to check, nothing to record */
    gint64 t0 = g_get_monotonic_time();
    JsonArray *detail = json_array_new();
    JsonArray *bad = json_array_new();
    GString *names = g_string_new(NULL), *tunnels = g_string_new(NULL);
    guint split = 0, none = 0;
    for (guint i = 0; i < prefixes->len; i++) {
        const RoutePrefix *r = prefixes->pdata[i];
        JsonObject *o = json_object_new();
        const char *label = judge_prefix(c, r, o, tunnels);
        if (strcmp(label, "split out") == 0) {
            split++;
        } else if (strcmp(label, "no route") == 0) {
            none++;
        } else {
            g_string_append_printf(names, "%s%s (%s, %s)", names->len ? "; " : "", r->cidr,
                                   r->service, label);
            json_array_add_object_element(bad, json_object_ref(o));
        }
        json_array_add_object_element(detail, o);
    }
    CheckRecord *rec;
    guint n_bad = json_array_get_length(bad);
    if (n_bad) {
        rec = run_result_add_check(c->result, "routes", VERDICT_FAIL,
                                   "%u of %u prefixes that must bypass the tunnel go through %s: %s",
                                   n_bad, prefixes->len, tunnels->str, names->str);
        JsonObject *e = json_object_new();
        json_object_set_array_member(e, "prefixes", json_array_ref(bad));
        json_object_set_string_member(e, "interface", tunnels->str);
        run_result_add_finding(c->result, "ROUTE_VIA_TUNNEL", e,
                               "The kernel routes %s through the tunnel %s, though they must leave "
                               "by the physical interface.",
                               names->str, tunnels->str);
    } else {
        rec = run_result_add_check(c->result, "routes", VERDICT_PASS,
                                   "%u prefixes split out of the tunnel%s", split,
                                   none ? " (the others have no route here)" : "");
    }
    json_object_set_array_member(rec->detail, "prefixes", detail);
    json_array_unref(bad);
    rec->duration_ms = ms_since(t0);
    g_string_free(names, TRUE);
    g_string_free(tunnels, TRUE);
}

typedef struct {
    RunCtx *c;
    TurnCheckTransport t;
    guint port;
    TurnCheckResult res;
} TurnJob;

static gpointer turn_thread(gpointer data)
{
    TurnJob *j = data;
    TlsRelayConfig tls = run_tls_config(j->c, j->port, j->t == TURNCHECK_TLS);
    turncheck_run(j->c->edge_ip, j->port, j->t, j->c->profile->edge.ms_turn, &j->c->cred, &tls,
                  TURN_TIMEOUT_MS, &j->res);
    return NULL;
}

/* MS-TURN's TLS port: the edge answers the pseudo-TLS hello with its fixed
 * reply. Anything else, on a port that takes plain TCP, is a box in the path
 * that took the session for TLS (seeds 001 and 004): it answered as a TLS
 * endpoint (its certificate, from a real handshake, named), or cut the session. */
static void judge_pseudo_tls(RunCtx *c, guint port, const TurnCheckResult *res, CheckRecord *r)
{
    json_object_set_string_member(r->detail, "pseudo_tls", pseudo_tls_answer_name(res->pseudo_tls));
    if (res->pseudo_tls == PSEUDO_TLS_OK || !res->tcp_connected)
        return;
    const TlsPeerInfo *t = &res->tls;
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "server", c->edge_ip);
    json_object_set_int_member(e, "port", port);
    json_object_set_string_member(e, "pseudo_tls", pseudo_tls_answer_name(res->pseudo_tls));
    json_object_set_string_member(e, "detail", res->pseudo_tls_detail);
    if (t->handshake_done) {
        json_object_set_string_member(e, "subject", t->subject ? t->subject : "");
        json_object_set_string_member(e, "issuer", t->issuer ? t->issuer : "");
        json_object_set_string_member(e, "sha256", t->leaf_sha256 ? t->leaf_sha256 : "");
    }
    g_autofree char *cert =
        t->handshake_done ? g_strdup_printf("; a TLS handshake there presents '%s' issued by '%s'",
                                            t->subject ? t->subject : "?",
                                            t->issuer ? t->issuer : "?")
                          : g_strdup("");
    run_result_add_finding(c->result, "TLS_INTERCEPTED", e,
                           "The edge %s:%u takes TCP, but MS-TURN's pseudo-TLS hello there was "
                           "not answered with the edge's fixed reply: %s%s. Something in the path "
                           "identifies the session as TLS and terminates or cuts it.",
                           c->edge_ip, port, res->pseudo_tls_detail, cert);
}

void checks_turn(RunCtx *c)
{
    const Profile *p = c->profile;
    TurnJob jobs[3] = {{c, TURNCHECK_UDP, p->edge.udp_port, {0}},
                       {c, TURNCHECK_TCP, p->edge.tcp_port, {0}},
                       {c, TURNCHECK_TLS, p->edge.tls_port, {0}}};
    GThread *threads[3];
    /* In parallel: a dead edge costs one timeout, not three. */
    for (int i = 0; i < 3; i++)
        threads[i] = g_thread_new("turncheck", turn_thread, &jobs[i]);
    for (int i = 0; i < 3; i++)
        g_thread_join(threads[i]);

    GString *failures = g_string_new(NULL);
    for (int i = 0; i < 3; i++) {
        TurnJob *j = &jobs[i];
        g_autofree char *name = g_strdup_printf("turn-%s", turncheck_transport_name(j->t));
        CheckRecord *r;
        if (j->res.ok)
            r = run_result_add_check(c->result, name, VERDICT_PASS, "allocated %s on %s:%u from %s",
                                     j->res.relayed_address, c->edge_ip, j->port,
                                     j->res.local_address);
        else {
            r = run_result_add_check(c->result, name, VERDICT_FAIL, "%s", j->res.failure);
            g_string_append_printf(failures, "%s%s", failures->len ? "; " : "", j->res.failure);
        }
        c->turn_ok[j->t] = j->res.ok;
        r->duration_ms = j->res.duration_ms;
        g_autofree char *server = g_strdup_printf("%s:%u", c->edge_ip, j->port);
        json_object_set_string_member(r->detail, "server", server);
        if (j->res.relayed_address)
            json_object_set_string_member(r->detail, "relayed_address", j->res.relayed_address);
        if (j->res.mapped_address)
            json_object_set_string_member(r->detail, "mapped_address", j->res.mapped_address);
        if (j->res.local_address)
            json_object_set_string_member(r->detail, "local_address", j->res.local_address);
        if (j->res.error_code)
            json_object_set_int_member(r->detail, "error_code", j->res.error_code);
        if (j->res.realm)
            json_object_set_string_member(r->detail, "realm", j->res.realm);
        if (j->res.pseudo_tls_tried)
            judge_pseudo_tls(c, j->port, &j->res, r);
        if (j->t == TURNCHECK_TLS) {
            c->tls = j->res.tls;
            memset(&j->res.tls, 0, sizeof(j->res.tls));
        }
        turncheck_result_clear(&j->res);
    }
    gboolean udp = c->turn_ok[TURNCHECK_UDP];
    gboolean stream = c->turn_ok[TURNCHECK_TCP] || c->turn_ok[TURNCHECK_TLS];
    if (!udp && !stream) {
        JsonObject *e = json_object_new();
        json_object_set_string_member(e, "edge", c->edge_ip);
        run_result_add_finding(c->result, "RELAY_UNREACHABLE", e,
                               "No TURN allocation on the edge %s worked: %s.", c->edge_ip,
                               failures->str);
    } else if (!udp) {
        JsonObject *e = json_object_new();
        json_object_set_string_member(e, "edge", c->edge_ip);
        json_object_set_int_member(e, "udp_port", p->edge.udp_port);
        run_result_add_finding(c->result, "UDP_RELAY_BLOCKED", e,
                               "TURN over UDP to %s:%u failed while TCP or TLS worked.", c->edge_ip,
                               p->edge.udp_port);
    }
    g_string_free(failures, TRUE);
}

void checks_tls(RunCtx *c)
{
    const Profile *p = c->profile;
    const TlsPeerInfo *t = &c->tls;
    CheckRecord *r;
    if (p->edge.ms_turn) {
        r = run_result_add_check(c->result, "tls-pin", VERDICT_SKIP,
                                 "an MS-TURN edge's %u speaks pseudo-TLS: no certificate to pin "
                                 "(turn-tls judges its answer)",
                                 p->edge.tls_port);
        return;
    }
    if (!t->handshake_done) {
        r = run_result_add_check(c->result, "tls-pin", VERDICT_SKIP,
                                 "no TLS handshake on %s:%u to judge", c->edge_ip,
                                 p->edge.tls_port);
        return;
    }
    gboolean pin_bad = t->pin_checked && !t->pin_ok;
    gboolean chain_bad = (p->edge.tls_ca_file || !p->edge.tls_pin_sha256) && !t->chain_ok;
    if (pin_bad || chain_bad) {
        g_autofree char *why =
            pin_bad ? g_strdup_printf("its SHA-256 is %s, the pin is %s", t->leaf_sha256,
                                      p->edge.tls_pin_sha256)
                    : g_strdup_printf("it does not verify against %s: %s",
                                      p->edge.tls_ca_file ? p->edge.tls_ca_file : "the system CAs",
                                      t->verify_error ? t->verify_error : "?");
        r = run_result_add_check(c->result, "tls-pin", VERDICT_FAIL,
                                 "TLS on %s:%u presented '%s' issued by '%s': %s", c->edge_ip,
                                 p->edge.tls_port, t->subject, t->issuer, why);
        JsonObject *e = json_object_new();
        json_object_set_string_member(e, "server", c->edge_ip);
        json_object_set_int_member(e, "port", p->edge.tls_port);
        json_object_set_string_member(e, "subject", t->subject ? t->subject : "");
        json_object_set_string_member(e, "issuer", t->issuer ? t->issuer : "");
        json_object_set_string_member(e, "sha256", t->leaf_sha256 ? t->leaf_sha256 : "");
        run_result_add_finding(c->result, "TLS_INTERCEPTED", e,
                               "TLS to the edge %s:%u is answered by a certificate that is not "
                               "the edge's ('%s' issued by '%s'; %s): something in the path "
                               "decrypts it.",
                               c->edge_ip, p->edge.tls_port, t->subject, t->issuer, why);
    } else {
        r = run_result_add_check(c->result, "tls-pin", VERDICT_PASS,
                                 "TLS on %s:%u presented the edge's certificate '%s' (%s%s)",
                                 c->edge_ip, p->edge.tls_port, t->subject,
                                 t->pin_checked ? "pin matches" : "chain verifies",
                                 t->pin_checked && t->chain_ok ? ", chain verifies" : "");
    }
    json_object_set_string_member(r->detail, "subject", t->subject ? t->subject : "");
    json_object_set_string_member(r->detail, "issuer", t->issuer ? t->issuer : "");
    json_object_set_string_member(r->detail, "sha256", t->leaf_sha256 ? t->leaf_sha256 : "");
    json_object_set_string_member(r->detail, "protocol", t->protocol ? t->protocol : "");
}

const char *checks_all(RunCtx *c)
{
    checks_interfaces(c);
    if (!c->inv)
        return "cannot list the local interfaces";
    checks_firewall(c);
    if (!checks_dns(c))
        return "no address for the edge";
    checks_route(c);
    checks_routes(c);
    checks_turn(c);
    checks_tls(c);
    return NULL;
}
