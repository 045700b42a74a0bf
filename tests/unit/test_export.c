/* /metrics (controller/export.c) through a real controller on loopback, its
 * figures written to the fixture's SQLite file by the test: the text is parsed
 * here as Prometheus' text format 0.0.4 says, strictly, and checked by promtool
 * when the build found one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>

#include "api-server.h"
#include "iceprobe-config.h"

#define NOW 1767225600 /* 2026-01-01 00:00:00 UTC: where the controller's clock stands */

/* A label value no agent should have, but the store will hold: every character
 * the format escapes, and the ones a careless exporter trips on. */
#define HOSTILE_AGENT       "ev\"il\\agent\nb} 1\n# TYPE x"
#define HOSTILE_AGENT_LABEL "ev\\\"il\\\\agent\\nb} 1\\n# TYPE x"

typedef struct {
    Server *server;
    Store *store; /* the test's own connection to the controller's file */
} Ctx;

static int setup(void **state)
{
    Ctx *c = g_new0(Ctx, 1);
    c->server = server_new("[scheduler]\norder_timeout_s = 600\nsetup_s = 600\nlongpoll_s = 5\n"
                           "[schedule.nightly]\ncron = 0 2 * * *\nprofile = corp-vpn\n"
                           "a = laptop1\nb = corp1\n",
                           TRUE, NOW);
    g_autoptr(GError) e = NULL;
    c->store = store_open(c->server->fixture->config->store_path, &e);
    assert_non_null(c->store);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    Ctx *c = *state;
    store_close(c->store);
    server_free(c->server);
    g_free(c);
    return 0;
}

/* ---- the text format, parsed ---- */

typedef struct {
    char *name;
    GPtrArray *labels; /* name, value (unescaped), name, value, ... */
    double value;
} Sample;

static void sample_free(Sample *s)
{
    g_free(s->name);
    g_ptr_array_unref(s->labels);
    g_free(s);
}

typedef struct {
    GPtrArray *samples;   /* Sample */
    GHashTable *types;    /* family -> type */
    GHashTable *helps;    /* family -> help */
    GHashTable *families; /* family -> number of samples */
} Metrics;

static void metrics_free(Metrics *m)
{
    g_ptr_array_unref(m->samples);
    g_hash_table_unref(m->types);
    g_hash_table_unref(m->helps);
    g_hash_table_unref(m->families);
    g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Metrics, metrics_free)

static gboolean metric_name_ok(const char *p, gsize len)
{
    if (len == 0 || g_ascii_isdigit(p[0]))
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(p[i]) && p[i] != '_' && p[i] != ':')
            return FALSE;
    }
    return TRUE;
}

/* name="value",... up to '}'; *p after it. */
static void parse_labels(const char **p, GPtrArray *out, guint line)
{
    const char *c = *p;
    while (*c != '}') {
        const char *n = c;
        while (g_ascii_isalnum(*c) || *c == '_')
            c++;
        if (c == n || g_ascii_isdigit(*n) || c[0] != '=' || c[1] != '"')
            fail_msg("line %u: a label name then =\" expected at '%.20s'", line, n);
        g_ptr_array_add(out, g_strndup(n, c - n));
        c += 2;
        GString *v = g_string_new(NULL);
        for (; *c != '"'; c++) {
            if (*c == '\n' || *c == '\0')
                fail_msg("line %u: a label value runs past its line", line);
            if (*c == '\\') {
                c++;
                if (*c == 'n')
                    g_string_append_c(v, '\n');
                else if (*c == '\\' || *c == '"')
                    g_string_append_c(v, *c);
                else
                    fail_msg("line %u: '\\%c' is no escape of the format", line, *c);
            } else {
                g_string_append_c(v, *c);
            }
        }
        g_ptr_array_add(out, g_string_free(v, FALSE));
        c++;
        if (*c == ',')
            c++;
        else if (*c != '}')
            fail_msg("line %u: ',' or '}' expected after a label value", line);
    }
    *p = c + 1;
}

/* Fails the test on anything the format does not allow: every sample under the
 * # HELP and # TYPE of its family, families in one block each, a name and a
 * label set at most once, a number for every value. */
static Metrics *metrics_parse(const char *text)
{
    Metrics *m = g_new0(Metrics, 1);
    m->samples = g_ptr_array_new_with_free_func((GDestroyNotify)sample_free);
    m->types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->helps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->families = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!g_str_has_suffix(text, "\n"))
        fail_msg("the text does not end with a newline");
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *family = NULL; /* the block being read */
    for (guint i = 0; lines[i] && lines[i + 1]; i++) {
        const char *l = lines[i];
        guint line = i + 1;
        if (g_str_has_prefix(l, "# HELP ") || g_str_has_prefix(l, "# TYPE ")) {
            gboolean help = l[2] == 'H';
            const char *n = l + 7, *sp = strchr(n, ' ');
            if (!sp || !metric_name_ok(n, sp - n) || !sp[1])
                fail_msg("line %u: '%s'", line, l);
            g_autofree char *name = g_strndup(n, sp - n);
            GHashTable *seen = help ? m->helps : m->types;
            if (g_hash_table_contains(seen, name))
                fail_msg("line %u: a second %s for %s", line, help ? "HELP" : "TYPE", name);
            if (g_hash_table_contains(m->families, name))
                fail_msg("line %u: %s's metadata after its samples", line, name);
            if (!help && !g_strv_contains((const char *const[]){"counter", "gauge", "histogram",
                                                                "summary", "untyped", NULL},
                                          sp + 1))
                fail_msg("line %u: type '%s'", line, sp + 1);
            g_hash_table_insert(seen, g_strdup(name), g_strdup(sp + 1));
            g_free(family);
            family = g_steal_pointer(&name);
            continue;
        }
        if (l[0] == '#' || l[0] == '\0')
            fail_msg("line %u: '%s' is neither metadata nor a sample", line, l);
        Sample *s = g_new0(Sample, 1);
        g_ptr_array_add(m->samples, s);
        s->labels = g_ptr_array_new_with_free_func(g_free);
        const char *c = l;
        while (*c && *c != '{' && *c != ' ')
            c++;
        if (!metric_name_ok(l, c - l))
            fail_msg("line %u: metric name in '%s'", line, l);
        s->name = g_strndup(l, c - l);
        if (*c == '{') {
            c++;
            parse_labels(&c, s->labels, line);
        }
        if (*c != ' ')
            fail_msg("line %u: no value in '%s'", line, l);
        char *end = NULL;
        s->value = g_ascii_strtod(c + 1, &end);
        if (end == c + 1 || *end)
            fail_msg("line %u: value '%s'", line, c + 1);
        if (g_strcmp0(family, s->name) != 0)
            fail_msg("line %u: %s outside its family's block (in %s's)", line, s->name, family);
        if (!g_hash_table_contains(m->helps, s->name) || !g_hash_table_contains(m->types, s->name))
            fail_msg("line %u: %s without # HELP and # TYPE", line, s->name);
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(m->families, s->name));
        g_hash_table_insert(m->families, g_strdup(s->name), GUINT_TO_POINTER(n + 1));
        GString *key = g_string_new(s->name);
        for (guint k = 0; k < s->labels->len; k += 2)
            g_string_append_printf(key, "\x01%s\x02%s", (char *)s->labels->pdata[k],
                                   (char *)s->labels->pdata[k + 1]);
        if (g_hash_table_contains(series, key->str))
            fail_msg("line %u: the series '%s' twice", line, l);
        g_hash_table_add(series, g_string_free(key, FALSE));
    }
    return m;
}

/* The value of the series name{labels} (label name, value pairs, NULL at the
 * end; the series has these labels and no others); NAN if absent. */
static double metric(const Metrics *m, const char *name, ...)
{
    va_list ap;
    for (guint i = 0; i < m->samples->len; i++) {
        const Sample *s = m->samples->pdata[i];
        if (strcmp(s->name, name) != 0)
            continue;
        va_start(ap, name);
        guint k = 0;
        gboolean same = TRUE;
        for (const char *ln; same && (ln = va_arg(ap, const char *)); k += 2) {
            const char *lv = va_arg(ap, const char *);
            same = k + 1 < s->labels->len && strcmp(s->labels->pdata[k], ln) == 0 &&
                   strcmp(s->labels->pdata[k + 1], lv) == 0;
        }
        va_end(ap);
        if (same && k == s->labels->len)
            return s->value;
    }
    return NAN;
}

static guint samples_of(const Metrics *m, const char *name)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(m->families, name));
}

static char *scrape_text(Ctx *c)
{
    g_auto(Reply) r = http(c->server, "GET", "/metrics", NULL, NULL, "Content-Type");
    expect(&r, 200, NULL, NULL);
    assert_string_equal(r.header, "text/plain; version=0.0.4; charset=utf-8");
    return g_steal_pointer(&r.body);
}

static Metrics *scrape(Ctx *c)
{
    g_autofree char *text = scrape_text(c);
    return metrics_parse(text);
}

#define assert_metric(m, want, ...)                                                                \
    do {                                                                                           \
        double got_ = metric(m, __VA_ARGS__, NULL);                                                \
        if (!(fabs(got_ - (want)) < 1e-9))                                                         \
            fail_msg("%s: %g, want %g", #__VA_ARGS__, got_, (double)(want));                       \
    } while (0)

#define assert_no_metric(m, ...)                                                                   \
    do {                                                                                           \
        if (!isnan(metric(m, __VA_ARGS__, NULL)))                                                  \
            fail_msg("%s is there", #__VA_ARGS__);                                                 \
    } while (0)

/* ---- what the store holds ---- */

static void add_agent(Ctx *c, const char *name, gint64 last_seen)
{
    static const char *const groups[] = {"vpn", NULL};
    g_autofree char *hash = g_strconcat("hash-", name, NULL);
    assert_true(store_agent_add(c->store, name, groups, hash, NOW - 86400, NULL));
    if (last_seen)
        assert_true(store_agent_seen(c->store, name, last_seen, "0.9", NULL, NULL, NULL));
}

/* A finished run: the natural path with figures for both sides, the relay
 * path with no round trip measured, findings by code. */
static void finish_run(Ctx *c, const char *id, const char *a, const char *b, Verdict verdict,
                       double loss, gint64 finished, const char *const *codes)
{
    fixture_create_run(c->store, id, a, b, finished - 60);
    g_autoptr(RunResult) res = run_result_new("corp-vpn");
    g_free(res->run_id);
    res->run_id = g_strdup(id);
    PathRecord *p = run_result_add_path(res, "natural");
    p->have_pair = TRUE;
    p->local.type = g_strdup("srflx");
    p->local.transport = g_strdup("udp");
    p->local.egress_class = g_strdup("physical");
    p->have_metrics = TRUE;
    p->metrics.loss_ratio = loss;
    p->metrics.jitter_ms = 2.5;
    p->metrics.rtt_samples = 10;
    p->metrics.rtt_median_ms = 40;
    p->metrics.mos = 4.1;
    p->sides[0] = path_record_copy(p);
    p->sides[1] = path_record_copy(p);
    p->sides[1]->metrics.loss_ratio = loss / 2;
    g_free(p->sides[1]->local.egress_class);
    p->sides[1]->local.egress_class = g_strdup("tunnel");
    PathRecord *relay = run_result_add_path(res, "relay");
    relay->have_metrics = TRUE;
    relay->metrics.loss_ratio = 0.25;
    relay->metrics.rtt_samples = 0;
    relay->metrics.rtt_median_ms = -1;
    for (guint i = 0; codes && codes[i]; i++)
        run_result_add_finding(res, codes[i], NULL, "finding %s", codes[i]);
    res->verdict = verdict;
    g_autoptr(GError) e = NULL;
    if (!store_run_finish(c->store, id, RUN_DONE, res, NULL, finished, &e))
        fail_msg("finish %s: %s", id, e->message);
}

/* ---- the cases ---- */

static void test_every_sample_is_under_its_family_help_and_type(void **state)
{
    Ctx *c = *state;
    add_agent(c, HOSTILE_AGENT, NOW - 5);
    finish_run(c, "r1", "laptop1", "corp1", VERDICT_WARN, 0.02, NOW - 100,
               (const char *const[]){"QUALITY_LOSS", NULL});
    finish_run(c, "r2", HOSTILE_AGENT, "corp1", VERDICT_PASS, 0, NOW - 50, NULL);
    g_autoptr(Metrics) m = scrape(c);
    static const struct {
        const char *name, *type;
    } families[] = {
        {"iceprobe_run_verdict", "gauge"},
        {"iceprobe_loss_ratio", "gauge"},
        {"iceprobe_jitter_seconds", "gauge"},
        {"iceprobe_rtt_seconds", "gauge"},
        {"iceprobe_mos", "gauge"},
        {"iceprobe_selected_pair_info", "gauge"},
        {"iceprobe_run_finding", "gauge"},
        {"iceprobe_analysis_pattern", "gauge"},
        {"iceprobe_schedule_last_fire_timestamp_seconds", "gauge"},
        {"iceprobe_last_run_timestamp_seconds", "gauge"},
        {"iceprobe_agent_last_seen_timestamp_seconds", "gauge"},
        {"iceprobe_runs_total", "counter"},
        {"iceprobe_controller_runs", "gauge"},
        {"iceprobe_controller_agents", "gauge"},
        {"iceprobe_controller_long_polls", "gauge"},
        {"iceprobe_controller_store_errors_total", "counter"},
        {"iceprobe_controller_wakes_received_total", "counter"},
        {"iceprobe_controller_http_requests_total", "counter"},
        {"iceprobe_controller_http_server_errors_total", "counter"},
        {"iceprobe_controller_connections_total", "counter"},
        {"iceprobe_controller_connections_idle", "gauge"},
        {"iceprobe_controller_start_time_seconds", "gauge"},
        {"iceprobe_controller_build_info", "gauge"},
    };
    /* Each family docs/contract.md lists, with its type, and no other. */
    assert_int_equal(g_hash_table_size(m->types), G_N_ELEMENTS(families));
    for (gsize i = 0; i < G_N_ELEMENTS(families); i++) {
        const char *type = g_hash_table_lookup(m->types, families[i].name);
        if (g_strcmp0(type, families[i].type) != 0)
            fail_msg("%s: type %s, want %s", families[i].name, type, families[i].type);
    }
    assert_int_equal(samples_of(m, "iceprobe_run_verdict"), 2);
    assert_int_equal(samples_of(m, "iceprobe_loss_ratio"), 6); /* 2 runs x (a, b, relay) */
}

static void test_promtool_accepts_the_metrics_text(void **state)
{
#ifndef PROMTOOL
    skip();
#else
    Ctx *c = *state;
    add_agent(c, HOSTILE_AGENT, NOW - 5);
    finish_run(c, "r1", HOSTILE_AGENT, "corp1", VERDICT_FAIL, 0.3, NOW - 100,
               (const char *const[]){"QUALITY_LOSS", "QUALITY_JITTER", NULL});
    /* every pair with the hostile agent fails: a pattern, its side that name */
    finish_run(c, "r2", "laptop1", HOSTILE_AGENT, VERDICT_FAIL, 0.3, NOW - 90, NULL);
    finish_run(c, "r3", "laptop1", "corp1", VERDICT_PASS, 0, NOW - 80, NULL);
    g_autofree char *text = scrape_text(c);
    g_autofree char *want = g_strdup_printf("iceprobe_analysis_pattern{profile=\"corp-vpn\",side="
                                            "\"%s\",subnet=\"\",cause=\"unknown\"} 2\n",
                                            HOSTILE_AGENT_LABEL);
    if (!strstr(text, want))
        fail_msg("no line '%s' in:\n%s", want, text);
    const char *argv[] = {PROMTOOL, "check", "metrics", NULL};
    g_autoptr(GError) e = NULL;
    g_autoptr(GSubprocess) p =
        g_subprocess_newv(argv,
                          G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_MERGE,
                          &e);
    assert_non_null(p);
    g_autofree char *out = NULL;
    assert_true(g_subprocess_communicate_utf8(p, text, NULL, &out, NULL, &e));
    if (!g_subprocess_get_successful(p))
        fail_msg("promtool check metrics: %s\n%s", out, text);
#endif
}

static void test_hostile_agent_names_are_escaped_in_label_values(void **state)
{
    Ctx *c = *state;
    add_agent(c, HOSTILE_AGENT, NOW - 5);
    finish_run(c, "r1", HOSTILE_AGENT, "corp1", VERDICT_PASS, 0.01, NOW - 100, NULL);
    g_autofree char *text = scrape_text(c);
    g_autofree char *want =
        g_strdup_printf("iceprobe_agent_last_seen_timestamp_seconds{agent=\"%s\"}"
                        " %d\n",
                        HOSTILE_AGENT_LABEL, NOW - 5);
    if (!strstr(text, want))
        fail_msg("no line '%s' in:\n%s", want, text);
    assert_null(strstr(text, HOSTILE_AGENT)); /* nowhere raw */
    /* And it reads back as the name it was. */
    g_autoptr(Metrics) m = metrics_parse(text);
    assert_metric(m, NOW - 5, "iceprobe_agent_last_seen_timestamp_seconds", "agent", HOSTILE_AGENT);
    assert_metric(m, 0, "iceprobe_run_verdict", "profile", "corp-vpn", "a", HOSTILE_AGENT, "b",
                  "corp1");
}

static void test_path_figures_are_the_stored_ones_in_base_units(void **state)
{
    Ctx *c = *state;
    finish_run(c, "r1", "laptop1", "corp1", VERDICT_WARN, 0.02, NOW - 100, NULL);
    g_autoptr(Metrics) m = scrape(c);
#define PAIR "profile", "corp-vpn", "a", "laptop1", "b", "corp1"
    assert_metric(m, 0.02, "iceprobe_loss_ratio", PAIR, "path", "natural", "side", "a");
    assert_metric(m, 0.01, "iceprobe_loss_ratio", PAIR, "path", "natural", "side", "b");
    assert_metric(m, 0.0025, "iceprobe_jitter_seconds", PAIR, "path", "natural", "side", "a");
    assert_metric(m, 0.040, "iceprobe_rtt_seconds", PAIR, "path", "natural", "side", "a");
    assert_metric(m, 4.1, "iceprobe_mos", PAIR, "path", "natural", "side", "b");
    assert_metric(m, 1, "iceprobe_selected_pair_info", PAIR, "path", "natural", "side", "b",
                  "local_type", "srflx", "egress_class", "tunnel", "transport", "udp");
    /* The relay path: a loss figure, but no round trip was measured and no pair selected. */
    assert_metric(m, 0.25, "iceprobe_loss_ratio", PAIR, "path", "relay", "side", "a");
    assert_no_metric(m, "iceprobe_rtt_seconds", PAIR, "path", "relay", "side", "a");
    assert_int_equal(samples_of(m, "iceprobe_selected_pair_info"), 2);
    assert_metric(m, 1, "iceprobe_run_verdict", PAIR); /* warn */
    assert_metric(m, NOW - 100, "iceprobe_last_run_timestamp_seconds", PAIR);
#undef PAIR
}

static void test_run_series_come_from_the_newest_finished_run_of_each_pair(void **state)
{
    Ctx *c = *state;
    finish_run(c, "old", "laptop1", "corp1", VERDICT_FAIL, 0.5, NOW - 7200,
               (const char *const[]){"QUALITY_LOSS", NULL});
    finish_run(c, "new", "laptop1", "corp1", VERDICT_WARN, 0.03, NOW - 3600,
               (const char *const[]){"QUALITY_JITTER", "QUALITY_JITTER", NULL});
    finish_run(c, "other", "laptop2", "corp1", VERDICT_PASS, 0, NOW - 7000, NULL);
    fixture_create_run(c->store, "unfinished", "laptop1", "corp1",
                       NOW - 10); /* not a finished run */
    g_autofree char *text = scrape_text(c);
    g_autoptr(Metrics) m = metrics_parse(text);
#define PAIR "profile", "corp-vpn", "a", "laptop1", "b", "corp1"
    assert_metric(m, 1, "iceprobe_run_verdict", PAIR);
    assert_metric(m, 0.03, "iceprobe_loss_ratio", PAIR, "path", "natural", "side", "a");
    assert_metric(m, NOW - 3600, "iceprobe_last_run_timestamp_seconds", PAIR);
    /* Each code once, and only the newest run's. */
    assert_metric(m, 1, "iceprobe_run_finding", PAIR, "code", "QUALITY_JITTER");
    assert_no_metric(m, "iceprobe_run_finding", PAIR, "code", "QUALITY_LOSS");
    assert_int_equal(samples_of(m, "iceprobe_run_finding"), 1);
#undef PAIR
    assert_metric(m, 0, "iceprobe_run_verdict", "profile", "corp-vpn", "a", "laptop2", "b",
                  "corp1");
    assert_int_equal(samples_of(m, "iceprobe_run_verdict"), 2);
    /* Bounded labels: never a run id. */
    assert_null(strstr(text, "\"old\""));
    assert_null(strstr(text, "\"new\""));
    assert_null(strstr(text, "unfinished"));
}

/* An agent of its own group with a heartbeat's interfaces: eth0 at addr. */
static void add_agent_at(Ctx *c, const char *name, const char *group, const char *addr)
{
    const char *groups[] = {group, NULL};
    g_autofree char *hash = g_strconcat("hash-", name, NULL);
    assert_true(store_agent_add(c->store, name, groups, hash, NOW - 86400, NULL));
    g_autofree char *ifs = g_strdup_printf(
        "[{\"name\":\"eth0\",\"class\":\"physical\",\"addresses\":[\"%s\"]}]", addr);
    assert_true(store_agent_seen(c->store, name, NOW - 5, "0.9", ifs, NULL, NULL));
}

static void test_failing_pairs_that_share_a_side_are_a_pattern_series(void **state)
{
    Ctx *c = *state;
    add_agent_at(c, "branch1", "branch", "10.2.0.10/24");
    add_agent_at(c, "ext1", "external", "10.253.1.10/24");
    const char *const route[] = {"EDGE_NO_ROUTE_TO_PEER", NULL};
    finish_run(c, "r1", "laptop1", "corp1", VERDICT_PASS, 0, NOW - 400, NULL);
    finish_run(c, "r2", "laptop1", "branch1", VERDICT_FAIL, 1, NOW - 300, route);
    g_autoptr(Metrics) one = scrape(c);
    /* One failing pair says nothing of whose network: no series. */
    assert_int_equal(samples_of(one, "iceprobe_analysis_pattern"), 0);
    finish_run(c, "r3", "ext1", "branch1", VERDICT_FAIL, 1, NOW - 200, route);
    g_autoptr(Metrics) two = scrape(c);
    assert_metric(two, 2, "iceprobe_analysis_pattern", "profile", "corp-vpn", "side", "branch1",
                  "subnet", "10.2.0.0/24", "cause", "edge_route");
    assert_int_equal(samples_of(two, "iceprobe_analysis_pattern"), 1);
    /* The route back: the pairs pass again, and the series goes. */
    finish_run(c, "r4", "laptop1", "branch1", VERDICT_PASS, 0, NOW - 100, NULL);
    finish_run(c, "r5", "ext1", "branch1", VERDICT_PASS, 0, NOW - 50, NULL);
    g_autoptr(Metrics) back = scrape(c);
    assert_int_equal(samples_of(back, "iceprobe_analysis_pattern"), 0);
}

static void test_runs_total_stays_monotonic_across_pruning(void **state)
{
    Ctx *c = *state;
    for (int i = 0; i < 6; i++) {
        g_autofree char *id = g_strdup_printf("r%d", i);
        finish_run(c, id, "laptop1", "corp1", i < 4 ? VERDICT_PASS : VERDICT_FAIL, 0,
                   NOW - 10000 + i, NULL);
    }
    g_autoptr(Metrics) before = scrape(c);
    assert_metric(before, 4, "iceprobe_runs_total", "verdict", "pass");
    assert_metric(before, 2, "iceprobe_runs_total", "verdict", "fail");
    assert_metric(before, 0, "iceprobe_runs_total", "verdict", "warn");
    assert_metric(before, 0, "iceprobe_runs_total", "verdict", "error");
    guint deleted = 0;
    assert_true(store_prune(c->store, NOW, 100, &deleted, NULL));
    assert_int_equal(deleted, 5); /* the newest run stays */
    finish_run(c, "r6", "laptop1", "corp1", VERDICT_PASS, 0, NOW - 5, NULL);
    g_autoptr(Metrics) after = scrape(c);
    assert_metric(after, 5, "iceprobe_runs_total", "verdict", "pass");
    assert_metric(after, 2, "iceprobe_runs_total", "verdict", "fail");
    assert_metric(after, NOW - 5, "iceprobe_last_run_timestamp_seconds", "profile", "corp-vpn", "a",
                  "laptop1", "b", "corp1");
    /* Pruned again, nothing is counted twice. */
    assert_true(store_prune(c->store, NOW, 100, &deleted, NULL));
    g_autoptr(Metrics) again = scrape(c);
    assert_metric(again, 5, "iceprobe_runs_total", "verdict", "pass");
    assert_metric(again, 2, "iceprobe_runs_total", "verdict", "fail");
}

static void test_unfinished_runs_are_counted_by_state(void **state)
{
    Ctx *c = *state;
    fixture_create_run(c->store, "p1", "laptop1", "corp1", NOW - 30);
    fixture_create_run(c->store, "p2", "laptop2", "corp1", NOW - 20);
    fixture_create_run(c->store, "d1", "laptop1", "laptop2", NOW - 10);
    assert_true(store_run_offer(c->store, "d1", NOW - 6, NULL, NULL));
    g_autoptr(StoreRun) taken = store_run_take(c->store, "d1", 0, NOW - 5, NOW + 600, NULL);
    assert_non_null(taken);
    finish_run(c, "f1", "laptop2", "laptop1", VERDICT_PASS, 0, NOW - 100, NULL);
    g_autoptr(Metrics) m = scrape(c);
    assert_metric(m, 2, "iceprobe_controller_runs", "state", "pending");
    assert_metric(m, 1, "iceprobe_controller_runs", "state", "dispatched");
    assert_metric(m, 0, "iceprobe_controller_runs", "state", "running");
    assert_metric(m, 0, "iceprobe_controller_runs", "state", "verifying");
    assert_int_equal(samples_of(m, "iceprobe_controller_runs"), 4);
}

/* Seen: within two long-polls (longpoll_s = 5) and a minute, 70 s. */
static void test_agents_count_as_seen_within_two_long_polls_and_a_minute(void **state)
{
    Ctx *c = *state;
    add_agent(c, "edge70", NOW - 70);
    add_agent(c, "edge71", NOW - 71);
    g_autoptr(Metrics) m = scrape(c);
    assert_metric(m, 5, "iceprobe_controller_agents", "state", "registered");
    assert_metric(m, 1, "iceprobe_controller_agents", "state", "seen");
    assert_metric(m, NOW - 71, "iceprobe_agent_last_seen_timestamp_seconds", "agent", "edge71");
    /* The fixture's agents have never called: no series rather than a 0. */
    assert_no_metric(m, "iceprobe_agent_last_seen_timestamp_seconds", "agent", "laptop1");
    assert_int_equal(samples_of(m, "iceprobe_agent_last_seen_timestamp_seconds"), 2);
}

static void test_a_schedule_shows_when_it_last_fired(void **state)
{
    Ctx *c = *state;
    assert_true(store_schedule_set_last_fire(c->store, "nightly", NOW - 600, NULL));
    g_autoptr(Metrics) m = scrape(c);
    assert_metric(m, NOW - 600, "iceprobe_schedule_last_fire_timestamp_seconds", "schedule",
                  "nightly");
    assert_int_equal(samples_of(m, "iceprobe_schedule_last_fire_timestamp_seconds"), 1);
}

static void test_the_controller_counts_its_requests_and_says_its_version(void **state)
{
    Ctx *c = *state;
    g_autoptr(Metrics) first = scrape(c);
    g_auto(Reply) r = http(c->server, "GET", "/api/v1/nothing", ADMIN, NULL, NULL);
    expect(&r, 404, NULL, NULL);
    g_autoptr(Metrics) second = scrape(c);
    double n1 = metric(first, "iceprobe_controller_http_requests_total", NULL);
    double n2 = metric(second, "iceprobe_controller_http_requests_total", NULL);
    assert_true(n1 >= 1);
    assert_true(n2 - n1 == 2); /* the 404 and the scrape before this one */
    assert_metric(second, 0, "iceprobe_controller_http_server_errors_total");
    assert_metric(second, 0, "iceprobe_controller_store_errors_total");
    assert_metric(second, 0, "iceprobe_controller_wakes_received_total"); /* SQLite */
    assert_metric(second, 0, "iceprobe_controller_long_polls");
    assert_metric(second, 1, "iceprobe_controller_build_info", "version", ICEPROBE_VERSION);
    /* The real time it started, not the scheduler's clock. */
    double started = metric(second, "iceprobe_controller_start_time_seconds", NULL);
    double real_now = (double)(g_get_real_time() / G_USEC_PER_SEC);
    assert_true(started > real_now - 600 && started <= real_now);
}

static void test_a_store_that_cannot_answer_is_a_503_not_an_empty_scrape(void **state)
{
    Ctx *c = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(c->server->fixture->config->store_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE runs RENAME TO runs_away", NULL, NULL, NULL),
                     SQLITE_OK);
    g_auto(Reply) r = http(c->server, "GET", "/metrics", NULL, NULL, NULL);
    expect(&r, 503, "error.code", "store");
    assert_null(strstr(r.body, "iceprobe_runs_total"));
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE runs_away RENAME TO runs", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    g_autoptr(Metrics) m = scrape(c);
    assert_metric(m, 0, "iceprobe_runs_total", "verdict", "pass");
}

int main(void)
{
#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_every_sample_is_under_its_family_help_and_type),
        CASE(test_promtool_accepts_the_metrics_text),
        CASE(test_hostile_agent_names_are_escaped_in_label_values),
        CASE(test_path_figures_are_the_stored_ones_in_base_units),
        CASE(test_run_series_come_from_the_newest_finished_run_of_each_pair),
        CASE(test_failing_pairs_that_share_a_side_are_a_pattern_series),
        CASE(test_runs_total_stays_monotonic_across_pruning),
        CASE(test_unfinished_runs_are_counted_by_state),
        CASE(test_agents_count_as_seen_within_two_long_polls_and_a_minute),
        CASE(test_a_schedule_shows_when_it_last_fired),
        CASE(test_the_controller_counts_its_requests_and_says_its_version),
        CASE(test_a_store_that_cannot_answer_is_a_503_not_an_empty_scrape),
    };
#undef CASE
    return cmocka_run_group_tests(tests, NULL, NULL);
}
