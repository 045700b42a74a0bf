/* A path is judged on three kinds of evidence: where the selected pair's local
 * side lives and where its packets leave (from the probe's route lookups), the
 * tunnel interface's own packet counters during the stream (kernel ground truth,
 * whatever ICE reported), and the stream's quality against the profile. */
#include "iceprobe/policy.h"

#include <stddef.h>
#include <string.h>

guint64 policy_tunnel_threshold(const PathRecord *p)
{
    guint64 sent = p->have_metrics ? MIN(p->out.packets_sent, p->in.packets_sent) : 0;
    guint64 packets = MAX(5, sent / 2);
    /* Counted in bytes (SIO_TCP_INFO): that many of the smallest media
     * packets a profile can make. */
    return p->counters_per_connection && conn_counter_bytes(p->counted_by)
               ? packets * POLICY_MEDIA_MIN_BYTES
               : packets;
}

gboolean policy_egress_complete(const PathRecord *p)
{
    /* Nearly every media packet sent has its device named: a socket the watch
     * missed (a pair on ICE-TCP), or timestamps the kernel dropped, leave it
     * to the interface's counters. */
    return p->have_egress && p->egress_media_sent > 0 &&
           p->egress_media_seen * 10 >= p->egress_media_sent * 9;
}

static gboolean is_tunnel(const char *klass)
{
    return klass && strcmp(klass, "tunnel") == 0;
}

static JsonObject *pair_evidence(const PathRecord *p)
{
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "path", p->name);
    if (p->have_pair) {
        json_object_set_string_member(e, "local", p->local.address ? p->local.address : "");
        json_object_set_string_member(e, "local_type", p->local.type ? p->local.type : "");
        json_object_set_string_member(e, "interface", p->local.interface ? p->local.interface : "");
        json_object_set_string_member(e, "egress_interface",
                                      p->local.egress_interface ? p->local.egress_interface : "");
        json_object_set_string_member(e, "remote", p->remote.address ? p->remote.address : "");
    }
    if (p->have_counters) {
        gboolean bytes = p->counters_per_connection && conn_counter_bytes(p->counted_by);
        json_object_set_string_member(e, "tunnel_interface", p->tunnel_interface);
        json_object_set_int_member(e, bytes ? "tunnel_tx_bytes" : "tunnel_tx_packets",
                                   (gint64)p->tunnel_tx);
        json_object_set_int_member(e, bytes ? "tunnel_rx_bytes" : "tunnel_rx_packets",
                                   (gint64)p->tunnel_rx);
    }
    if (p->have_egress) {
        json_object_set_int_member(e, "media_sent", (gint64)p->egress_media_sent);
        json_object_set_int_member(e, "media_tunnel", (gint64)p->egress_media_tunnel);
    }
    return e;
}

/* The route to the edge left through a physical interface, yet this path's
 * tunnel candidate reached the edge (its pair's remote is one of the edge's
 * addresses, or its relay was allocated through the tunnel): the VPN gateway
 * passes the pool to the edge, and the fix is there, not a split-tunnel
 * exclusion. NULL when the evidence does not show it. */
static const char *tunnel_cause(const RunResult *r, const PathRecord *p, PolicyPathKind kind)
{
    const CheckRecord *route = run_result_find_check(r, "route");
    if (!route || route->verdict != VERDICT_PASS || !route->detail)
        return NULL;
    if (kind == POLICY_PATH_FORCED_RELAY)
        return "gateway-passes-pool";
    JsonArray *routes = json_object_get_array_member(route->detail, "routes");
    const char *remote = p->remote.address;
    for (guint i = 0; remote && routes && i < json_array_get_length(routes); i++) {
        JsonObject *o = json_array_get_object_element(routes, i);
        const char *dst = o ? json_object_get_string_member_with_default(o, "destination", "") : "";
        gsize n = strlen(dst);
        if (n && strncmp(remote, dst, n) == 0 && remote[n] == ':')
            return "gateway-passes-pool";
    }
    return NULL;
}

/* The strings of the detail's array `member`, in order; elements that are not
 * strings, and empty ones, are left out. NULL: none. */
static GPtrArray *detail_strings(JsonObject *detail, const char *member)
{
    JsonNode *n = json_object_get_member(detail, member);
    JsonArray *arr = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    GPtrArray *out = NULL;
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonNode *e = json_array_get_element(arr, i);
        if (!e || !JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
            !*json_node_get_string(e))
            continue;
        if (!out)
            out = g_ptr_array_new();
        g_ptr_array_add(out, (gpointer)json_node_get_string(e));
    }
    return out;
}

/* Whether the detail's array `member` holds a string that `test` accepts. */
static gboolean detail_any(JsonObject *detail, const char *member,
                           gboolean (*test)(const char *s, GInetAddress *a), GInetAddress *a)
{
    g_autoptr(GPtrArray) strings = detail_strings(detail, member);
    for (guint i = 0; strings && i < strings->len; i++)
        if (test(g_ptr_array_index(strings, i), a))
            return TRUE;
    return FALSE;
}

static gboolean is_address(const char *s, GInetAddress *a)
{
    g_autoptr(GInetAddress) x = g_inet_address_new_from_string(s);
    return x && g_inet_address_equal(x, a);
}

static gboolean in_range(const char *s, GInetAddress *a)
{
    g_autoptr(GInetAddressMask) m = g_inet_address_mask_new_from_string(s, NULL);
    return m && g_inet_address_mask_matches(m, a);
}

/* The detail's string array `member` joined with ", " (NULL: none). */
static char *detail_names(JsonObject *detail, const char *member)
{
    g_autoptr(GPtrArray) strings = detail_strings(detail, member);
    if (!strings)
        return NULL;
    g_ptr_array_add(strings, NULL);
    return g_strjoinv(", ", (char **)strings->pdata);
}

/* Seed 002's fix on the laptop holds for this pair, though not for iceprobe:
 * the check firewall passed on rules scoped to the call clients' programs
 * (programs_only: iceprobe.exe is not one of them), the pair's local candidate
 * is one of the tunnel addresses the check judged (not a relay's), and its
 * remote address is in one of the ranges it found blocked. A call client's
 * check on this pair would have been dropped. The clients judged, as
 * "lync.exe, Teams.exe", else NULL. */
static char *clients_blocked(const RunResult *r, const PathRecord *p)
{
    const CheckRecord *fw = run_result_find_check(r, "firewall");
    if (!fw || fw->verdict != VERDICT_PASS || !fw->detail ||
        !json_object_get_boolean_member_with_default(fw->detail, "programs_only", FALSE) ||
        !p->have_pair || !is_tunnel(p->local.interface_class) ||
        g_strcmp0(p->local.type, "relay") == 0)
        return NULL;
    g_autoptr(GInetAddress) local =
        candidate_inet_address(p->local.base_address ? p->local.base_address : p->local.address);
    g_autoptr(GInetAddress) remote = candidate_inet_address(p->remote.address);
    if (!local || !remote || !detail_any(fw->detail, "addresses", is_address, local) ||
        !detail_any(fw->detail, "ranges", in_range, remote))
        return NULL;
    char *names = detail_names(fw->detail, "call_clients_judged");
    if (!names)
        names = detail_names(fw->detail, "call_clients");
    return names ? names : g_strdup("the call clients");
}

/* A tunnel path that connected where the laptop's firewall holds for the call
 * clients (clients_blocked): the VPN gateway's block is missing, a warning. */
static void gateway_block_missing(RunResult *r, const PathRecord *p, const char *clients,
                                  const char *what)
{
    JsonObject *e = pair_evidence(p);
    json_object_set_string_member(e, "call_clients", clients);
    run_result_add_finding(r, "GATEWAY_BLOCK_MISSING", e,
                           "%s (%s to %s), so the VPN gateway passes the pool; the Windows Firewall "
                           "blocks %s on that pair, so their media cannot take it, but iceprobe is "
                           "not one of them.",
                           what, p->local.address, p->remote.address, clients);
}

static void judge_tunnel(RunResult *r, PathRecord *p, PolicyPathKind kind)
{
    gboolean owned = is_tunnel(p->local.interface_class);
    gboolean egress = is_tunnel(p->local.egress_class);
    guint64 threshold = policy_tunnel_threshold(p);
    /* The evidence, best first: the path's own TCP connection; the kernel's
     * device for each media packet the probe sent; the interface's counters,
     * which also count every other packet on the tunnel (docs/libnice.md §32). */
    gboolean exact = !p->counters_per_connection && policy_egress_complete(p);
    gboolean counted =
        exact ? p->egress_media_tunnel >= MAX(5, p->egress_media_seen / 2)
              : p->have_counters && (p->tunnel_tx >= threshold || p->tunnel_rx >= threshold);
    if (!owned && !egress && !counted)
        return;
    g_autofree char *clients = kind == POLICY_PATH_NATURAL ? clients_blocked(r, p) : NULL;
    if (clients) {
        g_autofree char *what =
            g_strdup_printf("Path %s's media went through the VPN tunnel", p->name);
        gateway_block_missing(r, p, clients, what);
        return;
    }

    g_autofree char *why = NULL;
    if (egress || owned)
        why = g_strdup_printf("its local candidate %s (%s) %s %s", p->local.address, p->local.type,
                              egress ? "leaves through" : "lives on",
                              egress ? p->local.egress_interface : p->local.interface);
    else if (exact)
        why = g_strdup_printf("ICE reported %s via %s, but the kernel sent %" G_GUINT64_FORMAT
                              " of its %" G_GUINT64_FORMAT " media packets through %s",
                              p->local.address ? p->local.address : "no pair",
                              p->local.egress_interface ? p->local.egress_interface : "?",
                              p->egress_media_tunnel, p->egress_media_seen,
                              p->tunnel_interface ? p->tunnel_interface : "the tunnel");
    else if (p->counters_per_connection)
        why = g_strdup_printf("ICE reported %s via %s, but its own TCP connection to the edge "
                              "through %s carried %" G_GUINT64_FORMAT " %s out and %" G_GUINT64_FORMAT
                              " in during the stream",
                              p->local.address ? p->local.address : "no pair",
                              p->local.egress_interface ? p->local.egress_interface : "?",
                              p->tunnel_interface, p->tunnel_tx,
                              conn_counter_bytes(p->counted_by) ? "bytes" : "segments",
                              p->tunnel_rx);
    else
        why = g_strdup_printf("ICE reported %s via %s, but the tunnel %s counted %" G_GUINT64_FORMAT
                              " packets out and %" G_GUINT64_FORMAT " in during the stream",
                              p->local.address ? p->local.address : "no pair",
                              p->local.egress_interface ? p->local.egress_interface : "?",
                              p->tunnel_interface, p->tunnel_tx, p->tunnel_rx);
    /* Only the kernel's egress facts show it: nothing ICE or the route check
     * knows put the media in the tunnel, a rule past the routing table did. */
    const char *cause = !egress && !owned && exact ? "policy-routed" : tunnel_cause(r, p, kind);
    if (kind == POLICY_PATH_NATURAL)
        run_result_add_finding_cause(r, "MEDIA_VIA_TUNNEL", cause, pair_evidence(p),
                                     "Call media went through the VPN tunnel: on path %s %s.",
                                     p->name, why);
    else if (kind == POLICY_PATH_FORCED_RELAY)
        run_result_add_finding_cause(
            r, "RELAY_VIA_TUNNEL", cause, pair_evidence(p),
            "The relay allocation of path %s was made through the tunnel: %s.", p->name, why);
}

/* The quality thresholds: which figure, which profile limit, which way is bad.
 * With the windowed figures (Microsoft's "in any 15 s / 200 ms"), loss and
 * jitter are judged on the worst window; without them, on the whole stream. */
typedef enum { FIG_LOSS, FIG_BURST, FIG_JITTER, FIG_REORDER, FIG_RTT, FIG_MOS } Figure;

typedef struct {
    const char *code;
    const char *what; /* in the message, and the evidence member */
    Figure figure;
    gsize limit; /* offset of a double in Profile */
    gboolean below_is_bad, per_direction;
    double scale; /* shown as value * scale */
    const char *unit;
} QualityRule;

static const QualityRule quality_rules[] = {
    {"QUALITY_LOSS", "loss_ratio", FIG_LOSS, offsetof(Profile, thresholds.loss_ratio_max), FALSE,
     TRUE, 100, " %"},
    {"QUALITY_BURST_LOSS", "burst_loss_200ms_max", FIG_BURST,
     offsetof(Profile, thresholds.burst_loss_ratio_max), FALSE, TRUE, 100, " %"},
    {"QUALITY_JITTER", "jitter_ms", FIG_JITTER, offsetof(Profile, thresholds.jitter_ms_max), FALSE,
     TRUE, 1, " ms"},
    {"QUALITY_REORDER", "reorder_ratio", FIG_REORDER,
     offsetof(Profile, thresholds.reorder_ratio_max), FALSE, TRUE, 100, " %"},
    {"QUALITY_RTT", "rtt_median_ms", FIG_RTT, offsetof(Profile, thresholds.rtt_ms_max), FALSE,
     FALSE, 1, " ms"},
    {"QUALITY_MOS", "mos", FIG_MOS, offsetof(Profile, thresholds.mos_min), TRUE, TRUE, 1, ""},
};

/* The figure's value, and what it is called in words; FALSE when the summary
 * does not have it. */
static gboolean figure(const MetricsSummary *m, Figure f, double *v, const char **name)
{
    *name = NULL;
    switch (f) {
    case FIG_LOSS:
        *v = m->have_windows ? m->loss_15s_max : m->loss_ratio;
        *name = m->have_windows ? "loss in the worst 15 s" : "loss";
        return TRUE;
    case FIG_BURST:
        *v = m->burst_loss_200ms_max;
        *name = "loss in the worst 200 ms";
        return m->have_windows;
    case FIG_JITTER:
        *v = m->have_windows ? m->jitter_15s_max_ms : m->jitter_ms;
        *name = m->have_windows ? "jitter in the worst 15 s" : "jitter";
        return TRUE;
    case FIG_REORDER:
        *v = m->reorder_ratio;
        *name = "reordered";
        return m->have_windows;
    case FIG_RTT:
        *v = m->rtt_median_ms;
        *name = "median RTT";
        return m->rtt_samples > 0;
    case FIG_MOS:
        *v = m->mos;
        *name = "MOS";
        return TRUE;
    }
    return FALSE;
}

static void judge_one(RunResult *r, PathRecord *p, const QualityRule *q, const MetricsSummary *m,
                      const char *direction, double limit)
{
    double value;
    const char *name;
    if (!figure(m, q->figure, &value, &name))
        return;
    if (q->below_is_bad ? !(value < limit) : !(value > limit))
        return;
    JsonObject *e = pair_evidence(p);
    json_object_set_double_member(e, q->what, value);
    json_object_set_double_member(e, "threshold", limit);
    if (direction)
        json_object_set_string_member(e, "direction", direction);
    run_result_add_finding(r, q->code, e, "Path %s%s%s: %s %.2f%s, %s %.2f%s.", p->name,
                           direction ? ", direction " : "", direction ? direction : "", name,
                           value * q->scale, q->unit, q->below_is_bad ? "minimum" : "limit",
                           limit * q->scale, q->unit);
}

/* Each direction on its own (out: from this probe; in: to it), so a path bad
 * one way only says which; the round trip once. */
static void judge_quality(RunResult *r, PathRecord *p, const Profile *profile)
{
    gboolean directions = p->out.packets_sent > 0 || p->in.packets_sent > 0;
    for (gsize i = 0; i < G_N_ELEMENTS(quality_rules); i++) {
        const QualityRule *q = &quality_rules[i];
        double limit = G_STRUCT_MEMBER(double, profile, q->limit);
        if (q->per_direction && directions) {
            judge_one(r, p, q, &p->out, "out", limit);
            judge_one(r, p, q, &p->in, "in", limit);
        } else {
            judge_one(r, p, q, &p->metrics, NULL, limit);
        }
    }
}

char *policy_dscp_name(guint dscp)
{
    if (dscp == 46)
        return g_strdup("46 (EF)");
    if (dscp == 44)
        return g_strdup("44 (VOICE-ADMIT)");
    if (dscp % 8 == 0 && dscp <= 56)
        return g_strdup_printf("%u (CS%u)", dscp, dscp / 8);
    if (dscp >= 10 && dscp <= 38 && dscp % 2 == 0 && (dscp % 8) / 2 >= 1 && (dscp % 8) / 2 <= 3)
        return g_strdup_printf("%u (AF%u%u)", dscp, dscp / 8, (dscp % 8) / 2);
    return g_strdup_printf("%u", dscp);
}

/* The DSCP values of a sample other than the one expected, named, or NULL. */
static char *other_values(guint64 values, guint expected)
{
    GString *g = NULL;
    for (guint v = 0; v < 64; v++) {
        if (v == expected || !(values & (G_GUINT64_CONSTANT(1) << v)))
            continue;
        g_autofree char *name = policy_dscp_name(v);
        if (!g)
            g = g_string_new(name);
        else
            g_string_append_printf(g, ", %s", name);
    }
    return g ? g_string_free(g, FALSE) : NULL;
}

/* [stream] dscp_survives: the marking should arrive as sent on this path; a
 * direction whose sample says otherwise is QOS_MARKING_LOST. */
static void judge_qos(RunResult *r, PathRecord *p, PolicyPathKind kind, const Profile *profile)
{
    gboolean expected = kind == POLICY_PATH_NATURAL ? profile->stream.dscp_survives_natural
                                                    : profile->stream.dscp_survives_relay;
    if (!p->dscp || !expected)
        return;
    const QosSample *dirs[] = {&p->qos_out, &p->qos_in};
    static const char *const names[] = {"out", "in"};
    for (int i = 0; i < 2; i++) {
        const QosSample *q = dirs[i];
        if (!q->have || q->seen < POLICY_QOS_MIN_SAMPLE || q->marked * 10 >= q->seen * 9)
            continue;
        g_autofree char *want = policy_dscp_name(p->dscp);
        g_autofree char *got = other_values(q->values, p->dscp);
        JsonObject *e = pair_evidence(p);
        json_object_set_string_member(e, "direction", names[i]);
        json_object_set_int_member(e, "dscp", p->dscp);
        json_object_set_int_member(e, "seen", (gint64)q->seen);
        json_object_set_int_member(e, "marked", (gint64)q->marked);
        run_result_add_finding(r, "QOS_MARKING_LOST", e,
                               "Path %s, direction %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                               " media packets sampled on arrival kept DSCP %s; the rest arrived "
                               "as %s ([stream] dscp_survives expects it on this path).",
                               p->name, names[i], q->marked, q->seen, want, got ? got : "?");
    }
}

void policy_judge_path(RunResult *r, PathRecord *p, PolicyPathKind kind, const Profile *profile)
{
    g_return_if_fail(r && p && profile);
    guint before = r->findings->len;

    if (kind == POLICY_PATH_TUNNEL_ONLY) {
        /* Here success is the failure: the block should have stopped it. */
        g_autofree char *clients = clients_blocked(r, p);
        if (clients)
            gateway_block_missing(r, p, clients,
                                  "A check forced through the tunnel reached the peer");
        else if (p->have_pair)
            run_result_add_finding_cause(
                r, "TUNNEL_PATH_OPEN", tunnel_cause(r, p, kind), pair_evidence(p),
                "A check forced through the tunnel reached the peer (%s to %s).", p->local.address,
                p->remote.address);
    } else if (!p->have_pair) {
        if (kind == POLICY_PATH_NATURAL)
            run_result_add_finding(r, "NO_MEDIA_PATH", pair_evidence(p),
                                   "ICE found no working candidate pair on path %s.", p->name);
        p->verdict = VERDICT_FAIL;
    } else {
        judge_tunnel(r, p, kind);
        const CheckRecord *udp = run_result_find_check(r, "turn-udp");
        if (kind == POLICY_PATH_NATURAL && p->local.type && strcmp(p->local.type, "relay") == 0 &&
            p->local.transport && strcmp(p->local.transport, "tcp") == 0) {
            if (!udp || udp->verdict != VERDICT_PASS) {
                run_result_add_finding(r, "TCP_RELAY_ONLY", pair_evidence(p),
                                       "The selected media path is TURN over TCP (%s).",
                                       p->local.address);
            } else if (p->reason && !strstr(p->reason, "libnice.md")) {
                /* UDP allocations work: TCP won a race inside libnice, which keeps
                 * one relay candidate per relay address (docs/libnice.md §9). */
                g_autofree char *old = p->reason;
                p->reason = g_strdup_printf("%s; TURN over TCP although UDP allocations work "
                                            "(docs/libnice.md §9)",
                                            old);
            }
        }
        if (kind == POLICY_PATH_NATURAL && p->have_metrics)
            judge_quality(r, p, profile);
        judge_qos(r, p, kind, profile);
    }
    for (guint i = before; i < r->findings->len; i++)
        p->verdict = verdict_worst(p->verdict, ((Finding *)r->findings->pdata[i])->severity);
}

/* The first finding of r that says a path through the tunnel connected. */
static const Finding *tunnel_connected(const RunResult *r)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        if (strcmp(f->code, "TUNNEL_PATH_OPEN") == 0 || strcmp(f->code, "MEDIA_VIA_TUNNEL") == 0)
            return f;
    }
    return NULL;
}

void policy_judge_firewall(RunResult *r)
{
    g_return_if_fail(r);
    const CheckRecord *c = run_result_find_check(r, "firewall");
    if (!c || !json_object_get_boolean_member_with_default(c->detail, "block_missing", FALSE))
        return;
    const Finding *t = tunnel_connected(r);
    for (guint i = 0; t && i < r->findings->len; i++) {
        if (strcmp(((Finding *)r->findings->pdata[i])->code, "FIREWALL_BLOCK_MISSING") == 0)
            return;
    }
    if (!t)
        return;
    JsonObject *e = json_object_new();
    JsonNode *missing = json_object_get_member(c->detail, "missing");
    if (missing)
        json_object_set_member(e, "missing", json_node_copy(missing));
    json_object_set_string_member(e, "tunnel_finding", t->code);
    const char *path = json_object_get_string_member_with_default(t->evidence, "path", NULL);
    if (path)
        json_object_set_string_member(e, "path", path);
    run_result_add_finding(r, "FIREWALL_BLOCK_MISSING", e,
                           "The Windows Firewall does not keep the call clients' media off the "
                           "tunnel (%s), and a path through the tunnel connected (%s%s%s).",
                           c->reason, t->code, path ? ", path " : "", path ? path : "");
}
