/* The human report and JUnit XML of a run. */
#include <string.h>

#include "run.h"

static const char *mark(Verdict v, gboolean color)
{
    static const char *const plain[] = {"ok  ", "WARN", "FAIL", "ERR ", "skip"};
    static const char *const colored[] = {"\033[32mok  \033[0m", "\033[33mWARN\033[0m",
                                          "\033[31mFAIL\033[0m", "\033[31mERR \033[0m",
                                          "\033[2mskip\033[0m"};
    return (guint)v < G_N_ELEMENTS(plain) ? (color ? colored[v] : plain[v]) : "?";
}

static void path_row(GString *s, const PathRecord *p, const char *name, gboolean color)
{
    if (!p->have_pair) {
        g_string_append_printf(s, "  %s %-18s %s\n", mark(p->verdict, color), name,
                               p->reason ? p->reason : "no pair");
        return;
    }
    g_autofree char *pair = g_strdup_printf("%s %s -> %s %s", p->local.type, p->local.address,
                                            p->remote.type, p->remote.address);
    g_autofree char *egress =
        g_strdup_printf("%s (%s)", p->local.egress_interface, p->local.egress_class);
    g_string_append_printf(s, "  %s %-18s %-52s %-18s %-4s", mark(p->verdict, color), name, pair,
                           egress, p->local.transport);
    if (p->have_metrics)
        g_string_append_printf(s, " %5.1f%% %6.1f %6.1f %4.2f", p->metrics.loss_ratio * 100,
                               p->metrics.jitter_ms, p->metrics.rtt_median_ms, p->metrics.mos);
    if (p->have_counters)
        g_string_append_printf(s, "  %s tx/rx %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "%s%s",
                               p->tunnel_interface, p->tunnel_tx, p->tunnel_rx,
                               p->counters_per_connection && conn_counter_bytes(p->counted_by)
                                   ? " bytes"
                                   : "",
                               p->counters_per_connection ? " (its own TCP)" : "");
    if (p->have_egress && !p->counters_per_connection)
        g_string_append_printf(s, ", media out %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                                  " via tunnel",
                               p->egress_media_tunnel, p->egress_media_seen);
    if (p->qos_out.have || p->qos_in.have) {
        g_string_append_printf(s, ", DSCP %u kept", p->dscp);
        if (p->qos_out.have)
            g_string_append_printf(s, " out %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                   p->qos_out.marked, p->qos_out.seen);
        if (p->qos_in.have)
            g_string_append_printf(s, " in %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                   p->qos_in.marked, p->qos_in.seen);
    }
    if (p->connected_ms >= 0)
        g_string_append_printf(s, "  pair at %.0f ms%s", p->connected_ms,
                               p->pair_changes->len > 1 ? ", changed" : "");
    g_string_append_c(s, '\n');
}

char *report_text(const RunResult *r, gboolean color)
{
    GString *s = g_string_new(NULL);
    g_autofree char *when = g_date_time_format(r->started_at, "%Y-%m-%dT%H:%M:%SZ");
    g_string_append_printf(s, "iceprobe: %s%s%s (exit %d)  profile %s  %s  run %.8s\n",
                           color ? "\033[1m" : "", verdict_to_string(r->verdict),
                           color ? "\033[0m" : "", verdict_exit_code(r->verdict), r->profile, when,
                           r->run_id);
    for (guint i = 0; i < json_array_get_length(r->probes); i++) {
        JsonObject *o = json_array_get_object_element(r->probes, i);
        if (o && json_object_has_member(o, "side"))
            g_string_append_printf(s, "%s side %s: agent %s", i ? "," : "",
                                   json_object_get_string_member_with_default(o, "side", "?"),
                                   json_object_get_string_member_with_default(o, "agent", "?"));
        if (o && json_object_has_member(o, "side") && i + 1 == json_array_get_length(r->probes))
            g_string_append_c(s, '\n');
    }
    if (r->error)
        g_string_append_printf(s, "error: %s\n", r->error);
    g_string_append(s, "\nChecks\n");
    for (guint i = 0; i < r->checks->len; i++) {
        const CheckRecord *c = r->checks->pdata[i];
        const char *side = c->detail && json_object_has_member(c->detail, "side")
                               ? json_object_get_string_member_with_default(c->detail, "side", "")
                               : NULL;
        g_autofree char *name = side ? g_strdup_printf("%s %s", c->name, side) : g_strdup(c->name);
        g_string_append_printf(s, "  %s %-12s %s\n", mark(c->verdict, color), name, c->reason);
    }
    if (r->paths->len) {
        g_string_append_printf(s, "\nPaths %-67s %-18s %-4s %6s %6s %6s %4s\n", "(local -> remote)",
                               "egress", "tr", "loss", "jit ms", "rtt ms", "MOS");
        for (guint i = 0; i < r->paths->len; i++) {
            const PathRecord *p = r->paths->pdata[i];
            if (!p->sides[0] && !p->sides[1]) {
                path_row(s, p, p->name, color);
                continue;
            }
            /* A paired run: the path as each side saw it. */
            for (int k = 0; k < 2; k++) {
                if (!p->sides[k])
                    continue;
                g_autofree char *name = g_strdup_printf("%s %c", p->name, 'a' + k);
                path_row(s, p->sides[k], name, color);
            }
        }
    }
    if (r->findings->len) {
        g_string_append(s, "\nFindings\n");
        for (guint i = 0; i < r->findings->len; i++) {
            const Finding *f = r->findings->pdata[i];
            g_string_append_printf(s, "  %s %s: %s\n", mark(f->severity, color), f->code,
                                   f->message);
        }
    }
    return g_string_free(s, FALSE);
}

static void junit_case(GString *s, const char *klass, const char *name, Verdict v,
                       const char *reason, double ms)
{
    g_autofree char *n = g_markup_escape_text(name, -1);
    g_autofree char *why = g_markup_escape_text(reason ? reason : "", -1);
    g_string_append_printf(s, "    <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\">", klass, n,
                           ms / 1000.0);
    if (v == VERDICT_FAIL || v == VERDICT_WARN)
        g_string_append_printf(s, "<failure type=\"%s\" message=\"%s\"/>", verdict_to_string(v),
                               why);
    else if (v == VERDICT_ERROR)
        g_string_append_printf(s, "<error message=\"%s\"/>", why);
    else if (v == VERDICT_SKIP)
        g_string_append_printf(s, "<skipped message=\"%s\"/>", why);
    else
        g_string_append_printf(s, "<system-out>%s</system-out>", why);
    g_string_append(s, "</testcase>\n");
}

char *report_junit(const RunResult *r)
{
    guint failures = 0, errors = 0, skipped = 0, n = r->checks->len + r->paths->len;
    GString *cases = g_string_new(NULL);
    for (guint i = 0; i < r->checks->len; i++) {
        const CheckRecord *c = r->checks->pdata[i];
        junit_case(cases, "iceprobe.checks", c->name, c->verdict, c->reason, c->duration_ms);
        failures += c->verdict == VERDICT_FAIL || c->verdict == VERDICT_WARN;
        errors += c->verdict == VERDICT_ERROR;
        skipped += c->verdict == VERDICT_SKIP;
    }
    for (guint i = 0; i < r->paths->len; i++) {
        const PathRecord *p = r->paths->pdata[i];
        junit_case(cases, "iceprobe.paths", p->name, p->verdict, p->reason, p->total_ms);
        failures += p->verdict == VERDICT_FAIL || p->verdict == VERDICT_WARN;
        errors += p->verdict == VERDICT_ERROR;
        skipped += p->verdict == VERDICT_SKIP;
    }
    g_autofree char *profile = g_markup_escape_text(r->profile, -1);
    GString *s = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    g_string_append_printf(s,
                           "  <testsuite name=\"iceprobe %s\" tests=\"%u\" failures=\"%u\" "
                           "errors=\"%u\" skipped=\"%u\">\n%s  </testsuite>\n</testsuites>\n",
                           profile, n, failures, errors, skipped, cases->str);
    g_string_free(cases, TRUE);
    return g_string_free(s, FALSE);
}
