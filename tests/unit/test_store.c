#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg-fixture.h"
#include "store.h"

/* Every test runs on both backends: SQLite, and PostgreSQL when
 * with-postgres.sh gave a server (ICEPROBE_TEST_PG_URL). Each test starts
 * from an empty database: a new SQLite file or :memory:, or PostgreSQL's
 * public schema dropped and made again. */
typedef struct {
    gboolean postgres;
    char *dir;    /* SQLite: a temporary directory for a file */
    char *target; /* what store_open takes */
} Backend;

static int setup_sqlite(void **state)
{
    Backend *b = g_new0(Backend, 1);
    b->dir = g_dir_make_tmp("iceprobe-store-XXXXXX", NULL);
    b->target = g_build_filename(b->dir, "c.db", NULL);
    *state = b;
    return 0;
}

static int setup_postgres(void **state)
{
    const char *url = pg_fixture_url();
    Backend *b = g_new0(Backend, 1);
    b->postgres = TRUE;
    b->target = g_strdup(url);
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    Backend *b = *state;
    if (!b)
        return 0;
    if (b->dir) {
        const char *const suffixes[] = {"", "-wal", "-shm"};
        for (gsize i = 0; i < G_N_ELEMENTS(suffixes); i++) {
            g_autofree char *f = g_strconcat(b->target, suffixes[i], NULL);
            g_remove(f);
        }
        g_rmdir(b->dir);
    }
    g_free(b->dir);
    g_free(b->target);
    g_free(b);
    return 0;
}

static const char *target(void **state)
{
    return ((Backend *)*state)->target;
}

static const char *const vpn[] = {"vpn", NULL};
static const char *const internal[] = {"internal", "lab", NULL};

static Store *store_with_agents(const char *path)
{
    g_autoptr(GError) e = NULL;
    Store *s = store_open(path, &e);
    assert_non_null(s);
    assert_true(store_agent_add(s, "laptop1", vpn, "hash-laptop1", 100, &e));
    assert_true(store_agent_add(s, "corp1", internal, "hash-corp1", 100, &e));
    return s;
}

static void create_run(Store *s, const char *id, gint64 created)
{
    StoreRun r = {.id = (char *)id,
                  .profile = "corp-vpn",
                  .agent = {"laptop1", "corp1"},
                  .created_at = created};
    g_autoptr(GError) e = NULL;
    assert_true(store_run_create(s, &r, &e));
}

static RunResult *report(const char *run_id, double loss)
{
    RunResult *r = run_result_new("corp-vpn");
    g_free(r->run_id);
    r->run_id = g_strdup(run_id);
    PathRecord *p = run_result_add_path(r, "natural");
    p->have_pair = TRUE;
    p->local.type = g_strdup("relay");
    p->local.transport = g_strdup("udp");
    p->local.egress_class = g_strdup("physical");
    p->have_metrics = TRUE;
    p->metrics.loss_ratio = loss;
    p->metrics.jitter_ms = 1.5;
    p->metrics.rtt_samples = 10;
    p->metrics.rtt_median_ms = 0.5;
    p->metrics.mos = 4.4;
    run_result_conclude(r);
    return r;
}

static void test_a_new_store_is_at_the_newest_schema(void **state)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(Store) s = store_open(target(state), &e);
    assert_null(e);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), 6);
    /* Opened again, nothing is migrated twice. */
    g_autoptr(Store) again = store_open(target(state), &e);
    assert_null(e);
    assert_int_equal(store_schema_version(again), 6);
}

static void test_agents_are_added_found_by_token_hash_and_removed(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    g_autoptr(GError) e = NULL;
    assert_false(store_agent_add(s, "laptop1", vpn, "other", 1, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_EXISTS));
    g_autoptr(StoreAgent) a = store_agent_by_token_hash(s, "hash-corp1", NULL);
    assert_non_null(a);
    assert_string_equal(a->name, "corp1");
    assert_true(store_agent_in_group(a, "lab"));
    assert_false(store_agent_in_group(a, "vpn"));
    assert_true(store_agent_seen(s, "corp1", 200, "0.1.0", "[{\"name\":\"eth0\"}]", NULL, NULL));
    assert_true(store_agent_seen(s, "corp1", 210, NULL, NULL, "{\"interface\":\"gpd0\"}", NULL));
    g_autoptr(StoreAgent) b = store_agent_by_name(s, "corp1", NULL);
    assert_int_equal(b->last_seen, 210);
    assert_string_equal(b->version, "0.1.0");
    assert_non_null(strstr(b->interfaces, "eth0"));
    assert_string_equal(b->vpn, "{\"interface\":\"gpd0\"}");
    /* an agent whose tunnel went down says so by sending none */
    assert_true(store_agent_seen(s, "corp1", 220, NULL, NULL, NULL, NULL));
    g_autoptr(StoreAgent) c = store_agent_by_name(s, "corp1", NULL);
    assert_null(c->vpn);
    assert_non_null(strstr(c->interfaces, "eth0"));
    assert_true(store_agent_remove(s, "corp1", NULL));
    g_autoptr(GError) e2 = NULL;
    assert_null(store_agent_by_token_hash(s, "hash-corp1", &e2));
    assert_true(g_error_matches(e2, STORE_ERROR, STORE_ERROR_NOT_FOUND));
    g_autoptr(GError) e3 = NULL;
    assert_false(store_agent_remove(s, "corp1", &e3));
    assert_true(g_error_matches(e3, STORE_ERROR, STORE_ERROR_NOT_FOUND));
}

static void test_a_run_goes_from_pending_to_done(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    create_run(s, "r1", 1000);
    assert_true(store_run_offer(s, "r1", 1001, NULL, NULL));
    g_autoptr(GPtrArray) orders = store_runs_for_agent(s, "corp1", NULL);
    assert_int_equal(orders->len, 1);
    g_autoptr(StoreRun) a = store_run_take(s, "r1", 0, 1002, 1100, NULL);
    assert_int_equal(a->state, RUN_DISPATCHED);
    assert_int_equal(a->deadline, 0);
    g_autoptr(StoreRun) b = store_run_take(s, "r1", 1, 1003, 1103, NULL);
    assert_int_equal(b->state, RUN_RUNNING);
    assert_int_equal(b->deadline, 1103);
    g_autoptr(StoreRun) again = store_run_take(s, "r1", 1, 1004, 9999, NULL);
    assert_int_equal(again->deadline, 1103);
    assert_true(store_run_heard(s, "r1", 1, 1005, NULL));
    assert_true(store_run_heard(s, "r1", 1, 1004, NULL)); /* never back in time */
    g_autoptr(StoreRun) heard = store_run_get(s, "r1", NULL);
    assert_int_equal(heard->heard_at[1], 1005);
    assert_int_equal(heard->heard_at[0], 0);

    gboolean dup = TRUE;
    g_autoptr(RunResult) rep = report("r1", 0.02);
    g_autofree char *doc = run_result_to_string(rep, FALSE);
    g_autoptr(StoreRun) r1 = store_run_add_report(s, "r1", 0, doc, VERDICT_PASS, 1010, &dup, NULL);
    assert_false(dup);
    assert_int_equal(r1->state, RUN_RUNNING);
    g_autoptr(StoreRun) r2 = store_run_add_report(s, "r1", 0, "{}", VERDICT_PASS, 1011, &dup, NULL);
    assert_true(dup);
    g_autoptr(StoreRun) r3 = store_run_add_report(s, "r1", 1, doc, VERDICT_PASS, 1012, &dup, NULL);
    assert_int_equal(r3->state, RUN_VERIFYING);
    g_autofree char *da = NULL, *db = NULL;
    assert_true(store_run_reports(s, "r1", &da, &db, NULL));
    assert_string_equal(da, doc); /* the first report of side a, not the duplicate */
    assert_string_equal(db, doc);

    PathRecord *p = rep->paths->pdata[0];
    p->sides[0] = path_record_copy(p);
    p->sides[1] = path_record_copy(p);
    p->sides[1]->metrics.loss_ratio = 0.5;
    assert_true(store_run_finish(s, "r1", RUN_DONE, rep, NULL, 1020, NULL));
    g_autoptr(StoreRun) done = store_run_get(s, "r1", NULL);
    assert_int_equal(done->state, RUN_DONE);
    assert_string_equal(done->verdict, "pass");
    assert_int_equal(done->finished_at, 1020);
    g_autoptr(GPtrArray) m = store_path_metrics(s, "r1", NULL);
    assert_int_equal(m->len, 2);
    StorePathMetrics *mb = m->pdata[1];
    assert_string_equal(mb->side, "b");
    assert_true(mb->loss_ratio > 0.49);
    assert_string_equal(mb->egress_class, "physical");

    g_autoptr(GError) e = NULL;
    assert_false(store_run_finish(s, "r1", RUN_ERROR, rep, NULL, 1030, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE));
    g_autoptr(GError) e2 = NULL;
    create_run(s, "r2", 1040);
    assert_null(store_run_add_report(s, "r2", 0, doc, VERDICT_PASS, 1041, &dup, &e2));
    assert_true(g_error_matches(e2, STORE_ERROR, STORE_ERROR_STATE)); /* order not taken */
}

static void test_pages_go_newest_first_and_filter(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    for (int i = 0; i < 7; i++) {
        g_autofree char *id = g_strdup_printf("run-%d", i);
        create_run(s, id, 1000 + i / 2); /* pairs share a second: creation order decides */
    }
    StoreRunFilter f = {.limit = 3};
    g_autoptr(GPtrArray) p1 = store_runs_page(s, &f, NULL);
    assert_int_equal(p1->len, 3);
    assert_string_equal(((StoreRun *)p1->pdata[0])->id, "run-6");
    StoreRun *last = p1->pdata[2];
    f.before_seq = last->seq;
    g_autoptr(GPtrArray) p2 = store_runs_page(s, &f, NULL);
    assert_int_equal(p2->len, 3);
    assert_string_equal(((StoreRun *)p2->pdata[0])->id, "run-3");
    StoreRunFilter pending = {.verdict = "pending", .since = 1002, .limit = 50};
    g_autoptr(GPtrArray) p3 = store_runs_page(s, &pending, NULL);
    assert_int_equal(p3->len, 3);
    StoreRunFilter other = {.profile = "other", .limit = 50};
    g_autoptr(GPtrArray) p4 = store_runs_page(s, &other, NULL);
    assert_int_equal(p4->len, 0);
}

static void test_latest_per_pair_history_counts_and_prune(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    for (int i = 0; i < 3; i++) {
        g_autofree char *id = g_strdup_printf("r%d", i);
        create_run(s, id, 1000 + i);
        g_autoptr(RunResult) rep = report(id, 0.01 * i);
        assert_true(store_run_finish(s, id, RUN_DONE, rep, NULL, 2000 + i, NULL));
    }
    create_run(s, "open", 3000);
    g_autoptr(GPtrArray) latest = store_latest_per_pair(s, NULL);
    assert_int_equal(latest->len, 1);
    assert_string_equal(((StoreRun *)latest->pdata[0])->id, "r2");
    g_autoptr(GPtrArray) hist = store_history(s, "corp-vpn", "laptop1", "corp1", 2, NULL);
    assert_int_equal(hist->len, 2);
    g_autoptr(GHashTable) v = store_count_verdicts(s, NULL);
    assert_int_equal(GPOINTER_TO_SIZE(g_hash_table_lookup(v, "pass")), 3);
    g_autoptr(GHashTable) st = store_count_states(s, NULL);
    assert_int_equal(GPOINTER_TO_SIZE(g_hash_table_lookup(st, "pending")), 1);
    guint deleted = 0;
    assert_true(store_prune(s, 2002, 100, &deleted, NULL));
    assert_int_equal(deleted, 2);
    assert_true(store_prune(s, 99999, 100, &deleted, NULL));
    assert_int_equal(deleted, 1); /* r2; "open" is not finished and is the newest */
    g_autoptr(GPtrArray) m = store_path_metrics(s, "r0", NULL);
    assert_int_equal(m->len, 0); /* with their metrics */
    gint64 last = 5;
    assert_true(store_schedule_last_fire(s, "nightly", &last, NULL));
    assert_int_equal(last, 0);
    assert_true(store_schedule_set_last_fire(s, "nightly", 77, NULL));
    assert_true(store_schedule_set_last_fire(s, "nightly", 78, NULL));
    assert_true(store_schedule_last_fire(s, "nightly", &last, NULL));
    assert_int_equal(last, 78);
}

/* [scheduler] history_days: old runs go a batch at a time, the oldest first,
 * and the runs counted by verdict (iceprobe_runs_total, a counter) never go
 * back; a run still open stays, whatever its age. */
static void test_pruning_goes_in_batches_and_keeps_the_totals(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    for (int i = 0; i < 5; i++) {
        g_autofree char *id = g_strdup_printf("old%d", i);
        create_run(s, id, 1000 + i);
        g_autoptr(RunResult) rep = report(id, 0);
        assert_true(store_run_finish(s, id, i == 4 ? RUN_ERROR : RUN_DONE, rep, NULL, 2000 + i,
                                     NULL));
    }
    create_run(s, "open", 1500);
    create_run(s, "newest", 9000);
    g_autoptr(GHashTable) before = store_count_verdicts(s, NULL);
    guint deleted = 0;
    assert_true(store_prune(s, 5000, 2, &deleted, NULL));
    assert_int_equal(deleted, 2);
    assert_null(store_run_get(s, "old0", NULL));
    assert_null(store_run_get(s, "old1", NULL));
    g_autoptr(StoreRun) kept = store_run_get(s, "old2", NULL);
    assert_non_null(kept);
    assert_true(store_prune(s, 5000, 2, &deleted, NULL));
    assert_int_equal(deleted, 2);
    assert_true(store_prune(s, 5000, 2, &deleted, NULL));
    assert_int_equal(deleted, 1); /* fewer than the batch: nothing more to prune */
    assert_true(store_prune(s, 5000, 2, &deleted, NULL));
    assert_int_equal(deleted, 0);
    g_autoptr(StoreRun) open = store_run_get(s, "open", NULL);
    assert_non_null(open);
    g_autoptr(GHashTable) after = store_count_verdicts(s, NULL);
    assert_int_equal(g_hash_table_size(after), g_hash_table_size(before));
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, before);
    while (g_hash_table_iter_next(&it, &k, &v))
        assert_int_equal(GPOINTER_TO_SIZE(g_hash_table_lookup(after, k)), GPOINTER_TO_SIZE(v));
    /* A run finished after the pruning is counted on top. */
    g_autoptr(RunResult) rep = report("newest", 0);
    assert_true(store_run_finish(s, "newest", RUN_DONE, rep, NULL, 9100, NULL));
    g_autoptr(GHashTable) later = store_count_verdicts(s, NULL);
    assert_int_equal(GPOINTER_TO_SIZE(g_hash_table_lookup(later, "pass")),
                     GPOINTER_TO_SIZE(g_hash_table_lookup(before, "pass")) + 1);
}

/* What a store acknowledged survives the process being killed, and a
 * transaction cut off half-way leaves nothing. */
static void test_a_killed_writer_loses_nothing_acknowledged(void **state)
{
    const char *path = target(state);
    int ack[2];
    assert_int_equal(pipe(ack), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ack[0]);
        Store *s = store_with_agents(path);
        for (int i = 0; i < 50; i++) {
            g_autofree char *id = g_strdup_printf("run-%02d", i);
            StoreRun r = {.id = id, .profile = "p", .agent = {"laptop1", "corp1"}, .created_at = i};
            if (!store_run_create(s, &r, NULL))
                _exit(2);
            if (write(ack[1], "x", 1) != 1)
                _exit(2);
        }
        for (;;)
            pause(); /* killed here, the store never closed */
    }
    close(ack[1]);
    char buf[64];
    ssize_t got = 0, n;
    while (got < 50 && (n = read(ack[0], buf, sizeof(buf))) > 0)
        got += n;
    close(ack[0]);
    assert_int_equal(got, 50);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    g_autoptr(GError) e = NULL;
    g_autoptr(Store) s = store_open(path, &e);
    assert_non_null(s);
    g_autoptr(GPtrArray) active = store_runs_active(s, NULL);
    assert_int_equal(active->len, 50);
    g_autoptr(GPtrArray) agents = store_agent_list(s, NULL);
    assert_int_equal(agents->len, 2);
}

/* Several writers at once on one database (several controllers on one
 * PostgreSQL; on SQLite, processes sharing the file): every run gets a number of
 * its own, nothing is lost, and a store opened by all of them at once is
 * migrated once. */
static void test_writers_at_once_take_numbers_of_their_own(void **state)
{
    enum { WRITERS = 4, RUNS = 25 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            g_autoptr(GError) e = NULL;
            Store *s = store_open(target(state), &e);
            if (!s) {
                fprintf(stderr, "writer %d: %s\n", w, e->message);
                _exit(2);
            }
            if (w == 0 && (!store_agent_add(s, "laptop1", vpn, "h1", 1, NULL) ||
                           !store_agent_add(s, "corp1", internal, "h2", 1, NULL)))
                _exit(3);
            for (int i = 0; i < RUNS; i++) {
                g_autofree char *id = g_strdup_printf("w%d-%02d", w, i);
                StoreRun r = {.id = id, .profile = "p", .agent = {"laptop1", "corp1"}};
                if (!store_run_create(s, &r, NULL))
                    _exit(4);
            }
            store_close(s);
            _exit(0);
        }
    }
    int status[WRITERS];
    for (int w = 0; w < WRITERS; w++) /* all of them, before any assertion */
        waitpid(pids[w], &status[w], 0);
    for (int w = 0; w < WRITERS; w++) {
        assert_true(WIFEXITED(status[w]));
        assert_int_equal(WEXITSTATUS(status[w]), 0);
    }
    g_autoptr(Store) s = store_open(target(state), NULL);
    assert_int_equal(store_schema_version(s), 6);
    g_autoptr(GPtrArray) active = store_runs_active(s, NULL);
    assert_int_equal(active->len, WRITERS * RUNS);
    for (guint i = 0; i < active->len; i++) /* 1, 2, 3, ... in order, none twice */
        assert_int_equal(((StoreRun *)active->pdata[i])->seq, i + 1);
}

/* What one racing controller saw, sent to the test through a pipe. */
typedef struct {
    int side;
    gint64 taken_at;  /* the side's taking, as the store returned it */
    int fresh_report; /* 1: this one stored its side's report (not a duplicate) */
    int completes;    /* 1: its report turned the run verifying */
    int finished;     /* 1: its store_run_finish wrote the end */
    int refused;      /* 1: its store_run_finish was told the run had ended */
} RaceSeen;

/* Lock-step for racing processes: each phase starts for all of them at once
 * (the test closes the phase's pipe, and every blocked read returns), and the
 * test waits until every one has finished it. */
typedef struct {
    int go[3][2];
    int done[2];
    int seen[2];
    pid_t pids[8];
    int n;
} Race;

static gboolean race_wait(Race *r, int phase)
{
    char c;
    return read(r->go[phase][0], &c, 1) == 0;
}

static gboolean race_done(Race *r)
{
    return write(r->done[1], "x", 1) == 1;
}

/* A racer that fails says it is done with every phase left, so that the others
 * and the test go on; its exit status tells the test. */
static int race_fail(Race *r, int phase, int code)
{
    for (; phase < 3; phase++)
        if (!race_done(r))
            break;
    return code;
}

static void race_phase(Race *r, int phase)
{
    close(r->go[phase][1]);
    char buf[64];
    int got = 0;
    while (got < r->n) {
        struct pollfd p = {r->done[0], POLLIN, 0};
        ssize_t k = poll(&p, 1, 30000) == 1
                        ? read(r->done[0], buf, (size_t)MIN(r->n - got, (int)sizeof(buf)))
                        : -1;
        if (k <= 0) { /* a racer died without a word: none is left behind */
            for (int i = 0; i < r->n; i++)
                kill(r->pids[i], SIGKILL);
            fail_msg("phase %d: %d of %d racers finished it", phase, got, r->n);
        }
        got += (int)k;
    }
}

/* One racer: what a controller does with one side of the run, phase by phase. */
static int racer(Race *race, const char *target, int w)
{
    Store *s = store_open(target, NULL);
    if (!s)
        return race_fail(race, 0, 2);
    RaceSeen r = {.side = w % 2};
    GError *e = NULL;
    if (!race_wait(race, 0))
        return race_fail(race, 0, 3);
    StoreRun *t = store_run_take(s, "race", r.side, 2000 + w, 3000 + w, &e);
    if (!t) {
        fprintf(stderr, "racer %d: take: %s\n", w, e->message);
        return race_fail(race, 0, 4);
    }
    r.taken_at = t->taken_at[r.side];
    store_run_free(t);
    if (!race_done(race) || !race_wait(race, 1))
        return race_fail(race, 1, 3);
    RunResult *rep = report("race", 0.01 * w);
    char *doc = run_result_to_string(rep, FALSE);
    gboolean dup = FALSE;
    StoreRun *a = store_run_add_report(s, "race", r.side, doc, VERDICT_PASS, 2100 + w, &dup, &e);
    g_free(doc);
    if (!a) {
        fprintf(stderr, "racer %d: report: %s\n", w, e->message);
        run_result_free(rep);
        return race_fail(race, 1, 5);
    }
    r.fresh_report = !dup;
    r.completes = !dup && a->state == RUN_VERIFYING;
    store_run_free(a);
    if (!race_done(race) || !race_wait(race, 2))
        return race_fail(race, 2, 3);
    r.finished = store_run_finish(s, "race", RUN_DONE, rep, NULL, 2200 + w, &e);
    if (!r.finished) {
        r.refused = g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE);
        if (!r.refused)
            fprintf(stderr, "racer %d: finish: %s\n", w, e->message);
        g_clear_error(&e);
    }
    run_result_free(rep);
    store_close(s);
    return race_done(race) && write(race->seen[1], &r, sizeof(r)) == sizeof(r) ? 0 : 6;
}

/* Several controllers on one store, in lock-step: all take the order of one
 * side of the same run at the same instant, then all upload that side's report,
 * then all try to end the run (as a verification and deadlines on several
 * controllers would). The run's row lock (FOR UPDATE; SQLite's BEGIN IMMEDIATE)
 * must make each side's taking happen once (every racer is handed the first
 * one's time: none overwrote it), each report be stored once, one report turn
 * the run verifying, and one racer end it while the others are told it has
 * ended. Without the lock, racers read an untaken side and each write their own
 * time. */
static void test_racing_controllers_take_an_order_once_and_end_a_run_once(void **state)
{
    enum { RACERS = G_N_ELEMENTS(((Race *)NULL)->pids) };
    {
        g_autoptr(Store) s = store_with_agents(target(state));
        create_run(s, "race", 1000);
        assert_true(store_run_offer(s, "race", 1000, NULL, NULL));
    }
    Race race = {.n = RACERS};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pipe(race.go[i]), 0);
    assert_int_equal(pipe(race.done), 0);
    assert_int_equal(pipe(race.seen), 0);
    pid_t *pids = race.pids;
    for (int w = 0; w < RACERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            for (int i = 0; i < 3; i++)
                close(race.go[i][1]);
            close(race.done[0]);
            close(race.seen[0]);
            _exit(racer(&race, target(state), w));
        }
    }
    for (int i = 0; i < 3; i++)
        close(race.go[i][0]);
    close(race.done[1]);
    close(race.seen[1]);
    for (int phase = 0; phase < 3; phase++)
        race_phase(&race, phase);
    RaceSeen got[RACERS];
    int n = 0;
    while (n < RACERS && read(race.seen[0], &got[n], sizeof(got[n])) == sizeof(got[n]))
        n++;
    close(race.done[0]);
    close(race.seen[0]);
    int status[RACERS];
    for (int w = 0; w < RACERS; w++) /* all of them, before any assertion */
        waitpid(pids[w], &status[w], 0);
    for (int w = 0; w < RACERS; w++) {
        assert_true(WIFEXITED(status[w]));
        assert_int_equal(WEXITSTATUS(status[w]), 0);
    }
    assert_int_equal(n, RACERS);

    g_autoptr(Store) s = store_open(target(state), NULL);
    g_autoptr(StoreRun) run = store_run_get(s, "race", NULL);
    int fresh[2] = {0, 0}, completes = 0, finished = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        /* every racer of a side was handed the one taking that was stored */
        assert_int_equal(got[i].taken_at, run->taken_at[got[i].side]);
        fresh[got[i].side] += got[i].fresh_report;
        completes += got[i].completes;
        finished += got[i].finished;
        refused += got[i].refused;
    }
    assert_int_equal(fresh[0], 1);
    assert_int_equal(fresh[1], 1);
    assert_int_equal(completes, 1);
    assert_int_equal(finished, 1);
    assert_int_equal(refused, RACERS - 1);
    assert_int_equal(run->state, RUN_DONE);
    g_autoptr(GPtrArray) m = store_path_metrics(s, "race", NULL);
    assert_int_equal(m->len, 1); /* one result's rows, not one per racer */
}

/* A schedule's firing is claimed by compare-and-set: of several controllers
 * that saw the same last firing, one wins. */
static void test_a_schedule_firing_is_claimed_once(void **state)
{
    g_autoptr(Store) s = store_open(target(state), NULL);
    gboolean won = FALSE;
    assert_true(store_schedule_claim(s, "nightly", 0, 100, &won, NULL));
    assert_true(won);
    assert_true(store_schedule_claim(s, "nightly", 0, 101, &won, NULL));
    assert_false(won); /* another controller made it first */
    assert_true(store_schedule_claim(s, "nightly", 100, 200, &won, NULL));
    assert_true(won);
    assert_true(store_schedule_claim(s, "nightly", 100, 300, &won, NULL));
    assert_false(won); /* seen stale: this firing is spent */
    gint64 last = 0;
    assert_true(store_schedule_last_fire(s, "nightly", &last, NULL));
    assert_int_equal(last, 200);
}

/* A network event: kept, and new once per id, whoever sees it; its firings
 * per schedule and agent at most once per min_interval_s. */
static void test_a_network_event_counts_once_and_fires_once_per_interval(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    gboolean is_new = FALSE;
    const char *ev = "{\"id\":\"ab.1\",\"kind\":\"vpn-up\",\"at\":1,\"changes\":[]}";
    assert_true(store_agent_network_event(s, "laptop1", "ab.1", ev, &is_new, NULL));
    assert_true(is_new);
    assert_true(store_agent_network_event(s, "laptop1", "ab.1", ev, &is_new, NULL));
    assert_false(is_new); /* a retried heartbeat, or another controller */
    assert_true(store_agent_network_event(s, "laptop1", "ab.2", ev, &is_new, NULL));
    assert_true(is_new);
    g_autoptr(StoreAgent) a = store_agent_by_name(s, "laptop1", NULL);
    assert_string_equal(a->net_event, ev);
    gboolean won = FALSE;
    assert_true(store_event_claim(s, "on-vpn", "laptop1", 1000, 600, &won, NULL));
    assert_true(won);
    assert_true(store_event_claim(s, "on-vpn", "laptop1", 1599, 600, &won, NULL));
    assert_false(won); /* within the interval */
    assert_true(store_event_claim(s, "on-vpn", "corp1", 1599, 600, &won, NULL));
    assert_true(won); /* another agent */
    assert_true(store_event_claim(s, "on-vpn", "laptop1", 1600, 600, &won, NULL));
    assert_true(won);
}

/* Ends a run (error, no report): it is no longer an agent's offered run. */
static StoreRun *report_and_finish(Store *s, const char *id)
{
    g_autoptr(RunResult) res = report(id, 0);
    assert_true(store_run_finish(s, id, RUN_ERROR, res, "ended", 1061, NULL));
    return store_run_get(s, id, NULL);
}

/* A run of catch_up_s: its trigger and how long it may wait are kept; held, it
 * is unoffered and remembers whom it waited for the first time. */
static void test_a_run_that_waits_keeps_its_trigger_and_whom_it_waited_for(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    StoreRun r = {.id = "w1",
                  .profile = "corp-vpn",
                  .agent = {"laptop1", "corp1"},
                  .schedule = "nightly",
                  .created_at = 1000,
                  .trigger = "cron",
                  .catch_up_until = 4600};
    assert_true(store_run_create(s, &r, NULL));
    assert_true(store_run_offer(s, "w1", 1001, NULL, NULL));
    assert_true(store_run_hold(s, "w1", "laptop1 (last seen 09:00)", NULL));
    assert_true(store_run_hold(s, "w1", "laptop1 (last seen 10:00)", NULL));
    g_autoptr(StoreRun) held = store_run_get(s, "w1", NULL);
    assert_string_equal(held->trigger, "cron");
    assert_int_equal(held->catch_up_until, 4600);
    assert_int_equal(held->offered_at, 0);
    assert_string_equal(held->waited_for, "laptop1 (last seen 09:00)");
    assert_true(store_run_set_note(s, "w1", "ran late", NULL));
    g_autoptr(GError) e = NULL;
    assert_null(store_run_take(s, "w1", 0, 1050, 1200, &e)); /* held: not its order now */
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE));
    /* One offered run per agent, whoever offers. */
    create_run(s, "other", 1000);
    gboolean offered = FALSE;
    assert_true(store_run_offer(s, "other", 1060, &offered, NULL));
    assert_true(offered);
    assert_true(store_run_offer(s, "w1", 1061, &offered, NULL));
    assert_false(offered); /* laptop1 has "other" */
    g_autoptr(StoreRun) ended = report_and_finish(s, "other");
    assert_int_equal(ended->state, RUN_ERROR);
    assert_true(store_run_offer(s, "w1", 1062, &offered, NULL));
    assert_true(offered);
    g_autoptr(StoreRun) taken = store_run_take(s, "w1", 0, 1100, 1200, NULL);
    assert_int_equal(taken->state, RUN_DISPATCHED);
    assert_true(store_run_hold(s, "w1", "x", NULL)); /* taken by a side: not held */
    g_autoptr(StoreRun) after = store_run_get(s, "w1", NULL);
    assert_string_equal(after->note, "ran late");
    create_run(s, "r2", 1000);
    g_autoptr(StoreRun) adhoc = store_run_get(s, "r2", NULL);
    assert_null(adhoc->trigger);
    assert_int_equal(adhoc->catch_up_until, 0);
}

static void test_errors_name_the_store_without_its_password(void **state)
{
    g_autoptr(GError) e = NULL;
    /* Nothing listens on port 1 of loopback: refused at once. */
    g_autoptr(Store) s = store_open("postgresql://iceprobe:s3cret@127.0.0.1:1/fleet", &e);
    assert_null(s);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "postgresql://iceprobe@127.0.0.1:1/fleet"));
    assert_null(strstr(e->message, "s3cret"));
    assert_true(store_is_url("postgres://x/y"));
    assert_false(store_is_url("/var/lib/iceprobe/controller.db"));
}

/* Two controllers on one store: what one posts, the other reads, in order; a
 * retried post is not posted twice; an inbox has a cap; the signals go with the
 * run's end, and an ended run takes none. */
static void test_signals_pass_between_controllers_and_end_with_the_run(void **state)
{
    g_autoptr(Store) one = store_with_agents(target(state));
    g_autoptr(Store) two = store_open(target(state), NULL);
    assert_non_null(two);
    create_run(one, "r1", 1000);
    guint seq = 0, n = 0;
    gboolean dup = TRUE;
    g_autoptr(GError) e = NULL;
    assert_true(store_signal_post(one, "r1", 1, "{\"ufrag\":\"a\"}", 3, &seq, &dup, &e));
    assert_int_equal(seq, 1);
    assert_false(dup);
    assert_true(store_signal_post(two, "r1", 1, "{\"candidate\":1}", 3, &seq, &dup, &e));
    assert_int_equal(seq, 2);
    /* the answer was lost and the agent posts again: the same message */
    assert_true(store_signal_post(one, "r1", 1, "{\"candidate\":1}", 3, &seq, &dup, &e));
    assert_int_equal(seq, 2);
    assert_true(dup);
    assert_true(store_signal_post(two, "r1", 0, "{\"ufrag\":\"b\"}", 3, &seq, &dup, &e));
    assert_int_equal(seq, 1); /* each side's inbox counts from 1 */
    g_autofree char *all = store_signal_fetch(two, "r1", 1, 0, &n, &e);
    assert_string_equal(all, "[{\"seq\":1,\"message\":{\"ufrag\":\"a\"}},"
                             "{\"seq\":2,\"message\":{\"candidate\":1}}]");
    assert_int_equal(n, 2);
    g_autofree char *after = store_signal_fetch(one, "r1", 1, 1, &n, &e);
    assert_int_equal(n, 1);
    assert_true(store_signal_post(one, "r1", 1, "{\"candidate\":2}", 3, &seq, &dup, &e));
    assert_false(store_signal_post(one, "r1", 1, "{\"candidate\":3}", 3, &seq, &dup, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_FULL));
    g_clear_error(&e);

    g_autoptr(RunResult) rep = report("r1", 0);
    assert_true(store_run_finish(two, "r1", RUN_ERROR, rep, "stopped", 1010, &e));
    g_autofree char *gone = store_signal_fetch(one, "r1", 1, 0, &n, &e);
    assert_string_equal(gone, "[]");
    assert_int_equal(n, 0);
    assert_false(store_signal_post(one, "r1", 0, "{\"late\":1}", 3, &seq, &dup, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE));
    g_clear_error(&e);
    assert_false(store_signal_post(one, "nope", 0, "{}", 3, &seq, &dup, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND));
}

/* The PID of the server process behind the controller's own connection. */
static pid_t controller_backend(const char *url)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, "SELECT pid FROM pg_stat_activity "
                            "WHERE application_name = 'iceprobe-controller'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    pid_t pid = (pid_t)atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return pid;
}

/* PostgreSQL only. A server process that stops answering (stopped, as a host or
 * a disk that hangs) costs one statement the store's 10 s wait for an answer,
 * not the minutes TCP would take: the connection is given up, the next
 * statement has a new one. A connection the server cut is made again by the
 * next statement too. */
static void test_a_database_that_stops_answering_costs_one_statement(void **state)
{
    g_autoptr(Store) s = store_with_agents(target(state));
    pid_t backend = controller_backend(target(state));
    assert_int_equal(kill(backend, SIGSTOP), 0);
    g_autoptr(GError) e = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GPtrArray) none = store_agent_list(s, &e);
    double waited = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    kill(backend, SIGCONT);
    assert_null(none);
    assert_non_null(strstr(e->message, "no answer from the database in 10 s"));
    assert_true(waited >= 9.5 && waited < 12);
    g_clear_error(&e);

    g_autoptr(GPtrArray) agents = store_agent_list(s, &e); /* a new connection */
    assert_non_null(agents);
    assert_int_equal(agents->len, 2);
    assert_int_not_equal(controller_backend(target(state)), backend);

    PGconn *c = PQconnectdb(target(state));
    PQclear(PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'iceprobe-controller'"));
    PQfinish(c);
    g_autoptr(GPtrArray) cut = store_agent_list(s, NULL); /* finds it cut */
    g_autoptr(GPtrArray) again = store_agent_list(s, &e);
    assert_non_null(again);
    assert_int_equal(again->len, 2);
}

/* The PIDs of the server processes behind every controller connection. */
static GArray *controller_backends(const char *url)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, "SELECT pid FROM pg_stat_activity "
                            "WHERE application_name = 'iceprobe-controller'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++) {
        pid_t pid = (pid_t)atoi(PQgetvalue(r, i, 0));
        g_array_append_val(pids, pid);
    }
    PQclear(r);
    PQfinish(c);
    return pids;
}

static void signal_all(GArray *pids, int sig)
{
    for (guint i = 0; i < pids->len; i++)
        kill(g_array_index(pids, pid_t, i), sig);
}

typedef struct {
    Store *store;
    GError *error;
    double waited;
} Asking;

static gpointer ask_later(gpointer data)
{
    Asking *a = data;
    g_usleep(2 * G_USEC_PER_SEC);
    gint64 t0 = g_get_monotonic_time();
    GPtrArray *got = store_agent_list(a->store, &a->error);
    a->waited = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (got)
        g_ptr_array_unref(got);
    return NULL;
}

/* PostgreSQL only. A controller's server threads, each with its own store,
 * share what they learn of the database: when one gives up waiting for it
 * (10 s), another thread's statement waiting at the time ends then (it is
 * answered 503, not held its own 10 s), and one that was idle gives up its
 * connection at its next statement, at once (a status page on that thread
 * was held up to 10 s). Once the database answers, each makes a new one. */
static void test_threads_that_share_a_database_give_up_on_it_together(void **state)
{
    StoreHealth *h = store_health_new();
    g_autoptr(Store) one = store_with_agents(target(state));
    g_autoptr(Store) two = store_open(target(state), NULL);
    g_autoptr(Store) idle = store_open(target(state), NULL);
    store_share_health(one, h);
    store_share_health(two, h);
    store_share_health(idle, h);
    store_health_unref(h);
    g_autoptr(GPtrArray) warm = store_agent_list(idle, NULL);
    assert_non_null(warm);
    g_autoptr(GArray) pids = controller_backends(target(state));
    assert_int_equal(pids->len, 3);
    signal_all(pids, SIGSTOP);
    Asking a = {two, NULL, 0};
    GThread *t = g_thread_new("ask-later", ask_later, &a);
    g_autoptr(GError) e = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GPtrArray) none = store_agent_list(one, &e);
    double waited = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    g_thread_join(t);
    g_autoptr(GError) e3 = NULL;
    gint64 t1 = g_get_monotonic_time();
    g_autoptr(GPtrArray) none3 = store_agent_list(idle, &e3); /* named as it was feared */
    double waited3 = (double)(g_get_monotonic_time() - t1) / G_USEC_PER_SEC;
    signal_all(pids, SIGCONT);
    assert_null(none);
    assert_non_null(strstr(e->message, "no answer from the database in 10 s"));
    assert_true(waited >= 9.5 && waited < 12);
    /* The second asked 2 s later, and was let go with the first. */
    assert_non_null(a.error);
    assert_non_null(strstr(a.error->message, "another thread gave up waiting for it"));
    assert_true(a.waited >= 7 && a.waited < 9);
    g_clear_error(&a.error);
    /* The idle one, at once: its connection was given up, and a new one
     * (the server's stopped processes were the old connections' only; its
     * postmaster makes a new one) answers. Before, it waited its own 10 s. */
    assert_true(waited3 < 1);
    if (!none3)
        fail_msg("the idle store: %s", e3->message);
    assert_int_equal(none3->len, 2);
    g_autoptr(GPtrArray) again = NULL;
    for (int i = 0; i < 30 && !again; i++) { /* the others' redial, at most once a second */
        again = store_agent_list(two, NULL);
        if (!again)
            g_usleep(200000);
    }
    assert_non_null(again);
    assert_int_equal(again->len, 2);
}

typedef struct {
    GPtrArray *got; /* payloads; "" for a reconnect */
} Heard;

static void on_heard(const char *payload, gpointer data)
{
    g_ptr_array_add(((Heard *)data)->got, g_strdup(payload ? payload : ""));
}

/* Runs the thread-default context until n notifications were heard (at most 10 s). */
static void hear(Heard *h, guint n)
{
    gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (h->got->len < n && g_get_monotonic_time() < until) {
        if (!g_main_context_iteration(g_main_context_get_thread_default(), FALSE))
            g_usleep(2000);
    }
    assert_int_equal(h->got->len, n);
}

/* PostgreSQL only: what one controller notifies, every listener hears, in order
 * and once committed; a listener whose connection was cut reconnects by itself
 * and says it may have missed some. */
static void test_a_notify_reaches_every_listening_controller(void **state)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    g_autoptr(Store) one = store_open(target(state), NULL);
    g_autoptr(Store) two = store_open(target(state), NULL);
    assert_true(store_is_shared(one));
    Heard h = {g_ptr_array_new_with_free_func(g_free)};
    g_autoptr(GError) e = NULL;
    StoreListener *l = store_listen(two, on_heard, &h, &e);
    assert_non_null(l);
    assert_true(store_notify(one, "orders\nlaptop1", &e));
    assert_true(store_notify(one, "signal\nr1\n1", &e));
    hear(&h, 2);
    assert_string_equal(h.got->pdata[0], "orders\nlaptop1");
    assert_string_equal(h.got->pdata[1], "signal\nr1\n1");
    assert_int_equal(store_listener_received(l), 2);

    /* PostgreSQL's own admin ends the listener's session */
    PGconn *c = PQconnectdb(target(state));
    PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'iceprobe-controller-listen'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    PQfinish(c);
    hear(&h, 4);
    assert_string_equal(h.got->pdata[2], ""); /* cut off, and it says so */
    assert_string_equal(h.got->pdata[3], ""); /* back */
    assert_true(store_notify(one, "orders\ncorp1", &e));
    hear(&h, 5);
    assert_string_equal(h.got->pdata[4], "orders\ncorp1");

    store_listener_free(l);
    g_ptr_array_unref(h.got);
    g_main_context_pop_thread_default(ctx);
}

#define BOTH(t)                                                                                    \
    cmocka_unit_test_setup_teardown(t, setup_sqlite, teardown),                                    \
        cmocka_unit_test_setup_teardown(t, setup_postgres, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_a_new_store_is_at_the_newest_schema),
        BOTH(test_agents_are_added_found_by_token_hash_and_removed),
        BOTH(test_a_run_goes_from_pending_to_done),
        BOTH(test_pages_go_newest_first_and_filter),
        BOTH(test_latest_per_pair_history_counts_and_prune),
        BOTH(test_pruning_goes_in_batches_and_keeps_the_totals),
        BOTH(test_a_killed_writer_loses_nothing_acknowledged),
        BOTH(test_writers_at_once_take_numbers_of_their_own),
        BOTH(test_racing_controllers_take_an_order_once_and_end_a_run_once),
        BOTH(test_a_schedule_firing_is_claimed_once),
        BOTH(test_a_network_event_counts_once_and_fires_once_per_interval),
        BOTH(test_a_run_that_waits_keeps_its_trigger_and_whom_it_waited_for),
        BOTH(test_signals_pass_between_controllers_and_end_with_the_run),
        cmocka_unit_test_setup_teardown(test_a_notify_reaches_every_listening_controller,
                                        setup_postgres, teardown),
        cmocka_unit_test_setup_teardown(test_a_database_that_stops_answering_costs_one_statement,
                                        setup_postgres, teardown),
        cmocka_unit_test_setup_teardown(test_threads_that_share_a_database_give_up_on_it_together,
                                        setup_postgres, teardown),
        cmocka_unit_test(test_errors_name_the_store_without_its_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
