#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller-fixture.h"
#include "scheduler.h"
#include "store-private.h" /* store_exec: the test takes a table away */

typedef struct {
    Fixture *fixture;
    Store *store;
    SignalBoard *board;
    Scheduler *sched;
    gint64 now;
    GPtrArray *woken; /* agent names, as the hook saw them */
} World;

static gint64 fake_clock(gpointer data)
{
    return ((World *)data)->now;
}

static void on_work(const char *agent, gpointer data)
{
    g_ptr_array_add(((World *)data)->woken, g_strdup(agent));
}

static gint64 utc(int y, int mo, int d, int h, int mi)
{
    g_autoptr(GDateTime) t = g_date_time_new_utc(y, mo, d, h, mi, 0);
    return g_date_time_to_unix(t);
}

static int setup_with(void **state, const char *schedules)
{
    World *w = g_new0(World, 1);
    g_autofree char *config = g_strconcat(
        "[scheduler]\norder_timeout_s = 5\nsetup_s = 10\nsilence_s = 6\n"
        "[schedule.nightly]\ncron = 0 2 * * *\nprofile = corp-vpn\n"
        "a = group:vpn\nb = group:internal\n",
        schedules, NULL);
    w->fixture = fixture_new(config);
    w->store = store_open(":memory:", NULL);
    static const char *const vpn[] = {"vpn", NULL}, *const internal[] = {"internal", NULL};
    assert_true(store_agent_add(w->store, "laptop1", vpn, "h1", 1, NULL));
    assert_true(store_agent_add(w->store, "laptop2", vpn, "h2", 1, NULL));
    assert_true(store_agent_add(w->store, "corp1", internal, "h3", 1, NULL));
    w->board = signal_board_new(w->store, NULL, NULL);
    w->now = utc(2026, 11, 24, 12, 0);
    w->woken = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    SchedulerHooks hooks = {on_work, NULL, w};
    w->sched = scheduler_new(w->fixture->config, w->store, w->board, tz, fake_clock, w, &hooks);
    *state = w;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, "");
}

/* Laptops as they live: a schedule that waits for a sleeping laptop, and
 * schedules that fire on the agents' network events. */
static int setup_laptops(void **state)
{
    return setup_with(state, "[schedule.late]\ncron = 0 * * * *\ncatch_up_s = 7200\n"
                             "profile = corp-vpn\na = laptop1\nb = corp1\n"
                             "[schedule.vpn]\non = vpn-up\nprofile = corp-vpn\n"
                             "a = group:vpn\nb = group:internal\n"
                             "[schedule.any]\non = network-change\nmin_interval_s = 0\n"
                             "profile = corp-vpn\na = laptop2\nb = corp1\n");
}

static int teardown(void **state)
{
    World *w = *state;
    scheduler_free(w->sched);
    signal_board_free(w->board);
    store_close(w->store);
    fixture_free(w->fixture);
    g_ptr_array_unref(w->woken);
    g_free(w);
    return 0;
}

static StoreRun *get(World *w, const char *id)
{
    StoreRun *r = store_run_get(w->store, id, NULL);
    assert_non_null(r);
    return r;
}

static char *report_for(const char *run_id, const char *local_class)
{
    g_autoptr(RunResult) r = run_result_new("corp-vpn");
    g_free(r->run_id);
    r->run_id = g_strdup(run_id);
    PathRecord *p = run_result_add_path(r, "natural");
    p->have_pair = TRUE;
    p->local.type = g_strdup("host");
    p->local.transport = g_strdup("udp");
    p->local.address = g_strdup("100.64.0.2:5000");
    p->local.interface = g_strdup(local_class[0] == 't' ? "gpd0" : "eth0");
    p->local.interface_class = g_strdup(local_class);
    p->local.egress_interface = g_strdup(p->local.interface);
    p->local.egress_class = g_strdup(local_class);
    p->remote.address = g_strdup("10.1.0.10:5000");
    run_result_conclude(r);
    return run_result_to_string(r, FALSE);
}

static void test_groups_expand_to_each_pair_once_never_an_agent_with_itself(void **state)
{
    World *w = *state;
    g_autoptr(GPtrArray) ids = scheduler_create_runs(w->sched, "corp-vpn", "group:vpn",
                                                     "group:internal", NULL, NULL, NULL);
    assert_int_equal(ids->len, 2);
    g_autoptr(GPtrArray) same =
        scheduler_create_runs(w->sched, "corp-vpn", "group:vpn", "group:vpn", NULL, NULL, NULL);
    assert_int_equal(same->len, 1);
    g_autoptr(StoreRun) r = get(w, same->pdata[0]);
    assert_true(g_str_has_prefix(r->agent[0], "laptop") && g_str_has_prefix(r->agent[1], "laptop"));
    assert_string_not_equal(r->agent[0], r->agent[1]);

    g_autoptr(GError) e = NULL;
    assert_null(scheduler_create_runs(w->sched, "corp-vpn", "laptop1", "laptop1", NULL, NULL, &e));
    assert_int_equal(e->code, SCHEDULER_ERROR_FIELD);
    g_autoptr(GError) e2 = NULL;
    assert_null(scheduler_create_runs(w->sched, "corp-vpn", "ghost", "corp1", NULL, NULL, &e2));
    assert_string_equal(e2->message,
                        "a: no agent named 'ghost' (give an agent's name or group:NAME)");
    g_autoptr(GError) e3 = NULL;
    assert_null(scheduler_create_runs(w->sched, "nope", "laptop1", "corp1", NULL, NULL, &e3));
    assert_string_equal(e3->message, "profile: no profile named 'nope'");
}

static void take_and_report(World *w, const char *id)
{
    g_autoptr(StoreRun) r = get(w, id);
    for (int side = 0; side < 2; side++) {
        g_autoptr(JsonArray) orders = scheduler_take_orders(w->sched, r->agent[side], NULL);
        assert_int_equal(json_array_get_length(orders), 1);
        JsonObject *o = json_array_get_object_element(orders, 0);
        assert_string_equal(json_object_get_string_member(o, "run_id"), id);
        JsonObject *turn = json_object_get_object_member(o, "turn");
        g_autofree char *suffix = g_strconcat(":", id, NULL);
        assert_true(g_str_has_suffix(json_object_get_string_member(turn, "username"), suffix));
    }
    for (int side = 0; side < 2; side++) {
        g_autofree char *doc = report_for(id, "physical");
        gboolean dup;
        g_autoptr(GError) e = NULL;
        if (!scheduler_report(w->sched, id, r->agent[side], doc, strlen(doc), &dup, &e))
            fail_msg("report: %s", e->message);
    }
}

static void test_an_agent_has_one_run_at_a_time_in_order(void **state)
{
    World *w = *state;
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(w->sched, "corp-vpn", "group:vpn", "corp1", NULL, NULL, NULL);
    assert_int_equal(ids->len, 2);
    g_autoptr(StoreRun) first = get(w, ids->pdata[0]);
    g_autoptr(StoreRun) second = get(w, ids->pdata[1]);
    assert_true(first->offered_at > 0);
    assert_int_equal(second->offered_at, 0); /* corp1 is busy with the first */
    assert_int_equal(w->woken->len, 2);
    g_autoptr(JsonArray) none = scheduler_take_orders(w->sched, second->agent[0], NULL);
    assert_int_equal(json_array_get_length(none), 0);

    take_and_report(w, ids->pdata[0]);
    g_autoptr(StoreRun) done = get(w, ids->pdata[0]);
    assert_int_equal(done->state, RUN_DONE);
    assert_string_equal(done->verdict, "pass");
    g_autoptr(StoreRun) now_offered = get(w, ids->pdata[1]);
    assert_true(now_offered->offered_at > 0);
    take_and_report(w, ids->pdata[1]);
}

static void test_an_order_not_taken_ends_agent_offline_not_pending(void **state)
{
    World *w = *state;
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(w->sched, "corp-vpn", "laptop1", "corp1", NULL, NULL, NULL);
    g_autoptr(JsonArray) orders = scheduler_take_orders(w->sched, "laptop1", NULL);
    assert_int_equal(json_array_get_length(orders), 1);
    w->now += 4;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) still = get(w, ids->pdata[0]);
    assert_int_equal(still->state, RUN_DISPATCHED);
    w->now += 1;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, ids->pdata[0]);
    assert_int_equal(r->state, RUN_ERROR);
    assert_string_equal(r->verdict, "error");
    g_autoptr(RunResult) res = run_result_from_json(r->result, strlen(r->result), NULL);
    assert_true(run_result_has_finding(res, "AGENT_OFFLINE"));
    const Finding *f = res->findings->pdata[0];
    assert_non_null(strstr(f->message, "corp1 did not take the order"));
    assert_null(strstr(f->message, "laptop1"));
    /* The report that comes too late is refused, and nothing changes. */
    g_autofree char *doc = report_for(ids->pdata[0], "physical");
    gboolean dup;
    g_autoptr(GError) e = NULL;
    assert_false(scheduler_report(w->sched, ids->pdata[0], "laptop1", doc, strlen(doc), &dup, &e));
    assert_int_equal(e->code, SCHEDULER_ERROR_CONFLICT);
}

/* A run of laptop1 and corp1 whose orders both took: running. */
static char *start_running(World *w)
{
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(w->sched, "corp-vpn", "laptop1", "corp1", NULL, NULL, NULL);
    assert_non_null(ids);
    g_autoptr(JsonArray) o1 = scheduler_take_orders(w->sched, "laptop1", NULL);
    g_autoptr(JsonArray) o2 = scheduler_take_orders(w->sched, "corp1", NULL);
    assert_int_equal(json_array_get_length(o1) + json_array_get_length(o2), 2);
    return g_strdup(ids->pdata[0]);
}

static void test_a_run_without_a_report_by_its_deadline_ends_run_timeout(void **state)
{
    World *w = *state;
    g_autofree char *id = start_running(w);
    g_autoptr(StoreRun) running = get(w, id);
    assert_int_equal(running->state, RUN_RUNNING);
    /* setup 10 s + 3 paths of 2 s */
    assert_int_equal(running->deadline, w->now + 16);
    g_autofree char *doc = report_for(id, "physical");
    gboolean dup;
    assert_true(scheduler_report(w->sched, id, "corp1", doc, strlen(doc), &dup, NULL));
    guint seq = 0, n = 9;
    assert_true(signal_post(w->board, id, 0, "{\"ufrag\":\"x\"}", &seq, NULL));
    assert_int_equal(seq, 1);
    w->now += 16;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_ERROR);
    assert_non_null(strstr(r->note, "laptop1 sent no report"));
    assert_null(strstr(r->note, "corp1"));
    /* the run's signals went with it, and it takes no more */
    g_autofree char *left = signal_fetch(w->board, id, 1, 0, &n, NULL);
    assert_string_equal(left, "[]");
    assert_int_equal(n, 0);
    g_autoptr(GError) e = NULL;
    assert_false(signal_post(w->board, id, 0, "{\"ufrag\":\"y\"}", &seq, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE));
}

/* An agent killed mid-run stops calling about it: the run ends when it has been
 * silent for [scheduler] silence_s, long before its deadline; a side that keeps
 * polling its signals is not silent. A controller just started waits its grace. */
static void test_a_side_gone_silent_ends_the_run_before_its_deadline(void **state)
{
    World *w = *state;
    g_autofree char *id = start_running(w);
    assert_int_equal(scheduler_side_of(w->sched, id, "corp1", NULL), 1);
    assert_int_equal(scheduler_side_of(w->sched, id, "laptop1", NULL), 0);
    for (int i = 0; i < 3; i++) {
        w->now += 2;
        assert_int_equal(scheduler_side_of(w->sched, id, "corp1", NULL), 1);
        scheduler_tick(w->sched);
    }
    g_autoptr(StoreRun) still = get(w, id);
    assert_int_equal(still->state, RUN_RUNNING); /* laptop1 silent 6 s: not yet (silence_s 6) */
    w->now += 2;
    assert_int_equal(scheduler_side_of(w->sched, id, "corp1", NULL), 1);
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_ERROR);
    assert_non_null(strstr(r->note, "laptop1 went silent"));
    assert_null(strstr(r->note, "corp1"));
    assert_non_null(strstr(r->result, "RUN_TIMEOUT"));
}

/* The store away for longer than silence_s: nobody could be heard meanwhile, so
 * nobody is silent for it. Once it answers again, the running runs get the
 * grace a restarted controller gives; the deadline still holds. */
static void test_a_store_outage_is_not_silence(void **state)
{
    World *w = *state;
    g_autofree char *id = start_running(w);
    w->now += 2;
    assert_true(store_exec(w->store, "ALTER TABLE runs RENAME TO runs_away", NULL));
    scheduler_tick(w->sched);
    w->now += 8; /* nobody heard for 10 s; silence_s is 6 */
    scheduler_tick(w->sched);
    assert_true(store_exec(w->store, "ALTER TABLE runs_away RENAME TO runs", NULL));
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) back = get(w, id);
    assert_int_equal(back->state, RUN_RUNNING);
    w->now += 5; /* 15 s silent, within the grace */
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) graced = get(w, id);
    assert_int_equal(graced->state, RUN_RUNNING);
    w->now += 1; /* the deadline (setup 10 s + 3 paths of 2 s) still holds */
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_ERROR);
    assert_non_null(strstr(r->note, "by its deadline"));
}

/* Two controllers on one store: laptop1 talks to one, corp1 to the other. The
 * controller corp1 never calls still knows it is alive. */
static void test_a_side_heard_by_another_controller_is_not_silent(void **state)
{
    World *w = *state;
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    Scheduler *other =
        scheduler_new(w->fixture->config, w->store, w->board, tz, fake_clock, w, NULL);
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(w->sched, "corp-vpn", "laptop1", "corp1", NULL, NULL, NULL);
    const char *id = ids->pdata[0];
    g_autoptr(JsonArray) o1 = scheduler_take_orders(w->sched, "laptop1", NULL);
    g_autoptr(JsonArray) o2 = scheduler_take_orders(other, "corp1", NULL);
    for (int i = 0; i < 6; i++) {
        w->now += 2;
        assert_int_equal(scheduler_side_of(w->sched, id, "laptop1", NULL), 0);
        assert_int_equal(scheduler_side_of(other, id, "corp1", NULL), 1);
        scheduler_tick(w->sched);
        scheduler_tick(other);
    }
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_RUNNING); /* 12 s, silence_s 6: both heard throughout */
    w->now += 8;                             /* then neither calls */
    scheduler_tick(other);
    g_autoptr(StoreRun) silent = get(w, id);
    assert_int_equal(silent->state, RUN_ERROR);
    scheduler_free(other);
}

/* Two server threads' schedulers on one store, as a controller runs them: the
 * second hears corp1 about its run and does not tick; the first ends the run
 * at its deadline. What the second noted is gone with the run, and what any
 * of them notes goes after its second, at the first's tick (each thread kept
 * its own table, which grew in the threads that do not tick). */
static void test_the_sides_heard_are_forgotten_whichever_thread_heard_them(void **state)
{
    World *w = *state;
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    Scheduler *second =
        scheduler_new(w->fixture->config, w->store, w->board, tz, fake_clock, w, NULL);
    SchedulerShared *sh = scheduler_shared_new();
    scheduler_share(w->sched, sh);
    scheduler_share(second, sh);
    scheduler_shared_unref(sh);
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(w->sched, "corp-vpn", "laptop1", "corp1", NULL, NULL, NULL);
    const char *id = ids->pdata[0];
    g_autoptr(JsonArray) o1 = scheduler_take_orders(w->sched, "laptop1", NULL);
    g_autoptr(JsonArray) o2 = scheduler_take_orders(second, "corp1", NULL);
    assert_int_equal(scheduler_side_of(second, id, "corp1", NULL), 1);
    assert_int_equal(scheduler_heard_count(second), 1);
    /* Its second over: the first's tick forgets it; heard again, noted again. */
    w->now += 1;
    scheduler_tick(w->sched);
    assert_int_equal(scheduler_heard_count(second), 0);
    assert_int_equal(scheduler_side_of(second, id, "corp1", NULL), 1);
    assert_int_equal(scheduler_side_of(w->sched, id, "laptop1", NULL), 0);
    assert_int_equal(scheduler_heard_count(second), 2);
    /* The run ends in the first (its deadline: setup 10 s, 3 paths of 2 s). */
    w->now += 16;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_ERROR);
    assert_int_equal(scheduler_heard_count(second), 0);
    assert_int_equal(scheduler_heard_count(w->sched), 0);
    scheduler_free(second);
}

/* Two controllers on one store (two processes, nothing shared): laptop1's
 * report goes to the other, corp1's to the first, which verifies the run. The
 * other's parsed copy of laptop1's report is never taken; it goes at a tick
 * once it is older than any run can be (it was kept forever). */
static void test_a_report_parsed_for_a_run_verified_elsewhere_goes_in_time(void **state)
{
    World *w = *state;
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    Scheduler *other =
        scheduler_new(w->fixture->config, w->store, w->board, tz, fake_clock, w, NULL);
    g_autofree char *id = start_running(w);
    g_autofree char *doc = report_for(id, "physical");
    gboolean dup;
    assert_true(scheduler_report(other, id, "laptop1", doc, strlen(doc), &dup, NULL));
    assert_int_equal(scheduler_parsed_count(other), 1);
    assert_true(scheduler_report(w->sched, id, "corp1", doc, strlen(doc), &dup, NULL));
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_DONE); /* laptop1's report read back from the store */
    assert_int_equal(scheduler_parsed_count(w->sched), 0);
    w->now += 899;
    scheduler_tick(other);
    assert_int_equal(scheduler_parsed_count(other), 1);
    w->now += 2;
    scheduler_tick(other);
    assert_int_equal(scheduler_parsed_count(other), 0);
    scheduler_free(other);
}

/* [scheduler] history_days: the tick prunes finished runs older than that
 * (a batch at a time), keeps the newer ones and the runs still under way. */
static void test_history_days_prunes_old_runs_on_the_tick(void **state)
{
    World *w = *state;
    Fixture *f = fixture_new("[scheduler]\nhistory_days = 2\n");
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    Scheduler *pruner = scheduler_new(f->config, w->store, w->board, tz, fake_clock, w, NULL);
    static const struct {
        const char *id;
        gint64 age_s;
        gboolean finished;
    } runs[] = {
        {"old-a", 5 * 86400, TRUE}, {"old-b", 3 * 86400, TRUE}, {"stuck", 4 * 86400, FALSE},
        {"recent", 86400, TRUE},    {"newest", 60, TRUE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(runs); i++) {
        StoreRun r = {.id = (char *)runs[i].id,
                      .profile = "corp-vpn",
                      .agent = {"laptop1", "corp1"},
                      .created_at = w->now - runs[i].age_s - 10};
        assert_true(store_run_create(w->store, &r, NULL));
        if (runs[i].finished) {
            g_autoptr(RunResult) result = run_result_new("corp-vpn");
            run_result_conclude(result);
            assert_true(store_run_finish(w->store, runs[i].id, RUN_DONE, result, NULL,
                                         w->now - runs[i].age_s, NULL));
        }
    }
    scheduler_tick(pruner);
    for (gsize i = 0; i < G_N_ELEMENTS(runs); i++) {
        g_autoptr(StoreRun) r = store_run_get(w->store, runs[i].id, NULL);
        gboolean pruned = runs[i].finished && runs[i].age_s > 2 * 86400;
        if ((r == NULL) != pruned)
            fail_msg("run %s: %s", runs[i].id, r ? "kept, should have gone" : "pruned, should stay");
    }
    scheduler_free(pruner);
    fixture_free(f);
}

static void test_reports_are_checked_and_taken_once(void **state)
{
    World *w = *state;
    g_autofree char *id = start_running(w);
    gboolean dup = FALSE;
    g_autoptr(GError) e = NULL;
    g_autofree char *doc = report_for(id, "tunnel");
    assert_false(scheduler_report(w->sched, id, "laptop2", doc, strlen(doc), &dup, &e));
    assert_int_equal(e->code, SCHEDULER_ERROR_FORBIDDEN);
    g_autoptr(GError) e2 = NULL;
    assert_false(scheduler_report(w->sched, id, "laptop1", "{\"schema\":1}", 12, &dup, &e2));
    assert_int_equal(e2->code, SCHEDULER_ERROR_FIELD);
    assert_non_null(strstr(e2->message, "schema: not a string"));
    g_autoptr(GError) e3 = NULL;
    g_autofree char *other = report_for("another-run", "physical");
    assert_false(scheduler_report(w->sched, id, "laptop1", other, strlen(other), &dup, &e3));
    assert_non_null(strstr(e3->message, "run_id"));

    assert_true(scheduler_report(w->sched, id, "laptop1", doc, strlen(doc), &dup, NULL));
    assert_false(dup);
    assert_true(scheduler_report(w->sched, id, "laptop1", doc, strlen(doc), &dup, NULL));
    assert_true(dup);
    g_autofree char *good = report_for(id, "physical");
    assert_true(scheduler_report(w->sched, id, "corp1", good, strlen(good), &dup, NULL));
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_DONE);
    assert_string_equal(r->verdict, "fail"); /* laptop1's side went through its tunnel */
}

static void test_a_schedule_missed_while_down_runs_once_at_start(void **state)
{
    World *w = *state;
    /* Last fired three days ago; 02:00 passed three times since. */
    assert_true(store_schedule_set_last_fire(w->store, "nightly", utc(2026, 11, 21, 2, 0), NULL));
    w->now = utc(2026, 11, 24, 9, 30);
    g_autoptr(GError) e = NULL;
    assert_true(scheduler_start(w->sched, &e));
    g_autoptr(GPtrArray) active = store_runs_active(w->store, NULL);
    assert_int_equal(active->len, 2); /* laptop1 and laptop2 against corp1, once */
    StoreRun *r = active->pdata[0];
    assert_string_equal(r->schedule, "nightly");
    assert_non_null(strstr(r->note, "missed 3 firings while the controller was down"));
    scheduler_tick(w->sched);
    g_autoptr(GPtrArray) again = store_runs_active(w->store, NULL);
    assert_int_equal(again->len, 2);
    w->now = utc(2026, 11, 25, 2, 0);
    scheduler_tick(w->sched);
    StoreRunFilter f = {.since = w->now, .limit = 50};
    g_autoptr(GPtrArray) next = store_runs_page(w->store, &f, NULL);
    assert_int_equal(next->len, 2);
    assert_null(((StoreRun *)next->pdata[0])->note); /* on time: nothing to say */
    w->now += 60;
    scheduler_tick(w->sched);
    f.since = w->now;
    g_autoptr(GPtrArray) none = store_runs_page(w->store, &f, NULL);
    assert_int_equal(none->len, 0);
}

static void test_a_new_schedule_owes_nothing(void **state)
{
    World *w = *state;
    assert_true(scheduler_start(w->sched, NULL));
    g_autoptr(GPtrArray) active = store_runs_active(w->store, NULL);
    assert_int_equal(active->len, 0);
    gint64 last = 0;
    assert_true(store_schedule_last_fire(w->store, "nightly", &last, NULL));
    assert_int_equal(last, w->now);
}

/* Two controllers on one store (each its own scheduler), ticking one after the
 * other: a schedule fires once, and a missed firing is made up once. (Two that
 * read the same last firing at the same moment are settled by the store's
 * compare-and-set: test_store's test_a_schedule_firing_is_claimed_once.) */
static void test_two_controllers_fire_a_schedule_once(void **state)
{
    World *w = *state;
    g_autoptr(GTimeZone) tz = g_time_zone_new_utc();
    Scheduler *other =
        scheduler_new(w->fixture->config, w->store, w->board, tz, fake_clock, w, NULL);
    assert_true(store_schedule_set_last_fire(w->store, "nightly", utc(2026, 11, 23, 2, 0), NULL));
    w->now = utc(2026, 11, 24, 9, 30); /* one firing missed */
    assert_true(scheduler_start(w->sched, NULL));
    assert_true(scheduler_start(other, NULL));
    g_autoptr(GPtrArray) made_up = store_runs_active(w->store, NULL);
    assert_int_equal(made_up->len, 2);
    w->now = utc(2026, 11, 25, 2, 0);
    scheduler_tick(other);
    scheduler_tick(w->sched);
    StoreRunFilter f = {.since = w->now, .limit = 50};
    g_autoptr(GPtrArray) fired = store_runs_page(w->store, &f, NULL);
    assert_int_equal(fired->len, 2); /* laptop1 and laptop2 against corp1, once */
    scheduler_free(other);
}


static void seen(World *w, const char *agent, gint64 when)
{
    assert_true(store_agent_seen(w->store, agent, when, NULL, NULL, NULL, NULL));
}

/* The runs created at or after since, oldest first. */
static GPtrArray *runs_since(World *w, gint64 since)
{
    StoreRunFilter f = {.since = since, .limit = 50};
    GPtrArray *runs = store_runs_page(w->store, &f, NULL); /* newest first */
    for (guint i = 0; i < runs->len / 2; i++) {
        gpointer t = runs->pdata[i];
        runs->pdata[i] = runs->pdata[runs->len - 1 - i];
        runs->pdata[runs->len - 1 - i] = t;
    }
    return runs;
}

static void test_a_vpn_coming_up_runs_that_agents_pairs_once_per_interval(void **state)
{
    World *w = *state;
    assert_true(scheduler_start(w->sched, NULL));
    gint64 t0 = w->now;
    for (const char *const *a = (const char *const[]){"laptop1", "laptop2", "corp1", NULL}; *a; a++)
        seen(w, *a, w->now);
    assert_int_equal(scheduler_network_event(w->sched, "laptop1", "vpn-up", "gpd0 came up"), 1);
    g_autoptr(GPtrArray) runs = runs_since(w, t0);
    assert_int_equal(runs->len, 1); /* laptop1's pair only, not laptop2's */
    StoreRun *r = runs->pdata[0];
    assert_string_equal(r->schedule, "vpn");
    assert_string_equal(r->trigger, "vpn-up");
    assert_string_equal(r->agent[0], "laptop1");
    assert_string_equal(r->agent[1], "corp1");
    assert_string_equal(r->note, "vpn-up on laptop1: gpd0 came up");
    assert_true(r->offered_at > 0);
    /* A flapping VPN: every later vpn-up within min_interval_s (600 s) starts nothing. */
    for (int i = 0; i < 10; i++) {
        w->now += 30;
        assert_int_equal(scheduler_network_event(w->sched, "laptop1", "vpn-up", "again"), 0);
    }
    /* vpn-up fires on vpn-up only; network-change on every kind, for its own agents. */
    assert_int_equal(scheduler_network_event(w->sched, "laptop1", "network-change", "x"), 0);
    assert_int_equal(scheduler_network_event(w->sched, "laptop2", "vpn-down", "gpd0 went down"), 1);
    assert_int_equal(scheduler_network_event(w->sched, "corp1", "network-change", "eth0"), 1);
    w->now = t0 + 600;
    assert_int_equal(scheduler_network_event(w->sched, "laptop1", "vpn-up", "later"), 1);
    g_autoptr(GPtrArray) all = runs_since(w, t0);
    assert_int_equal(all->len, 4);
    assert_string_equal(((StoreRun *)all->pdata[1])->trigger, "vpn-down");
    assert_string_equal(((StoreRun *)all->pdata[2])->trigger, "network-change");
    assert_string_equal(((StoreRun *)all->pdata[2])->agent[0], "laptop2");
}

static void test_a_run_whose_laptop_sleeps_waits_and_runs_late_once(void **state)
{
    World *w = *state;
    w->now = utc(2026, 11, 24, 2, 30);
    assert_true(scheduler_start(w->sched, NULL));
    seen(w, "laptop1", utc(2026, 11, 24, 1, 0)); /* asleep since */
    seen(w, "corp1", w->now);
    seen(w, "laptop2", w->now);
    w->now = utc(2026, 11, 24, 3, 0);
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    g_autoptr(GPtrArray) fired = runs_since(w, w->now);
    assert_int_equal(fired->len, 1);
    StoreRun *held = fired->pdata[0];
    assert_string_equal(held->trigger, "cron");
    assert_int_equal(held->offered_at, 0);
    assert_string_equal(held->waited_for, "laptop1 (offline, last seen 2026-11-24 01:00 UTC)");
    assert_int_equal(held->catch_up_until, w->now + 7200);
    g_autofree char *id = g_strdup(held->id);
    /* corp1's other runs do not wait behind it. */
    g_autoptr(GPtrArray) other =
        scheduler_create_runs(w->sched, "corp-vpn", "laptop2", "corp1", NULL, NULL, NULL);
    g_autoptr(StoreRun) o = get(w, other->pdata[0]);
    assert_true(o->offered_at > 0);
    take_and_report(w, o->id);
    /* The next firing finds it still waiting: the same catch-up, not another run. */
    w->now = utc(2026, 11, 24, 4, 0);
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    g_autoptr(GPtrArray) again = runs_since(w, w->now);
    assert_int_equal(again->len, 0);
    /* The laptop wakes: the run is offered and says it ran late, and why. */
    w->now = utc(2026, 11, 24, 4, 10);
    seen(w, "laptop1", w->now);
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) late = get(w, id);
    assert_true(late->offered_at > 0);
    assert_string_equal(late->note,
                        "ran late: it waited for laptop1 (offline, last seen 2026-11-24 01:00 UTC); "
                        "it started 4200 s after it was created, once its agents were present "
                        "([schedule.late] catch_up_s)");
    take_and_report(w, id);
    g_autoptr(StoreRun) done = get(w, id);
    assert_int_equal(done->state, RUN_DONE);
}

static void test_a_run_that_waits_in_vain_ends_agent_offline(void **state)
{
    World *w = *state;
    w->now = utc(2026, 11, 24, 2, 30);
    assert_true(scheduler_start(w->sched, NULL));
    w->now = utc(2026, 11, 24, 3, 0);
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    g_autoptr(GPtrArray) fired = runs_since(w, w->now);
    g_autofree char *id = g_strdup(((StoreRun *)fired->pdata[0])->id);
    w->now += 7199;
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) waiting = get(w, id);
    assert_int_equal(waiting->state, RUN_PENDING);
    w->now += 1;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) r = get(w, id);
    assert_int_equal(r->state, RUN_ERROR);
    g_autoptr(RunResult) res = run_result_from_json(r->result, strlen(r->result), NULL);
    assert_true(run_result_has_finding(res, "AGENT_OFFLINE"));
    const Finding *f = res->findings->pdata[0];
    assert_non_null(strstr(f->message, "waited 7200 s ([schedule.late] catch_up_s) for laptop1 "
                                       "(offline, last seen never), which did not come back."));
}

/* Offered while both seemed present, taken by neither: it waits again rather
 * than ending AGENT_OFFLINE. */
static void test_an_order_of_a_catch_up_run_taken_by_neither_waits_again(void **state)
{
    World *w = *state;
    w->now = utc(2026, 11, 24, 3, 0) - 20;
    assert_true(scheduler_start(w->sched, NULL));
    seen(w, "laptop1", w->now); /* it went to sleep just before the firing */
    seen(w, "corp1", w->now);
    w->now = utc(2026, 11, 24, 3, 0);
    scheduler_tick(w->sched);
    g_autoptr(GPtrArray) fired = runs_since(w, w->now);
    g_autofree char *id = g_strdup(((StoreRun *)fired->pdata[0])->id);
    g_autoptr(StoreRun) offered = get(w, id);
    assert_true(offered->offered_at > 0);
    w->now += 5;
    scheduler_tick(w->sched);
    g_autoptr(StoreRun) held = get(w, id);
    assert_int_equal(held->state, RUN_PENDING);
    assert_int_equal(held->offered_at, 0);
    assert_string_equal(held->waited_for,
                        "laptop1 and corp1 (neither took its order within 5 s)");
    w->now += 3600;
    seen(w, "laptop1", w->now);
    seen(w, "corp1", w->now);
    scheduler_tick(w->sched);
    take_and_report(w, id);
    g_autoptr(StoreRun) done = get(w, id);
    assert_int_equal(done->state, RUN_DONE);
    assert_true(g_str_has_prefix(done->note, "ran late: it waited for laptop1 and corp1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_vpn_coming_up_runs_that_agents_pairs_once_per_interval, setup_laptops, teardown),
        cmocka_unit_test_setup_teardown(test_a_run_whose_laptop_sleeps_waits_and_runs_late_once,
                                        setup_laptops, teardown),
        cmocka_unit_test_setup_teardown(test_a_run_that_waits_in_vain_ends_agent_offline,
                                        setup_laptops, teardown),
        cmocka_unit_test_setup_teardown(test_an_order_of_a_catch_up_run_taken_by_neither_waits_again,
                                        setup_laptops, teardown),
        cmocka_unit_test_setup_teardown(
            test_groups_expand_to_each_pair_once_never_an_agent_with_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_agent_has_one_run_at_a_time_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_order_not_taken_ends_agent_offline_not_pending,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_run_without_a_report_by_its_deadline_ends_run_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_side_gone_silent_ends_the_run_before_its_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_store_outage_is_not_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_sides_heard_are_forgotten_whichever_thread_heard_them, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_side_heard_by_another_controller_is_not_silent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports_are_checked_and_taken_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_report_parsed_for_a_run_verified_elsewhere_goes_in_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_days_prunes_old_runs_on_the_tick, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_schedule_missed_while_down_runs_once_at_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_new_schedule_owes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_controllers_fire_a_schedule_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
