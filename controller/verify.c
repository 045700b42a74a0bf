#include "verify.h"

#include <string.h>

#include "iceprobe/policy.h"
#include "iceprobe/protocol.h"

static const char *const side_names[] = {"a", "b"};

/* Findings the path policy derives: re-derived here, never copied from a report. */
static const char *const path_codes[] = {
    "MEDIA_VIA_TUNNEL", "RELAY_VIA_TUNNEL",   "TUNNEL_PATH_OPEN", "NO_MEDIA_PATH",
    "TCP_RELAY_ONLY",   "QUALITY_LOSS",       "QUALITY_JITTER",   "QUALITY_RTT",
    "QUALITY_MOS",      "QUALITY_BURST_LOSS", "QUALITY_REORDER",  "GATEWAY_BLOCK_MISSING",
};
/* Findings that say the same thing whichever side saw them: kept once. */
static const char *const symmetric_codes[] = {"TUNNEL_PATH_OPEN", "NO_MEDIA_PATH"};

static gboolean in_list(const char *code, const char *const *list, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        if (strcmp(code, list[i]) == 0)
            return TRUE;
    }
    return FALSE;
}

static RunResult *new_result(const VerifyRun *run)
{
    RunResult *r = run_result_new(run->profile_name);
    g_free(r->run_id);
    r->run_id = g_strdup(run->run_id);
    g_date_time_unref(r->started_at);
    r->started_at = g_date_time_new_from_unix_utc(run->started_at);
    return r;
}

/* A deep copy of an object (evidence, a check's detail), for a document made of
 * others: the reports' objects are not shared with the result. */
static JsonObject *object_copy(JsonObject *o)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
    g_autoptr(JsonNode) copy = json_node_copy(n);
    return json_object_ref(json_node_get_object(copy));
}

static void mark_side(JsonObject *o, int side, const char *agent)
{
    json_object_set_string_member(o, "side", side_names[side]);
    json_object_set_string_member(o, "agent", agent);
}

static gboolean already_has(const RunResult *r, const char *code, const char *path)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        const char *fp = json_object_has_member(f->evidence, "path")
                             ? json_object_get_string_member(f->evidence, "path")
                             : NULL;
        if (strcmp(f->code, code) == 0 && g_strcmp0(fp, path) == 0)
            return TRUE;
    }
    return FALSE;
}

static void add_finding_copy(RunResult *r, const Finding *f, int side, const char *agent)
{
    const char *path = json_object_has_member(f->evidence, "path")
                           ? json_object_get_string_member(f->evidence, "path")
                           : NULL;
    if (in_list(f->code, symmetric_codes, G_N_ELEMENTS(symmetric_codes)) &&
        already_has(r, f->code, path))
        return;
    Finding *c = g_new0(Finding, 1);
    c->code = g_strdup(f->code);
    c->severity = f->severity;
    c->message = g_strdup_printf("Side %s (%s): %s", side_names[side], agent, f->message);
    c->evidence = object_copy(f->evidence);
    mark_side(c->evidence, side, agent);
    g_ptr_array_add(r->findings, c);
}

/* One side: its checks and their findings kept, its paths judged again. */
/* The peer sent this path's media over TCP (TURN-TCP, ICE-TCP): what arrived
 * here carried the relay's marking, not the stream's. */
static gboolean peer_sent_over_tcp(const RunResult *peer, const char *path)
{
    for (guint i = 0; peer && i < peer->paths->len; i++) {
        const PathRecord *p = peer->paths->pdata[i];
        if (strcmp(p->name, path) == 0)
            return p->have_pair && g_strcmp0(p->local.transport, "udp") != 0;
    }
    return FALSE;
}

static void take_side(RunResult *out, GPtrArray *paths_by_side[2], int side, const char *agent,
                      const RunResult *rep, const RunResult *peer, const Profile *profile)
{
    for (guint i = 0; i < json_array_get_length(rep->probes); i++) {
        JsonNode *n = json_node_copy(json_array_get_element(rep->probes, i));
        mark_side(json_node_get_object(n), side, agent);
        json_array_add_element(out->probes, n);
    }
    if (json_array_get_length(rep->probes) == 0) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", agent);
        mark_side(o, side, agent);
        json_array_add_object_element(out->probes, o);
    }
    for (guint i = 0; i < rep->checks->len; i++) {
        const CheckRecord *c = rep->checks->pdata[i];
        CheckRecord *k = run_result_add_check(out, c->name, c->verdict, "%s", c->reason);
        k->duration_ms = c->duration_ms;
        json_object_unref(k->detail);
        k->detail = object_copy(c->detail);
        mark_side(k->detail, side, agent);
    }
    for (guint i = 0; i < rep->findings->len; i++) {
        const Finding *f = rep->findings->pdata[i];
        if (!in_list(f->code, path_codes, G_N_ELEMENTS(path_codes)))
            add_finding_copy(out, f, side, agent);
    }
    /* The policy writes into a scratch result; its findings are then merged. */
    g_autoptr(RunResult) scratch = run_result_new(out->profile);
    /* The path policy asks whether UDP allocations worked on this side, where
     * its route to the edge went, and what its Windows Firewall blocks. */
    static const char *const asked[] = {"turn-udp", "route", "firewall"};
    for (gsize i = 0; i < G_N_ELEMENTS(asked); i++) {
        const CheckRecord *c = run_result_find_check(rep, asked[i]);
        if (!c)
            continue;
        CheckRecord *copy = run_result_add_check(scratch, c->name, c->verdict, "%s", c->reason);
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(node, c->detail);
        g_autoptr(JsonNode) deep = json_node_copy(node);
        json_object_unref(copy->detail);
        copy->detail = json_object_ref(json_node_get_object(deep));
    }
    for (guint i = 0; i < rep->paths->len; i++) {
        PathRecord *p = path_record_copy(rep->paths->pdata[i]);
        path_record_free(p->sides[0]);
        path_record_free(p->sides[1]);
        p->sides[0] = p->sides[1] = NULL;
        p->verdict = VERDICT_PASS;
        if (peer_sent_over_tcp(peer, p->name))
            p->qos_in.have = FALSE;
        policy_judge_path(scratch, p, protocol_paired_path_kind(p->name), profile);
        g_ptr_array_add(paths_by_side[side], p);
    }
    for (guint i = 0; i < scratch->findings->len; i++)
        add_finding_copy(out, scratch->findings->pdata[i], side, agent);
    if (rep->error) {
        g_autofree char *prev = g_steal_pointer(&out->error);
        out->error = g_strdup_printf("%s%sside %s (%s): %s", prev ? prev : "", prev ? "; " : "",
                                     side_names[side], agent, rep->error);
    }
}

static gboolean on_tunnel(const PathRecord *p)
{
    return p && p->have_pair &&
           (g_strcmp0(p->local.interface_class, "tunnel") == 0 ||
            g_strcmp0(p->local.egress_class, "tunnel") == 0);
}

/* Both ends of the natural pair on their tunnels: the media goes up one tunnel
 * and down the other, hair-pinned through the VPN gateway. Said in the evidence
 * and the message of each side's MEDIA_VIA_TUNNEL. */
static void mark_hairpin(RunResult *out, const PathRecord *a, const PathRecord *b)
{
    if (!on_tunnel(a) || !on_tunnel(b))
        return;
    for (guint i = 0; i < out->findings->len; i++) {
        Finding *f = out->findings->pdata[i];
        if (strcmp(f->code, "MEDIA_VIA_TUNNEL") != 0 || !f->evidence ||
            g_strcmp0(json_object_get_string_member_with_default(f->evidence, "path", ""),
                      "natural") != 0)
            continue;
        json_object_set_boolean_member(f->evidence, "hairpin", TRUE);
        JsonObject *h = json_object_new();
        json_object_set_string_member(h, "a", a->local.address ? a->local.address : "");
        json_object_set_string_member(h, "a_interface",
                                      a->local.interface ? a->local.interface : "");
        json_object_set_string_member(h, "b", b->local.address ? b->local.address : "");
        json_object_set_string_member(h, "b_interface",
                                      b->local.interface ? b->local.interface : "");
        json_object_set_object_member(f->evidence, "hairpin_pair", h);
        g_autofree char *old = f->message;
        f->message = g_strdup_printf("%s Both ends are VPN clients (%s on %s, %s on %s): the media "
                                     "hair-pins through the VPN gateway, into one tunnel and out "
                                     "of the other.",
                                     old, a->local.address, a->local.interface, b->local.address,
                                     b->local.interface);
    }
}

static PathRecord *find_named(GPtrArray *paths, const char *name)
{
    for (guint i = 0; i < paths->len; i++) {
        PathRecord *p = paths->pdata[i];
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* ---- GATEWAY_BLOCK_MISSING, seen from the other side ---- */

static const char *evidence_string(const Finding *f, const char *member)
{
    return f->evidence ? json_object_get_string_member_with_default(f->evidence, member, NULL)
                       : NULL;
}

/* One side's Windows Firewall drops the call clients' checks on a tunnel pair
 * (its GATEWAY_BLOCK_MISSING): the other side's end of that same pair (its
 * remote address is the warning side's local one) is no more open to a call
 * than that. Its TUNNEL_PATH_OPEN or MEDIA_VIA_TUNNEL on the path is dropped,
 * and its path's verdict taken again from what is left. */
static void mirror_gateway_warnings(RunResult *out, GPtrArray *const by_side[2])
{
    for (guint i = 0; i < out->findings->len; i++) {
        const Finding *w = out->findings->pdata[i];
        const char *side = evidence_string(w, "side"), *path = evidence_string(w, "path");
        if (strcmp(w->code, "GATEWAY_BLOCK_MISSING") != 0 || !side || !path)
            continue;
        int other = strcmp(side, side_names[0]) == 0 ? 1 : 0;
        PathRecord *q = find_named(by_side[other], path);
        g_autoptr(GInetAddress) mine = candidate_inet_address(evidence_string(w, "local"));
        g_autoptr(GInetAddress) theirs =
            candidate_inet_address(q && q->have_pair ? q->remote.address : NULL);
        if (!mine || !theirs || !g_inet_address_equal(mine, theirs))
            continue;
        q->verdict = VERDICT_PASS;
        for (guint k = out->findings->len; k-- > 0;) {
            const Finding *f = out->findings->pdata[k];
            if (g_strcmp0(evidence_string(f, "side"), side_names[other]) != 0 ||
                g_strcmp0(evidence_string(f, "path"), path) != 0)
                continue;
            if (strcmp(f->code, "TUNNEL_PATH_OPEN") == 0 ||
                strcmp(f->code, "MEDIA_VIA_TUNNEL") == 0) {
                g_ptr_array_remove_index(out->findings, k);
                if (k < i)
                    i--;
            } else {
                q->verdict = verdict_worst(q->verdict, f->severity);
            }
        }
    }
}

/* ---- EDGE_NO_ROUTE_TO_PEER ---- */

static gboolean check_passed(const RunResult *rep, const char *name)
{
    const CheckRecord *c = run_result_find_check(rep, name);
    return c && c->verdict == VERDICT_PASS;
}

/* A check that failed because nothing came back (no STUN error, no TLS failure). */
static gboolean check_unanswered(const RunResult *rep, const char *name)
{
    const CheckRecord *c = run_result_find_check(rep, name);
    return c && c->verdict == VERDICT_FAIL && c->reason &&
           (strstr(c->reason, "no answer") || strstr(c->reason, "timed out") ||
            strstr(c->reason, "timeout"));
}

static gboolean any_allocation(const RunResult *rep)
{
    return check_passed(rep, "turn-udp") || check_passed(rep, "turn-tcp") ||
           check_passed(rep, "turn-tls");
}

/* The side's own network: its physical interface's first IPv4 prefix. */
static char *side_network(const RunResult *rep)
{
    for (guint i = 0; i < json_array_get_length(rep->probes); i++) {
        JsonObject *p = json_array_get_object_element(rep->probes, i);
        JsonArray *ifs = p && json_object_has_member(p, "interfaces")
                             ? json_object_get_array_member(p, "interfaces")
                             : NULL;
        for (guint k = 0; ifs && k < json_array_get_length(ifs); k++) {
            JsonObject *n = json_array_get_object_element(ifs, k);
            if (!n ||
                g_strcmp0(json_object_get_string_member_with_default(n, "class", ""), "physical"))
                continue;
            JsonArray *a = json_object_has_member(n, "addresses")
                               ? json_object_get_array_member(n, "addresses")
                               : NULL;
            for (guint j = 0; a && j < json_array_get_length(a); j++) {
                const char *pfx = json_array_get_string_element(a, j);
                if (pfx && !strchr(pfx, ':'))
                    return g_strdup(pfx);
            }
        }
    }
    return g_strdup("?");
}

static const char *edge_asked(const RunResult *rep)
{
    const CheckRecord *c = run_result_find_check(rep, "turn-udp");
    return c && c->detail && json_object_has_member(c->detail, "server")
               ? json_object_get_string_member(c->detail, "server")
               : "the edge";
}

static void no_route_finding(RunResult *out, const VerifyRun *run, int x, const RunResult *rep,
                             const char *what)
{
    g_autofree char *net = side_network(rep);
    JsonObject *e = json_object_new();
    mark_side(e, x, run->agent[x]);
    json_object_set_string_member(e, "direction", x == 0 ? "edge to side a" : "edge to side b");
    json_object_set_string_member(e, "network", net);
    json_object_set_string_member(e, "edge", edge_asked(rep));
    run_result_add_finding(out, "EDGE_NO_ROUTE_TO_PEER", e,
                           "Side %s (%s): %s towards side %s's network %s never arrives, while "
                           "side %s (%s) is answered: the edge has no route back to %s.",
                           side_names[x], run->agent[x], what, side_names[x], net, side_names[!x],
                           run->agent[!x], net);
}

/* Both sides reach the edge, but what the edge sends towards one side's network
 * never arrives (seed 003: a branch subnet the edge has no route to). Two shapes:
 * that side's allocations are all unanswered while its route to the edge is
 * fine and the peer allocates; or, on the relay path, media arrives one way
 * only, the other way never. */
static void derive_no_route(RunResult *out, const VerifyRun *run, const RunResult *const reps[2],
                            GPtrArray *const by_side[2])
{
    for (int x = 0; x < 2; x++) {
        const RunResult *me = reps[x], *peer = reps[!x];
        if (!me || !peer)
            continue;
        if (check_unanswered(me, "turn-udp") && check_unanswered(me, "turn-tcp") &&
            check_passed(me, "route") && any_allocation(peer)) {
            no_route_finding(out, run, x, me, "every TURN answer from the edge");
            continue;
        }
        PathRecord *mine = find_named(by_side[x], "relay");
        PathRecord *theirs = find_named(by_side[!x], "relay");
        if (mine && theirs && mine->have_metrics && theirs->have_metrics &&
            mine->in.packets_sent > 0 && mine->in.packets_received == 0 &&
            theirs->in.packets_received > 0)
            no_route_finding(out, run, x, me, "relayed media");
    }
}

RunResult *verify_paired(const VerifyRun *run, const Profile *profile, const RunResult *report_a,
                         const RunResult *report_b)
{
    g_return_val_if_fail(run && profile, NULL);
    RunResult *out = new_result(run);
    run_result_set_dialect(out, profile);
    const RunResult *reports[2] = {report_a, report_b};
    g_autoptr(GPtrArray) paths_a = g_ptr_array_new_with_free_func((GDestroyNotify)path_record_free);
    g_autoptr(GPtrArray) paths_b = g_ptr_array_new_with_free_func((GDestroyNotify)path_record_free);
    GPtrArray *by_side[2] = {paths_a, paths_b};
    for (int s = 0; s < 2; s++) {
        if (reports[s]) {
            take_side(out, by_side, s, run->agent[s], reports[s], reports[!s], profile);
        } else {
            g_autofree char *prev = g_steal_pointer(&out->error);
            out->error = g_strdup_printf("%s%sside %s (%s) sent no report", prev ? prev : "",
                                         prev ? "; " : "", side_names[s], run->agent[s]);
        }
    }
    mirror_gateway_warnings(out, by_side);
    /* Paths in side a's order, then any only side b has. */
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (int s = 0; s < 2; s++) {
        for (guint i = 0; i < by_side[s]->len; i++) {
            const char *n = ((PathRecord *)by_side[s]->pdata[i])->name;
            if (!g_ptr_array_find_with_equal_func(names, n, g_str_equal, NULL))
                g_ptr_array_add(names, (gpointer)n);
        }
    }
    for (guint i = 0; i < names->len; i++) {
        PathRecord *a = find_named(paths_a, names->pdata[i]);
        PathRecord *b = find_named(paths_b, names->pdata[i]);
        PathRecord *p = path_record_copy(a ? a : b);
        p->sides[0] = a ? path_record_copy(a) : NULL;
        p->sides[1] = b ? path_record_copy(b) : NULL;
        p->verdict = verdict_worst(a ? a->verdict : VERDICT_PASS, b ? b->verdict : VERDICT_PASS);
        g_ptr_array_add(out->paths, p);
    }
    mark_hairpin(out, find_named(paths_a, "natural"), find_named(paths_b, "natural"));
    derive_no_route(out, run, reports, by_side);
    run_result_conclude(out);
    return out;
}

RunResult *verify_failed_run(const VerifyRun *run, const char *code, const char *const *agents,
                             const char *message)
{
    g_return_val_if_fail(run && message, NULL);
    RunResult *out = new_result(run);
    if (code) {
        JsonObject *e = json_object_new();
        JsonArray *who = json_array_new();
        for (const char *const *a = agents; a && *a; a++)
            json_array_add_string_element(who, *a);
        json_object_set_array_member(e, "agents", who);
        run_result_add_finding(out, code, e, "%s", message);
    }
    for (int s = 0; s < 2; s++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", run->agent[s]);
        mark_side(o, s, run->agent[s]);
        json_array_add_object_element(out->probes, o);
    }
    out->error = g_strdup(message);
    run_result_conclude(out);
    return out;
}
