/* The API through a real SoupServer (in its own thread, as the controller runs
 * it) and a real SoupSession on loopback: no mocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "api-server.h"
#include "pg-fixture.h"

static int setup(void **state)
{
    *state = server_new("[scheduler]\norder_timeout_s = 2\nsetup_s = 5\nlongpoll_s = 5\n"
                        "[auth]\nstatus_public = true\n",
                        TRUE, 0);
    return 0;
}

/* The same controller with two server threads: laptop1 talks to one, corp1 to
 * the other (api-server.h), so a run's orders, signals and reports cross them. */
static const char two_threads_conf[] = "[server]\nthreads = 2\n"
                                       "[scheduler]\norder_timeout_s = 2\nsetup_s = 5\n"
                                       "longpoll_s = 5\n"
                                       "[auth]\nstatus_public = true\n";

static int setup_two_threads(void **state)
{
    *state = server_new(two_threads_conf, TRUE, 0);
    assert_int_equal(((Server *)*state)->threads, 2);
    return 0;
}

/* Two threads on PostgreSQL: the first listens for NOTIFY and wakes the other. */
static int setup_two_threads_postgres(void **state)
{
    const char *url = pg_fixture_url();
    *state = server_new_on("[server]\nthreads = 2\n"
                           "[scheduler]\norder_timeout_s = 2\nsetup_s = 5\nlongpoll_s = 5\n"
                           "[auth]\nstatus_public = true\n",
                           TRUE, 0, url);
    return 0;
}

static int teardown(void **state)
{
    return server_teardown(state);
}

static void test_tokens_are_checked_and_errors_are_json(void **state)
{
    Server *s = *state;
    g_auto(Reply) r1 = http(s, "GET", "/api/v1/agents", NULL, NULL, "WWW-Authenticate");
    expect(&r1, 401, "error.code", "unauthorized");
    assert_string_equal(r1.header, "Bearer realm=\"iceprobe\"");
    g_auto(Reply) r2 = http(s, "GET", "/api/v1/agents", "not-a-token", NULL, NULL);
    expect(&r2, 401, "error.message", "not known");
    g_auto(Reply) r3 = http(s, "GET", "/api/v1/agents", s->token[0], NULL, NULL);
    expect(&r3, 403, "error.code", "forbidden");
    g_auto(Reply) r4 = http(s, "GET", "/api/v1/agent/orders", ADMIN, NULL, NULL);
    expect(&r4, 403, "error.code", "forbidden");
    g_auto(Reply) r5 = http(s, "GET", "/api/v1/nothing", ADMIN, NULL, NULL);
    expect(&r5, 404, "error.code", "not_found");
    g_auto(Reply) r6 = http(s, "DELETE", "/api/v1/runs", ADMIN, NULL, "Allow");
    expect(&r6, 405, "error.code", "method_not_allowed");
    assert_string_equal(r6.header, "POST, GET");
    g_auto(Reply) r7 = http(s, "GET", "/api/v1/agents", ADMIN, NULL, NULL);
    expect(&r7, 200, NULL, NULL);
    assert_non_null(strstr(r7.body, "\"name\":\"laptop2\""));
    g_auto(Reply) r8 = http(s, "GET", "/metrics", NULL, NULL, NULL); /* public by default */
    expect(&r8, 200, NULL, NULL);
}

static void rename_table(Server *s, const char *from, const char *to)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(s->fixture->config->store_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    g_autofree char *sql = g_strdup_printf("ALTER TABLE %s RENAME TO %s", from, to);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A store that cannot answer says nothing about a token: the agent is told
 * 503 and when to come back, never 401 (which would have it doubt its token). */
static void test_a_store_that_cannot_answer_is_503_never_401(void **state)
{
    Server *s = *state;
    rename_table(s, "agents", "agents_away");
    g_auto(Reply) r1 = http(s, "GET", "/api/v1/agent/orders", s->token[0], NULL, "Retry-After");
    expect(&r1, 503, "error.code", "store");
    assert_string_equal(r1.header, "5");
    g_auto(Reply) r2 = http(s, "GET", "/api/v1/agents", ADMIN, NULL, "Retry-After");
    expect(&r2, 503, "error.code", "store");
    g_auto(Reply) r3 = http(s, "GET", "/api/v1/agent/orders", "not-a-token", NULL, NULL);
    expect(&r3, 503, "error.code", "store");
    rename_table(s, "agents_away", "agents");
    g_auto(Reply) r4 = http(s, "GET", "/api/v1/agent/orders", s->token[0], NULL, NULL);
    expect(&r4, 200, NULL, NULL);
    g_auto(Reply) r5 = http(s, "GET", "/api/v1/agent/orders", "not-a-token", NULL, NULL);
    expect(&r5, 401, "error.message", "not known");
}

static void test_bad_bodies_are_refused_naming_what_was_wrong(void **state)
{
    Server *s = *state;
    g_auto(Reply) r1 = http(s, "POST", "/api/v1/runs", ADMIN, "{\"profile\":\"corp-vpn\"", NULL);
    expect(&r1, 400, "error.message", "not JSON");
    g_auto(Reply) r2 = http(s, "POST", "/api/v1/runs", ADMIN,
                            "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":7}", NULL);
    expect(&r2, 400, "error.message", "b: not a string");
    g_auto(Reply) r3 =
        http(s, "POST", "/api/v1/runs", ADMIN,
             "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":\"corp1\",\"c\":1}", NULL);
    expect(&r3, 400, "error.message", "c: unknown member");
    g_auto(Reply) r4 = http(s, "POST", "/api/v1/runs", ADMIN,
                            "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":\"ghost\"}", NULL);
    expect(&r4, 400, "error.message", "b: no agent named 'ghost'");
    GString *big = g_string_new("{\"profile\":\"");
    for (int i = 0; i < 70000; i++)
        g_string_append_c(big, 'x');
    g_string_append(big, "\"}");
    g_auto(Reply) r5 = http(s, "POST", "/api/v1/runs", ADMIN, big->str, NULL);
    expect(&r5, 413, "error.code", "too_large");
    g_string_free(big, TRUE);
    g_auto(Reply) r6 = http(s, "POST", "/api/v1/agent/heartbeat", s->token[0],
                            "{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":"
                            "\"wormhole\"}]}",
                            NULL);
    expect(&r6, 400, "error.message", "interfaces[0].class: 'wormhole'");
    g_auto(Reply) r6b = http(s, "POST", "/api/v1/agent/heartbeat", s->token[0],
                             "{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":"
                             "\"physical\",\"addresses\":\"10.0.0.1\"}]}",
                             NULL);
    expect(&r6b, 400, "error.message", "interfaces[0].addresses: not an array");
    g_auto(Reply) r7 = http(s, "POST", "/api/v1/agent/heartbeat", s->token[0],
                            "{\"version\":\"1\",\"name\":\"corp1\"}", NULL);
    expect(&r7, 400, "error.message", "name: this token is agent 'laptop1', not 'corp1'");
    g_auto(Reply) r8 = http(s, "GET", "/api/v1/runs?verdict=great", ADMIN, NULL, NULL);
    expect(&r8, 400, "error.message", "verdict: 'great'");
    g_auto(Reply) r9 = http(s, "GET", "/api/v1/runs/nope", ADMIN, NULL, NULL);
    expect(&r9, 404, "error.code", "not_found");
}

static char *report_text(const char *run_id)
{
    g_autoptr(RunResult) r = run_result_new("corp-vpn");
    g_free(r->run_id);
    r->run_id = g_strdup(run_id);
    PathRecord *p = run_result_add_path(r, "natural");
    p->have_pair = TRUE;
    p->local.type = g_strdup("relay");
    p->local.transport = g_strdup("udp");
    p->local.address = g_strdup("203.0.113.10:49200");
    p->local.interface = g_strdup("eth0");
    p->local.interface_class = g_strdup("physical");
    p->local.egress_interface = g_strdup("eth0");
    p->local.egress_class = g_strdup("physical");
    p->remote.address = g_strdup("203.0.113.10:49300");
    p->have_metrics = TRUE;
    p->metrics.packets_sent = 100;
    p->metrics.packets_received = 100;
    p->metrics.rtt_samples = 100;
    p->metrics.rtt_median_ms = 0.8;
    p->metrics.jitter_ms = 0.2;
    p->metrics.mos = 4.4;
    run_result_conclude(r);
    return run_result_to_string(r, FALSE);
}

static void test_a_paired_run_goes_through_orders_signalling_and_reports(void **state)
{
    Server *s = *state;
    /* laptop1 waits for orders before there are any: the new run wakes it. */
    Poll orders = {.s = s, .path = "/api/v1/agent/orders?wait=5", .token = s->token[0]};
    GThread *t = g_thread_new("orders", poll_thread, &orders);
    assert_true(server_await_long_polls(s, 1, 2000));
    g_auto(Reply) created =
        http(s, "POST", "/api/v1/runs", ADMIN,
             "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":\"corp1\"}", "Location");
    expect(&created, 201, NULL, NULL);
    g_autofree char *id = member(created.body, "run_id");
    g_thread_join(t);
    expect(&orders.reply, 200, NULL, NULL);
    assert_true(orders.took_us < 2 * G_USEC_PER_SEC);
    assert_non_null(strstr(orders.reply.body, id));
    assert_non_null(strstr(orders.reply.body, "\"side\":\"a\""));
    assert_null(strstr(orders.reply.body, FIXTURE_TURN_SECRET)); /* only derived credentials */
    reply_clear(&orders.reply);

    g_auto(Reply) pending = http(s, "GET", created.header, ADMIN, NULL, NULL);
    expect(&pending, 200, "verdict", "pending");
    g_auto(Reply) o2 = http(s, "GET", "/api/v1/agent/orders?wait=1", s->token[1], NULL, NULL);
    expect(&o2, 200, NULL, NULL);
    assert_non_null(strstr(o2.body, "\"side\":\"b\""));

    /* corp1 waits for laptop1's description; laptop1's post wakes it. */
    g_autofree char *sig_path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_autofree char *wait_path = g_strdup_printf("%s?after=0&wait=5", sig_path);
    Poll sig = {.s = s, .path = wait_path, .token = s->token[1]};
    t = g_thread_new("signal", poll_thread, &sig);
    assert_true(server_await_long_polls(s, 1, 2000));
    g_auto(Reply) posted = http(s, "POST", sig_path, s->token[0],
                                "{\"message\":{\"ufrag\":\"u1\",\"candidate\":\"c1\"}}", NULL);
    expect(&posted, 200, "seq", "1");
    g_thread_join(t);
    expect(&sig.reply, 200, "state", "running");
    assert_non_null(strstr(sig.reply.body, "\"ufrag\":\"u1\""));
    assert_true(sig.took_us < 2 * G_USEC_PER_SEC);
    reply_clear(&sig.reply);
    g_auto(Reply) own = http(s, "GET", sig_path, s->token[0], NULL, NULL);
    expect(&own, 200, NULL, NULL);
    assert_null(strstr(own.body, "u1")); /* one's own messages are the peer's to read */
    g_auto(Reply) outsider = http(s, "GET", sig_path, s->token[2], NULL, NULL);
    expect(&outsider, 403, "error.message", "agent 'laptop2' is not part of run");

    g_autofree char *rep_path = g_strdup_printf("/api/v1/runs/%s/report", id);
    g_autofree char *doc = report_text(id);
    g_auto(Reply) rep1 = http(s, "POST", rep_path, s->token[0], doc, NULL);
    expect(&rep1, 200, "duplicate", "false");
    g_auto(Reply) rep2 = http(s, "POST", rep_path, s->token[0], doc, NULL);
    expect(&rep2, 200, "duplicate", "true");
    g_auto(Reply) rep3 = http(s, "POST", rep_path, s->token[2], doc, NULL);
    expect(&rep3, 403, "error.code", "forbidden");
    g_auto(Reply) rep4 =
        http(s, "POST", rep_path, s->token[1], "{\"schema\":\"iceprobe.run/1\"}", NULL);
    expect(&rep4, 400, "error.message", "run_id: missing");
    g_auto(Reply) rep5 = http(s, "POST", rep_path, s->token[1], doc, NULL);
    expect(&rep5, 200, "stored", "true");

    g_auto(Reply) done = http(s, "GET", created.header, ADMIN, NULL, NULL);
    expect(&done, 200, "verdict", "pass");
    expect(&done, 200, "state", "done");
    assert_non_null(strstr(done.body, "\"sides\":{\"a\":"));
    g_auto(Reply) closed = http(s, "POST", sig_path, s->token[0], "{\"message\":{}}", NULL);
    expect(&closed, 409, "error.code", "run_ended");

    g_auto(Reply) list =
        http(s, "GET", "/api/v1/runs?verdict=pass&profile=corp-vpn", ADMIN, NULL, NULL);
    expect(&list, 200, NULL, NULL);
    assert_non_null(strstr(list.body, id));
    g_auto(Reply) metrics = http(s, "GET", "/metrics", NULL, NULL, "Content-Type");
    expect(&metrics, 200, NULL, NULL);
    assert_true(g_str_has_prefix(metrics.header, "text/plain; version=0.0.4"));
    assert_non_null(strstr(metrics.body, "iceprobe_run_verdict{profile=\"corp-vpn\",a=\"laptop1\","
                                         "b=\"corp1\"} 0\n"));
    assert_non_null(strstr(metrics.body, "iceprobe_rtt_seconds{profile=\"corp-vpn\",a=\"laptop1\","
                                         "b=\"corp1\",path=\"natural\",side=\"a\"} 0.0008"));
    assert_null(strstr(metrics.body, id)); /* never a run id as a label */
    g_auto(Reply) page = http(s, "GET", "/", NULL, NULL, "Content-Security-Policy");
    expect(&page, 200, NULL, NULL);
    assert_non_null(strstr(page.body, "<svg"));
    assert_non_null(strstr(page.header, "default-src 'none'"));
    g_autofree char *run_page = g_strdup_printf("/runs/%s", id);
    g_auto(Reply) rp = http(s, "GET", run_page, NULL, NULL, NULL);
    expect(&rp, 200, NULL, NULL);
    assert_non_null(strstr(rp.body, "relay/udp 203.0.113.10:49200 on eth0 (physical)"));
}

static void test_a_run_whose_agents_are_offline_ends_agent_offline(void **state)
{
    Server *s = *state;
    g_auto(Reply) created =
        http(s, "POST", "/api/v1/runs", ADMIN,
             "{\"profile\":\"corp-vpn\",\"a\":\"laptop2\",\"b\":\"corp1\"}", "Location");
    expect(&created, 201, NULL, NULL);
    gint64 deadline = g_get_monotonic_time() + 6 * G_USEC_PER_SEC;
    for (;;) {
        g_auto(Reply) r = http(s, "GET", created.header, ADMIN, NULL, NULL);
        g_autofree char *v = member(r.body, "verdict");
        if (strcmp(v, "pending") != 0) {
            expect(&r, 200, "verdict", "error");
            assert_non_null(strstr(r.body, "AGENT_OFFLINE"));
            break;
        }
        if (g_get_monotonic_time() > deadline)
            fail_msg("still pending after 6 s: %s", r.body);
        g_usleep(200000);
    }
}

static void test_a_client_gone_while_waiting_is_let_go(void **state)
{
    Server *s = *state;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autofree char *where = g_strdup_printf("127.0.0.1:%u", s->port);
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect_to_host(client, where, 0, NULL, NULL);
    assert_non_null(conn);
    g_autofree char *request = g_strdup_printf(
        "GET /api/v1/agent/orders?wait=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
        s->token[2]);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    assert_true(g_output_stream_write_all(out, request, strlen(request), NULL, NULL, NULL));
    assert_true(server_await_long_polls(s, 1, 2000));
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    /* Reaped by the sweeper (it looks every 2 s), well before its 5 s wait ends. */
    gint64 t0 = g_get_monotonic_time();
    assert_true(server_await_long_polls(s, 0, 4000));
    assert_true(g_get_monotonic_time() - t0 < 3 * G_USEC_PER_SEC);
}

/* With two server threads (setup_two_threads). */
static void test_a_paired_run_across_two_server_threads(void **state)
{
    test_a_paired_run_goes_through_orders_signalling_and_reports(state);
}

static void test_a_paired_run_across_two_server_threads_on_postgresql(void **state)
{
    test_a_paired_run_goes_through_orders_signalling_and_reports(state);
}

static void test_a_client_gone_while_waiting_on_another_thread_is_let_go(void **state)
{
    test_a_client_gone_while_waiting_is_let_go(state);
}

/* A port a controller of several threads listens on (SO_REUSEPORT) is refused
 * to a second one, of one thread or several, saying so; the first keeps its
 * port. */
static void test_a_second_controller_on_the_same_port_is_refused(void **state)
{
    g_autoptr(GPtrArray) first = g_ptr_array_new_with_free_func(g_object_unref);
    assert_true(api_bind("127.0.0.1:0", 2, first, NULL));
    assert_int_equal(first->len, 2);
    g_autoptr(GSocketAddress) a = g_socket_get_local_address(first->pdata[0], NULL);
    guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a));
    g_autoptr(GSocketAddress) b = g_socket_get_local_address(first->pdata[1], NULL);
    assert_int_equal(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(b)), port);
    g_autofree char *spec = g_strdup_printf("127.0.0.1:%u", port);
    g_autofree char *want = g_strdup_printf("listen '%s': port %u is in use", spec, port);
    for (guint n = 1; n <= 3; n++) {
        g_autoptr(GPtrArray) second = g_ptr_array_new_with_free_func(g_object_unref);
        g_autoptr(GError) e = NULL;
        assert_false(api_bind(spec, n, second, &e));
        assert_non_null(e);
        if (!g_str_has_prefix(e->message, want))
            fail_msg("%u thread(s): '%s', want '%s'", n, e->message, want);
        assert_int_equal(second->len, 0);
    }
}

/* An ad-hoc run of laptop1 and corp1 offered by the controller's first thread
 * at the n-th time its second thread reads the clock (0: never) while the
 * hook is set: in the middle of whatever that thread does. */
typedef struct {
    GMainContext *ctx; /* the second thread's */
    guint port;        /* the first thread's own */
    gint reads;        /* atomic */
    gint offer_at;
    long status; /* the offer's */
} Offer;

static size_t discard(char *data, size_t size, size_t n, void *user)
{
    return size * n;
}

static void offer_on_clock(Server *s, gpointer data)
{
    Offer *o = data;
    if (g_main_context_get_thread_default() != o->ctx ||
        g_atomic_int_add(&o->reads, 1) + 1 != o->offer_at)
        return;
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/api/v1/runs", o->port);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " ADMIN);
    h = curl_slist_append(h, "Content-Type: application/json");
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":\"corp1\"}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &o->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

/* corp1 long-polls its orders in the second thread while the first offers it a
 * run, at each point where the second reads the clock during the request
 * (noting corp1 seen, taking its orders after reading the store): the order
 * comes at once every time, never at the end of the wait (a wake posted between
 * the store's read and the wait would be lost). */
static void test_an_offer_made_while_a_long_poll_reads_the_store_wakes_it(void **state)
{
    gint reads = 0;
    for (gint n = 0; n <= reads; n++) {
        Server *s = server_new(two_threads_conf, TRUE, 0);
        Offer o = {s->t[1].ctx, s->t[0].port, 0, n, 0};
        ServerClockHook hook = {offer_on_clock, &o};
        g_atomic_pointer_set(&s->hook, &hook);
        gint64 t0 = g_get_monotonic_time();
        /* n = 0: how often a request without a wait reads it, with nothing offered. */
        g_auto(Reply) r = http(s, "GET", n ? "/api/v1/agent/orders?wait=4" : "/api/v1/agent/orders",
                               s->token[1], NULL, NULL);
        gint64 took_ms = (g_get_monotonic_time() - t0) / 1000;
        g_atomic_pointer_set(&s->hook, NULL);
        if (n == 0) {
            expect(&r, 200, "orders", "[]");
            reads = g_atomic_int_get(&o.reads);
            assert_true(reads >= 2);
        } else {
            assert_int_equal(o.status, 201);
            expect(&r, 200, "orders", "\"side\":\"b\"");
            if (took_ms > 2000)
                fail_msg(
                    "offered at the clock's read %d of %d: the order came after %" G_GINT64_FORMAT
                    " ms, at the end of the wait",
                    n, reads, took_ms);
        }
        server_free(s);
    }
}

/* A finished run of profile corp-vpn, written as the controller's verification
 * writes it, with one finding code (or none). */
static void store_finished(Store *st, const char *id, const char *a, const char *b, Verdict v,
                           const char *code, gint64 finished)
{
    fixture_create_run(st, id, a, b, finished - 60);
    g_autoptr(RunResult) res = run_result_new("corp-vpn");
    g_free(res->run_id);
    res->run_id = g_strdup(id);
    if (code)
        run_result_add_finding(res, code, NULL, "finding %s", code);
    res->verdict = v;
    g_autoptr(GError) e = NULL;
    if (!store_run_finish(st, id, RUN_DONE, res, NULL, finished, &e))
        fail_msg("finish %s: %s", id, e->message);
}

static void test_the_analysis_is_the_matrix_and_its_pattern_for_the_admin(void **state)
{
    Server *s = *state;
    /* Where each agent is, from its heartbeat: laptop2 on the branch subnet. */
    static const char *const addr[] = {"10.254.1.10/24", "10.1.0.10/24", "10.2.0.10/24"};
    for (int i = 0; i < 3; i++) {
        g_autofree char *hb = g_strdup_printf(
            "{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\","
            "\"addresses\":[\"%s\"]}]}",
            addr[i]);
        g_auto(Reply) r = http(s, "POST", "/api/v1/agent/heartbeat", s->token[i], hb, NULL);
        expect(&r, 200, NULL, NULL);
    }
    g_autoptr(Store) st = store_open(s->fixture->config->store_path, NULL);
    assert_non_null(st);
    store_finished(st, "run-pass", "laptop1", "corp1", VERDICT_PASS, NULL, 1000);
    store_finished(st, "run-fail-1", "laptop1", "laptop2", VERDICT_FAIL, "EDGE_NO_ROUTE_TO_PEER",
                   1100);
    store_finished(st, "run-fail-2", "corp1", "laptop2", VERDICT_FAIL, "EDGE_NO_ROUTE_TO_PEER",
                   1200);
    g_auto(Reply) r1 = http(s, "GET", "/api/v1/analysis", NULL, NULL, NULL);
    expect(&r1, 401, "error.code", "unauthorized");
    g_auto(Reply) r2 = http(s, "GET", "/api/v1/analysis", s->token[0], NULL, NULL);
    expect(&r2, 403, "error.code", "forbidden");
    g_auto(Reply) r = http(s, "GET", "/api/v1/analysis", ADMIN, NULL, "Content-Type");
    expect(&r, 200, NULL, NULL);
    assert_true(g_str_has_prefix(r.header, "application/json"));
    g_autoptr(JsonNode) doc = json_from_string(r.body, NULL);
    assert_non_null(doc);
    JsonObject *p = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(doc), "profiles"), 0);
    assert_string_equal(json_object_get_string_member(p, "profile"), "corp-vpn");
    assert_int_equal(json_array_get_length(json_object_get_array_member(p, "agents")), 3);
    assert_int_equal(json_array_get_length(json_object_get_array_member(p, "cells")), 3);
    JsonObject *pat = json_array_get_object_element(json_object_get_array_member(p, "patterns"), 0);
    assert_non_null(pat);
    assert_string_equal(json_object_get_string_member(pat, "side"), "laptop2");
    assert_string_equal(json_object_get_string_member(pat, "subnet"), "10.2.0.0/24");
    assert_string_equal(json_object_get_string_member(pat, "cause"), "edge_route");
    g_autofree char *ids = json_to_string(json_object_get_member(pat, "run_ids"), FALSE);
    assert_string_equal(ids, "[\"run-fail-2\",\"run-fail-1\"]");
    assert_non_null(strstr(json_object_get_string_member(pat, "sentence"),
                           "Every pair with agent laptop2, on 10.2.0.0/24, fails"));
    /* A store that cannot answer is a 503, not an empty matrix. */
    rename_table(s, "runs", "runs_away");
    g_auto(Reply) down = http(s, "GET", "/api/v1/analysis", ADMIN, NULL, NULL);
    expect(&down, 503, "error.code", "store");
    rename_table(s, "runs_away", "runs");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tokens_are_checked_and_errors_are_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_store_that_cannot_answer_is_503_never_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies_are_refused_naming_what_was_wrong, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_paired_run_goes_through_orders_signalling_and_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_run_whose_agents_are_offline_ends_agent_offline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_client_gone_while_waiting_is_let_go, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_paired_run_across_two_server_threads,
                                        setup_two_threads, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_client_gone_while_waiting_on_another_thread_is_let_go, setup_two_threads,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_paired_run_across_two_server_threads_on_postgresql,
                                        setup_two_threads_postgres, teardown),
        cmocka_unit_test(test_an_offer_made_while_a_long_poll_reads_the_store_wakes_it),
        cmocka_unit_test(test_a_second_controller_on_the_same_port_is_refused),
        cmocka_unit_test_setup_teardown(
            test_the_analysis_is_the_matrix_and_its_pattern_for_the_admin, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
