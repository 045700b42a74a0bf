/* The status page and a run's page (controller/status.c) through a real
 * controller on loopback, from what the test writes to the fixture's SQLite
 * file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "api-server.h"

#define NOW 1767225600 /* 2026-01-01 00:00:00 UTC: where the controller's clock stands */

#define HOSTILE_AGENT     "<script>alert('agent')</script>"
#define HOSTILE_AGENT_ESC "&lt;script&gt;alert(&apos;agent&apos;)&lt;/script&gt;"
#define HOSTILE_FINDING   "<img src=x onerror=alert(1)>"
#define HOSTILE_IFACE     "<b>eth0</b>"

typedef struct {
    Server *server;
    Store *store; /* the test's own connection to the controller's file */
} Ctx;

static Ctx *ctx_new(gboolean agents, const char *extra)
{
    Ctx *c = g_new0(Ctx, 1);
    g_autofree char *conf =
        g_strconcat("[scheduler]\norder_timeout_s = 600\nsetup_s = 600\nlongpoll_s = 5\n"
                    "[auth]\nstatus_public = true\n",
                    extra, NULL);
    c->server = server_new(conf, agents, NOW);
    c->store = store_open(c->server->fixture->config->store_path, NULL);
    assert_non_null(c->store);
    return c;
}

static int setup(void **state)
{
    *state = ctx_new(TRUE, "");
    return 0;
}

static int setup_empty(void **state)
{
    *state = ctx_new(FALSE, "");
    return 0;
}

/* A schedule every ten minutes (its runs' expected interval). */
static int setup_tenmin(void **state)
{
    *state = ctx_new(TRUE, "[schedule.tenmin]\ncron = */10 * * * *\nprofile = corp-vpn\n"
                           "a = laptop1\nb = corp1\n");
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

static char *page(Ctx *c, const char *path, guint status)
{
    g_auto(Reply) r = http(c->server, "GET", path, NULL, NULL, "Content-Type");
    expect(&r, status, NULL, NULL);
    if (status == 200)
        assert_string_equal(r.header, "text/html; charset=utf-8");
    return g_steal_pointer(&r.body);
}

static guint count(const char *text, const char *what)
{
    guint n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

#define assert_in(text, what)                                                                      \
    do {                                                                                           \
        if (!strstr(text, what))                                                                   \
            fail_msg("'%s' is not in the page:\n%s", what, text);                                  \
    } while (0)

static void add_agent(Ctx *c, const char *name, gint64 last_seen, const char *interfaces)
{
    static const char *const groups[] = {"vpn", "lab", NULL};
    g_autofree char *hash = g_strconcat("hash-", name, NULL);
    assert_true(store_agent_add(c->store, name, groups, hash, NOW - 86400, NULL));
    if (last_seen)
        assert_true(
            store_agent_seen(c->store, name, last_seen, "0.6.0", interfaces,
                             strstr(interfaces ? interfaces : "", "wg0")
                                 ? "{\"interface\":\"wg0\",\"product\":\"WireGuard (kernel)\","
                                   "\"tunnel\":\"split\",\"mtu\":1420,"
                                   "\"pool_address\":\"100.64.0.7\"}"
                                 : NULL,
                             NULL));
}

/* A finished run: the natural path, each side's figures (side b's loss
 * doubled), and a finding whose message is finding_text (code: code, else
 * QUALITY_LOSS); side a's ICE record is record (taken; may be NULL). */
static void finish_run_code(Ctx *c, const char *id, const char *a, const char *b, Verdict verdict,
                            double loss, gint64 finished, const char *code,
                            const char *finding_text, IceRecord *record)
{
    fixture_create_run(c->store, id, a, b, finished - 60);
    g_autoptr(RunResult) res = run_result_new("corp-vpn");
    g_free(res->run_id);
    res->run_id = g_strdup(id);
    PathRecord *p = run_result_add_path(res, "natural");
    p->have_pair = TRUE;
    p->local.type = g_strdup("relay");
    p->local.transport = g_strdup("udp");
    p->local.address = g_strdup("203.0.113.10:49200");
    p->local.interface = g_strdup("eth0");
    p->local.interface_class = g_strdup("physical");
    p->local.egress_interface = g_strdup("eth0");
    p->local.egress_class = g_strdup("physical");
    p->remote.address = g_strdup("198.51.100.7:50000");
    p->have_metrics = TRUE;
    p->metrics.loss_ratio = loss;
    p->metrics.jitter_ms = 3.25;
    p->metrics.rtt_samples = 10;
    p->metrics.rtt_median_ms = 41.5;
    p->metrics.mos = 4.2;
    p->sides[0] = path_record_copy(p);
    p->sides[1] = path_record_copy(p);
    p->sides[1]->metrics.loss_ratio = loss * 2;
    p->sides[0]->ice_record = record;
    if (finding_text)
        run_result_add_finding(res, code ? code : "QUALITY_LOSS", NULL, "%s", finding_text);
    res->verdict = verdict;
    g_autoptr(GError) e = NULL;
    if (!store_run_finish(c->store, id, RUN_DONE, res, NULL, finished, &e))
        fail_msg("finish %s: %s", id, e->message);
}

static void finish_run(Ctx *c, const char *id, const char *a, const char *b, Verdict verdict,
                       double loss, gint64 finished, const char *finding_text)
{
    finish_run_code(c, id, a, b, verdict, loss, finished, NULL, finding_text, NULL);
}

static void test_an_empty_store_says_so_in_every_section(void **state)
{
    Ctx *c = *state;
    g_autofree char *p = page(c, "/", 200);
    assert_in(p, "No run has finished yet.");
    assert_in(p, "<h2>Runs under way</h2><p class=\"muted\">None.</p>");
    assert_in(p, "No agent is registered");
    assert_in(p, "0 agents &middot; 0 runs under way");
    assert_in(p, "2026-01-01 00:00:00 UTC"); /* the controller's clock */
    assert_null(strstr(p, "<table"));
    assert_null(strstr(p, "<svg"));
    assert_true(g_str_has_suffix(p, "</body></html>\n"));
}

static void test_the_page_lists_each_pair_latest_verdict_runs_under_way_and_agents(void **state)
{
    Ctx *c = *state;
    add_agent(c, "edge1", NOW - 30,
              "[{\"name\":\"wg0\",\"class\":\"tunnel\"},"
              "{\"name\":\"eth0\",\"class\":\"physical\"}]");
    finish_run(c, "old-fail", "laptop1", "corp1", VERDICT_FAIL, 0.4, NOW - 7200, "old loss");
    finish_run(c, "new-warn", "laptop1", "corp1", VERDICT_WARN, 0.03, NOW - 3600,
               "loss 3 % in the worst 15 s");
    finish_run(c, "pass-2", "laptop2", "corp1", VERDICT_PASS, 0, NOW - 1800, NULL);
    gboolean is_new = FALSE;
    assert_true(store_agent_network_event(
        c->store, "edge1", "e.1",
        "{\"id\":\"e.1\",\"kind\":\"vpn-up\",\"at\":1767225540,\"changes\":[\"wg0 came up "
        "(100.64.0.7/32)\",\"default route via 192.0.2.1 dev eth0\"]}",
        &is_new, NULL));
    fixture_create_run(c->store, "under-way-1", "edge1", "corp1", NOW - 20);
    assert_true(store_run_offer(c->store, "under-way-1", NOW - 11, NULL, NULL));
    g_autoptr(StoreRun) taken =
        store_run_take(c->store, "under-way-1", 0, NOW - 10, NOW + 600, NULL);
    assert_non_null(taken);
    g_autofree char *p = page(c, "/", 200);
    assert_in(p, "4 agents &middot; 1 runs under way");
    /* The newest run of each pair, and only that. */
    assert_in(p, "<tr><td>corp-vpn</td><td>laptop1</td><td>corp1</td><td><span class=\"v warn\">"
                 "warn</span></td><td>2025-12-31 23:00:00 UTC</td>");
    assert_in(p, "<li><code>QUALITY_LOSS</code> loss 3 % in the worst 15 s");
    assert_null(strstr(p, "old loss"));
    assert_in(p, "<a href=\"/runs/new-warn\">page</a>");
    assert_null(strstr(p, "<a href=\"/runs/old-fail\">page</a>"));
    assert_in(p, "<span class=\"v pass\">pass</span></td><td>2025-12-31 23:30:00 UTC</td><td>"
                 "api</td><td><span class=\"muted\">no findings</span>");
    /* Under way: its state and when it was made. */
    assert_in(p, "<tr><td><a href=\"/runs/under-way-1\">under-wa</a></td><td>corp-vpn</td><td>"
                 "edge1</td><td>corp1</td><td>dispatched</td><td>2025-12-31 23:59:40 UTC</td><td>"
                 "api</td></tr>");
    /* Agents: groups, when seen, version, interfaces with their classes. */
    assert_in(p, "<tr><td>edge1</td><td>vpn, lab</td><td>2025-12-31 23:59:30 UTC</td><td>0.6.0"
                 "</td><td>wg0 (tunnel), eth0 (physical)</td><td>wg0: WireGuard (kernel), split "
                 "tunnel, MTU 1420, pool 100.64.0.7</td><td>vpn-up at 2025-12-31 23:59:00 UTC: "
                 "wg0 came up (100.64.0.7/32); default route via 192.0.2.1 dev eth0</td></tr>");
    assert_in(p, "<tr><td>laptop2</td><td>vpn</td><td>never</td><td>-</td><td></td><td><span "
                 "class=\"muted\">no tunnel</span></td><td><span class=\"muted\">none</span>"
                 "</td></tr>");
}

static void test_the_page_opens_on_the_matrix_and_its_analysis(void **state)
{
    Ctx *c = *state;
    add_agent(c, "branch1", NOW - 5,
              "[{\"name\":\"eth0\",\"class\":\"physical\",\"addresses\":[\"10.2.0.10/24\"]}]");
    finish_run(c, "run-pass", "laptop1", "corp1", VERDICT_PASS, 0, NOW - 900, NULL);
    finish_run(c, "run-pass-2", "laptop2", "corp1", VERDICT_PASS, 0, NOW - 800, NULL);
    finish_run_code(c, "run-fail-1", "laptop1", "branch1", VERDICT_FAIL, 1, NOW - 700,
                    "EDGE_NO_ROUTE_TO_PEER", "no relayed media from the branch", NULL);
    finish_run_code(c, "run-fail-2", "corp1", "branch1", VERDICT_FAIL, 1, NOW - 600,
                    "EDGE_NO_ROUTE_TO_PEER", "no relayed media from the branch", NULL);
    g_autofree char *p = page(c, "/", 200);
    const char *matrix = strstr(p, "<h2>Who reaches whom</h2>");
    assert_non_null(matrix);
    /* The page opens on it: before the table of latest verdicts. */
    assert_true(matrix < strstr(p, "<h2>Latest verdict"));
    assert_in(p, "<h3>Profile corp-vpn</h3><table class=\"matrix\">");
    /* Agents by group (internal: corp1; vpn: branch1, laptop1, laptop2), the
     * group over its columns and beside its rows. */
    assert_in(p, "<th class=\"grp\" colspan=\"1\">internal</th><th class=\"grp\" "
                 "colspan=\"3\">vpn</th></tr><tr><th class=\"ag\">corp1</th><th class=\"ag\">"
                 "branch1</th><th class=\"ag\">laptop1</th><th class=\"ag\">laptop2</th></tr>");
    assert_in(p, "<tr><th class=\"grp\" rowspan=\"3\">vpn</th><th class=\"ag\">branch1</th>");
    /* A cell: the verdict, its codes, a link to the run; both ways of a pair
     * run one way; the diagonal; a pair never run. */
    assert_in(p, "<td class=\"c c-fail\"><a href=\"/runs/run-fail-1\" title=\"laptop1 (side a) "
                 "with branch1 (side b), finished 2025-12-31 23:48:20 UTC\"><span class=\"v "
                 "fail\">fail</span><code>EDGE_NO_ROUTE_TO_PEER</code></a></td>");
    assert_int_equal(count(p, "<a href=\"/runs/run-fail-1\" title="), 2);
    assert_int_equal(count(p, "<td class=\"self\">"), 4);
    assert_int_equal(count(p, "<td class=\"never\">never run</td>"), 4); /* laptop2's */
    /* Under it, the analysis: who, where, why, and the runs that show it. */
    assert_in(p, "<div class=\"analysis\" data-cause=\"edge_route\"><p>Every pair with agent "
                 "branch1, on 10.2.0.0/24, fails and every other pair passes: the edge lacks its "
                 "route to that subnet, so relayed media to and from it never arrives (add a "
                 "persistent route to it on the edge&apos;s internal interface).</p><p>Runs that "
                 "show it: <a href=\"/runs/run-fail-2\">run-fail</a>, <a "
                 "href=\"/runs/run-fail-1\">run-fail</a></p></div>");
}

static void test_the_matrix_says_when_no_pair_has_run(void **state)
{
    Ctx *c = *state;
    g_autofree char *p = page(c, "/", 200);
    assert_in(p, "<h2>Who reaches whom</h2><p class=\"muted\">No run has finished and no "
                 "schedule names a pair yet.</p>");
}

static void test_hostile_agent_names_and_finding_messages_are_escaped(void **state)
{
    Ctx *c = *state;
    g_autofree char *ifs =
        g_strdup_printf("[{\"name\":\"%s\",\"class\":\"<i>physical</i>\"}]", HOSTILE_IFACE);
    add_agent(c, HOSTILE_AGENT, NOW - 5, ifs);
    finish_run(c, "r1", HOSTILE_AGENT, "corp1", VERDICT_WARN, 0.05, NOW - 100, HOSTILE_FINDING);
    fixture_create_run(c->store, "r2", HOSTILE_AGENT, "corp1", NOW - 10);
    g_auto(Reply) r = http(c->server, "GET", "/", NULL, NULL, "Content-Security-Policy");
    expect(&r, 200, NULL, NULL);
    const char *p = r.body;
    /* No markup from the store reaches the page raw, and no script runs. */
    assert_null(strstr(p, "<script"));
    assert_null(strstr(p, HOSTILE_FINDING));
    assert_null(strstr(p, HOSTILE_IFACE));
    assert_null(strstr(p, "<i>physical"));
    assert_string_equal(r.header, "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    /* The name is there, escaped: the latest table, the chart's heading, under
     * way, the agents. */
    assert_true(count(p, HOSTILE_AGENT_ESC) >= 4);
    assert_in(p, "<th class=\"ag\">" HOSTILE_AGENT_ESC "</th>"); /* the matrix */
    assert_in(p, "title=\"" HOSTILE_AGENT_ESC " (side a) with corp1");
    assert_in(p, "&lt;img src=x onerror=alert(1)&gt;");
    assert_in(p, "&lt;b&gt;eth0&lt;/b&gt; (&lt;i&gt;physical&lt;/i&gt;)");
    /* The run's own page too. */
    g_autofree char *run = page(c, "/runs/r1", 200);
    assert_null(strstr(run, "<script"));
    assert_null(strstr(run, HOSTILE_FINDING));
    assert_in(run, "<h1>corp-vpn: " HOSTILE_AGENT_ESC " &#8596; corp1</h1>");
    assert_in(run, "&lt;img src=x onerror=alert(1)&gt;");
}

static void test_history_charts_follow_the_natural_path_of_side_a_oldest_first(void **state)
{
    Ctx *c = *state;
    finish_run(c, "h1", "laptop1", "corp1", VERDICT_PASS, 0.01, NOW - 3000, NULL);
    finish_run(c, "h2", "laptop1", "corp1", VERDICT_PASS, 0.02, NOW - 2000, NULL);
    finish_run(c, "h3", "laptop1", "corp1", VERDICT_WARN, 0.05, NOW - 1000, "loss");
    g_autofree char *p = page(c, "/", 200);
    /* Four charts (loss, jitter, RTT, MOS), a point per run in each. */
    assert_int_equal(count(p, "<div class=\"chart\">"), 4);
    assert_int_equal(count(p, "<circle"), 12);
    assert_int_equal(count(p, "<a href=\"/runs/h1\"><circle"), 4);
    const char *h1 = strstr(p, "<a href=\"/runs/h1\"><circle");
    const char *h3 = strstr(p, "<a href=\"/runs/h3\"><circle");
    assert_true(h1 && h3 && h1 < h3);
    /* Side a's loss in percent (side b's is twice that), the newest at the top. */
    assert_in(p, "<title>2025-12-31 23:10:00 UTC: 1</title>"); /* h1: 1 % */
    assert_in(p, "<title>2025-12-31 23:43:20 UTC: 5</title>"); /* h3: 5 % */
    assert_null(strstr(p, ": 10</title>"));
    assert_in(p, "<title>2025-12-31 23:10:00 UTC: 41.5</title>"); /* RTT, ms */
    assert_in(p, "<text x=\"2\" y=\"14\" font-size=\"10\">5</text>");
}

static void test_history_charts_have_a_time_axis_thresholds_and_gaps(void **state)
{
    Ctx *c = *state;
    /* Hourly, then nothing for almost seven hours (over 2.5 times the median
     * interval between the pair's runs, which have no schedule). */
    static const gint64 ago[] = {36000, 32400, 28800, 25200, 600};
    for (guint i = 0; i < G_N_ELEMENTS(ago); i++) {
        g_autofree char *id = g_strdup_printf("t%u", i + 1);
        finish_run(c, id, "laptop1", "corp1", VERDICT_PASS, 0.002, NOW - ago[i], NULL);
    }
    g_autofree char *p = page(c, "/", 200);
    assert_in(p, "(natural path, side a; last 5 runs; times UTC)");
    /* Ticks every three hours over ten hours (14:00 to 23:50), from the step
     * before to the step after, labelled, in each of the four. */
    for (guint i = 0; i < 5; i++) {
        g_autofree char *label = g_strdup_printf("fill=\"#555\">%02u:00</text>", (12 + 3 * i) % 24);
        assert_int_equal(count(p, label), 4);
    }
    assert_int_equal(count(p, "fill=\"#555\">"), 20);
    /* The profile's thresholds: loss 1 %, jitter 30 ms, RTT 100 ms, MOS 3.6. */
    assert_int_equal(count(p, "<line class=\"threshold\""), 4);
    assert_in(p, "fill=\"#c62828\">max 1</text>");
    assert_in(p, "fill=\"#c62828\">max 30</text>");
    assert_in(p, "fill=\"#c62828\">max 100</text>");
    assert_in(p, "fill=\"#c62828\">min 3.6</text>");
    /* The gap: a band, and the line broken in two in each chart. */
    assert_int_equal(count(p, "<title>no run for 6 h 50 min</title></rect>"), 4);
    assert_int_equal(count(p, "<polyline"), 8);
    assert_int_equal(count(p, "<circle"), 20);
}

static void test_a_schedule_s_period_sets_where_the_line_breaks(void **state)
{
    Ctx *c = *state;
    /* Runs of a schedule every 10 minutes: a 30-minute pause is a gap, though
     * it is the median of this pair's intervals. */
    static const gint64 ago[] = {7200, 5400, 3600, 3000, 1200};
    for (guint i = 0; i < G_N_ELEMENTS(ago); i++) {
        g_autofree char *id = g_strdup_printf("s%u", i + 1);
        finish_run(c, id, "laptop1", "corp1", VERDICT_PASS, 0.002, NOW - ago[i], NULL);
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(c->server->fixture->config->store_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "UPDATE runs SET schedule = 'tenmin'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    g_autofree char *p = page(c, "/", 200);
    /* 1800, 1800, 600, 1800 s: three gaps (over 2.5 x 600 s) in each chart. */
    assert_int_equal(count(p, "<rect class=\"gap\""), 12);
    assert_int_equal(count(p, "<polyline"), 16);
}

static void test_charts_are_kept_to_the_pairs_that_need_looking_at_first(void **state)
{
    Ctx *c = *state;
    /* 25 pairs: one fails, the others pass. */
    for (int i = 0; i < 25; i++) {
        g_autofree char *id = g_strdup_printf("run%02d", i);
        g_autofree char *a = g_strdup_printf("side%02d", i);
        finish_run(c, id, a, "corp1", i == 3 ? VERDICT_FAIL : VERDICT_PASS, 0.01, NOW - 1000 + i,
                   NULL);
    }
    g_autofree char *p = page(c, "/", 200);
    assert_int_equal(count(p, "<div class=\"charts\">"), 24);
    assert_in(p, "History charts of 1 more pairs");
    /* The failing pair first; then the newest; the oldest passing pair left out. */
    const char *first = strstr(p, "<div class=\"charts\">");
    const char *heading = g_strrstr_len(p, first - p, "<h2>");
    assert_non_null(heading);
    assert_true(g_str_has_prefix(heading, "<h2>corp-vpn: side03"));
    assert_null(strstr(p, "<a href=\"/runs/run00\"><circle"));
    assert_non_null(strstr(p, "<a href=\"/runs/run01\"><circle"));
    assert_true(strstr(p, "/runs/run24\"><circle") < strstr(p, "/runs/run23\"><circle"));
}

static void test_a_run_page_shows_each_side_of_each_path(void **state)
{
    Ctx *c = *state;
    finish_run(c, "r1", "laptop1", "corp1", VERDICT_WARN, 0.02, NOW - 100, "loss 2 %");
    g_autofree char *p = page(c, "/runs/r1", 200);
    assert_in(p, "<title>run r1</title>");
    assert_in(p, "<span class=\"v warn\">warn</span> state done &middot; created 2025-12-31 "
                 "23:57:20 UTC &middot; finished 2025-12-31 23:58:20 UTC");
    assert_in(p, "<li><code>QUALITY_LOSS</code> loss 2 %");
    const char *pair = "relay/udp 203.0.113.10:49200 on eth0 (physical), leaves by eth0 "
                       "(physical) to 198.51.100.7:50000";
    assert_int_equal(count(p, pair), 2);
    assert_in(p, "<tr><td>natural</td><td>a</td>");
    assert_in(p, "<tr><td>natural</td><td>b</td>");
    assert_in(p, "loss 2.00 %, jitter 3.25 ms, RTT 41.50 ms, MOS 4.20");
    assert_in(p, "loss 4.00 %, jitter 3.25 ms, RTT 41.50 ms, MOS 4.20");
    g_auto(Reply) doc = http(c->server, "GET", "/runs/r1.json", NULL, NULL, NULL);
    expect(&doc, 200, "run_id", "r1");
    expect(&doc, 200, "verdict", "warn");
}

/* An ICE record where the UDP relay lost to TCP, with markup where the
 * reports carry text. */
static IceRecord *hostile_record(void)
{
    IceRecord *r = ice_record_new();
    CandidateInfo *l = candidate_info_new();
    l->type = g_strdup("relay");
    l->transport = g_strdup("tcp");
    l->address = g_strdup("203.0.113.10:49200");
    l->interface = g_strdup(HOSTILE_IFACE);
    l->interface_class = g_strdup("physical");
    l->relay_transport = g_strdup("tcp");
    g_ptr_array_add(r->local, l);
    CandidateInfo *rc = candidate_info_new();
    rc->type = g_strdup("relay");
    rc->transport = g_strdup("udp");
    rc->address = g_strdup("198.51.100.7:50000");
    g_ptr_array_add(r->remote, rc);
    IcePair *p = g_new0(IcePair, 1);
    p->local = g_strdup("relay 203.0.113.10:49200/tcp");
    p->remote = g_strdup("relay 198.51.100.7:50000/udp");
    p->state = g_strdup("succeeded");
    p->nominated = TRUE;
    g_ptr_array_add(r->pairs, p);
    IcePair *q = g_new0(IcePair, 1);
    q->local = g_strdup("host 192.0.2.7:4000/udp");
    q->remote = g_strdup("relay 198.51.100.7:50000/udp");
    q->state = g_strdup("failed");
    q->why = g_strdup(HOSTILE_FINDING);
    g_ptr_array_add(r->pairs, q);
    IceGivenUp *g = g_new0(IceGivenUp, 1);
    g->transport = g_strdup("udp");
    g->what = g_strdup("TURN UDP allocation");
    g->why = g_strdup("203.0.113.10:3478/udp: no answer to 2 Allocate requests");
    g_ptr_array_add(r->given_up, g);
    return r;
}

static void test_a_run_page_shows_each_sides_ice_record_collapsed(void **state)
{
    Ctx *c = *state;
    finish_run_code(c, "r1", "laptop1", "corp1", VERDICT_WARN, 0.02, NOW - 100, NULL, NULL,
                    hostile_record());
    g_autofree char *p = page(c, "/runs/r1", 200);
    /* Side a's record under its row, collapsed; side b has none. */
    assert_int_equal(count(p, "<details>"), 1);
    assert_null(strstr(p, "<details open"));
    assert_in(p, "<tr><td colspan=\"5\"><details><summary>ICE record: 1 local and 1 remote "
                 "candidates, 2 pairs, 1 given up</summary>");
    assert_true(strstr(p, "<td>a</td>") < strstr(p, "<details>"));
    assert_true(strstr(p, "<details>") < strstr(p, "<td>b</td>"));
    assert_in(p, "<li><code>udp</code> TURN UDP allocation: 203.0.113.10:3478/udp: no answer to 2 "
                 "Allocate requests</li>");
    assert_in(p, "<tr><td>relay 203.0.113.10:49200/tcp</td><td>relay 198.51.100.7:50000/udp</td>"
                 "<td>succeeded</td><td>yes</td><td></td></tr>");
    assert_in(p, "<tr><td>local</td><td>relay</td><td>tcp</td><td>203.0.113.10:49200</td>"
                 "<td>&lt;b&gt;eth0&lt;/b&gt;</td><td>physical</td><td>tcp</td></tr>");
    /* Whatever the reports say is escaped; no script anywhere. */
    assert_null(strstr(p, HOSTILE_FINDING));
    assert_null(strstr(p, HOSTILE_IFACE));
    assert_in(p, "<td>failed</td><td></td><td>&lt;img src=x onerror=alert(1)&gt;</td>");
    assert_null(strstr(p, "<script"));
}

static void test_a_run_under_way_has_a_page_without_findings(void **state)
{
    Ctx *c = *state;
    fixture_create_run(c->store, "r1", "laptop1", "corp1", NOW - 30);
    g_autofree char *p = page(c, "/runs/r1", 200);
    assert_in(p, "<span class=\"v pending\">pending</span> state pending");
    assert_in(p, "finished never");
    assert_null(strstr(p, "<h2>Paths</h2>"));
    g_auto(Reply) doc = http(c->server, "GET", "/runs/r1.json", NULL, NULL, NULL);
    expect(&doc, 200, "verdict", "pending");
}

static void test_an_unknown_run_is_404_as_a_page_and_as_json(void **state)
{
    Ctx *c = *state;
    g_auto(Reply) r1 = http(c->server, "GET", "/runs/no-such-run", NULL, NULL, NULL);
    expect(&r1, 404, "error.code", "not_found");
    g_auto(Reply) r2 = http(c->server, "GET", "/runs/no-such-run.json", NULL, NULL, NULL);
    expect(&r2, 404, "error.code", "not_found");
}

static void test_a_store_that_cannot_answer_is_a_503(void **state)
{
    Ctx *c = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(c->server->fixture->config->store_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE agents RENAME TO agents_away", NULL, NULL, NULL),
                     SQLITE_OK);
    g_auto(Reply) r = http(c->server, "GET", "/", NULL, NULL, NULL);
    expect(&r, 503, "error.code", "store");
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE agents_away RENAME TO agents", NULL, NULL, NULL),
                     SQLITE_OK);
    /* A run the store cannot look up is not a run that does not exist. */
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE runs RENAME TO runs_away", NULL, NULL, NULL),
                     SQLITE_OK);
    g_auto(Reply) html = http(c->server, "GET", "/runs/r1", NULL, NULL, NULL);
    expect(&html, 503, "error.code", "store");
    g_auto(Reply) doc = http(c->server, "GET", "/runs/r1.json", NULL, NULL, NULL);
    expect(&doc, 503, "error.code", "store");
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE runs_away RENAME TO runs", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    g_autofree char *p = page(c, "/", 200);
    assert_in(p, "<h2>Agents</h2>");
}

int main(void)
{
#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_an_empty_store_says_so_in_every_section, setup_empty,
                                        teardown),
        CASE(test_the_page_lists_each_pair_latest_verdict_runs_under_way_and_agents),
        CASE(test_the_page_opens_on_the_matrix_and_its_analysis),
        cmocka_unit_test_setup_teardown(test_the_matrix_says_when_no_pair_has_run, setup_empty,
                                        teardown),
        CASE(test_hostile_agent_names_and_finding_messages_are_escaped),
        CASE(test_history_charts_follow_the_natural_path_of_side_a_oldest_first),
        CASE(test_history_charts_have_a_time_axis_thresholds_and_gaps),
        cmocka_unit_test_setup_teardown(test_a_schedule_s_period_sets_where_the_line_breaks,
                                        setup_tenmin, teardown),
        CASE(test_charts_are_kept_to_the_pairs_that_need_looking_at_first),
        CASE(test_a_run_page_shows_each_side_of_each_path),
        CASE(test_a_run_page_shows_each_sides_ice_record_collapsed),
        CASE(test_a_run_under_way_has_a_page_without_findings),
        CASE(test_an_unknown_run_is_404_as_a_page_and_as_json),
        CASE(test_a_store_that_cannot_answer_is_a_503),
    };
#undef CASE
    return cmocka_run_group_tests(tests, NULL, NULL);
}
