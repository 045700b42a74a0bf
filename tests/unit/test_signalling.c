/* The paired run's mailbox (controller/signalling.c) on the fixture's SQLite
 * file: what one side posts the other reads, in order, from a sequence number
 * on; and, through a real controller on loopback, what the agents' endpoint
 * (/runs/{id}/signal) makes of it: caps, long-polls, the run's end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "api-server.h"
#include "iceprobe/jsonin.h"
#include "signalling.h"

/* ---- the board, on a store of its own ---- */

typedef struct {
    Fixture *fixture;
    Store *store;
    SignalBoard *board;
    GString *wakes; /* "run_id/side " for each wake, in order */
} Board;

static void on_wake(const char *run_id, int side, gpointer data)
{
    g_string_append_printf(((Board *)data)->wakes, "%s/%c ", run_id, side ? 'b' : 'a');
}

static void create_run(Store *store, const char *id)
{
    StoreRun r = {
        .id = (char *)id, .profile = "corp-vpn", .agent = {"laptop1", "corp1"}, .created_at = 1000};
    g_autoptr(GError) e = NULL;
    if (!store_run_create(store, &r, &e))
        fail_msg("run %s: %s", id, e->message);
}

static int board_setup(void **state)
{
    Board *b = g_new0(Board, 1);
    b->fixture = fixture_new(NULL);
    g_autoptr(GError) e = NULL;
    b->store = store_open(b->fixture->config->store_path, &e);
    assert_non_null(b->store);
    b->wakes = g_string_new(NULL);
    b->board = signal_board_new(b->store, on_wake, b);
    create_run(b->store, "r1");
    create_run(b->store, "r2");
    *state = b;
    return 0;
}

static int board_teardown(void **state)
{
    Board *b = *state;
    signal_board_free(b->board);
    store_close(b->store);
    fixture_free(b->fixture);
    g_string_free(b->wakes, TRUE);
    g_free(b);
    return 0;
}

static guint post(Board *b, const char *run_id, int from, const char *json)
{
    guint seq = 0;
    g_autoptr(GError) e = NULL;
    if (!signal_post(b->board, run_id, from, json, &seq, &e))
        fail_msg("post to %s from side %d: %s", run_id, from, e->message);
    return seq;
}

static char *fetch(Board *b, const char *run_id, int to, guint after, guint *n)
{
    g_autoptr(GError) e = NULL;
    char *text = signal_fetch(b->board, run_id, to, after, n, &e);
    if (!text)
        fail_msg("fetch for %s side %d: %s", run_id, to, e->message);
    return text;
}

static void test_messages_reach_the_other_side_in_order_numbered_from_one(void **state)
{
    Board *b = *state;
    assert_int_equal(post(b, "r1", 0, "{\"ufrag\":\"a1\"}"), 1);
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c1\"}"), 2);
    assert_int_equal(post(b, "r1", 1, "{\"ufrag\":\"b1\"}"), 1); /* b's own numbering, to a */
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c2\"}"), 3);
    guint n = 0;
    g_autofree char *to_b = fetch(b, "r1", 1, 0, &n);
    assert_int_equal(n, 3);
    assert_string_equal(to_b, "[{\"seq\":1,\"message\":{\"ufrag\":\"a1\"}},"
                              "{\"seq\":2,\"message\":{\"candidate\":\"c1\"}},"
                              "{\"seq\":3,\"message\":{\"candidate\":\"c2\"}}]");
    g_autofree char *to_a = fetch(b, "r1", 0, 0, &n);
    assert_int_equal(n, 1);
    assert_string_equal(to_a, "[{\"seq\":1,\"message\":{\"ufrag\":\"b1\"}}]");
    /* Another run's inboxes are its own. */
    g_autofree char *other = fetch(b, "r2", 1, 0, &n);
    assert_int_equal(n, 0);
    assert_string_equal(other, "[]");
}

static void test_fetching_after_n_gives_only_the_messages_numbered_above_it(void **state)
{
    Board *b = *state;
    for (int i = 1; i <= 5; i++) {
        g_autofree char *m = g_strdup_printf("{\"i\":%d}", i);
        post(b, "r1", 1, m);
    }
    guint n = 99;
    g_autofree char *after3 = fetch(b, "r1", 0, 3, &n);
    assert_int_equal(n, 2);
    assert_string_equal(after3,
                        "[{\"seq\":4,\"message\":{\"i\":4}},{\"seq\":5,\"message\":{\"i\":5}}]");
    g_autofree char *after5 = fetch(b, "r1", 0, 5, &n);
    assert_int_equal(n, 0);
    assert_string_equal(after5, "[]");
    g_autofree char *after_all = fetch(b, "r1", 0, 512, &n);
    assert_int_equal(n, 0);
}

static void test_a_retried_post_of_the_last_message_is_not_posted_twice(void **state)
{
    Board *b = *state;
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c1\"}"), 1);
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c2\"}"), 2);
    assert_string_equal(b->wakes->str, "r1/b r1/b ");
    /* The answer was lost and the agent posts again: the same number, and the
     * peer is not woken for nothing. */
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c2\"}"), 2);
    assert_string_equal(b->wakes->str, "r1/b r1/b ");
    guint n = 0;
    g_autofree char *to_b = fetch(b, "r1", 1, 0, &n);
    assert_int_equal(n, 2);
    /* Not the last one: a message of its own. */
    assert_int_equal(post(b, "r1", 0, "{\"candidate\":\"c1\"}"), 3);
    assert_string_equal(b->wakes->str, "r1/b r1/b r1/b ");
}

static void test_each_post_wakes_the_receiving_side_only(void **state)
{
    Board *b = *state;
    post(b, "r1", 0, "{}");
    post(b, "r2", 1, "{}");
    post(b, "r1", 1, "{}");
    assert_string_equal(b->wakes->str, "r1/b r2/a r1/a ");
}

static void test_an_inbox_holds_at_most_512_messages_and_says_so(void **state)
{
    Board *b = *state;
    for (guint i = 1; i <= SIGNAL_MAX_MESSAGES; i++) {
        g_autofree char *m = g_strdup_printf("{\"i\":%u}", i);
        assert_int_equal(post(b, "r1", 0, m), i);
    }
    g_string_truncate(b->wakes, 0);
    guint seq = 7;
    g_autoptr(GError) e = NULL;
    assert_false(signal_post(b->board, "r1", 0, "{\"i\":513}", &seq, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_FULL));
    assert_string_equal(e->message, "the peer's inbox of run r1 holds 512 messages already");
    assert_int_equal(seq, 7);
    assert_string_equal(b->wakes->str, "");
    /* The last one, retried, is still answered; the other direction still has room. */
    assert_int_equal(post(b, "r1", 0, "{\"i\":512}"), 512);
    assert_int_equal(post(b, "r1", 1, "{\"i\":1}"), 1);
    guint n = 0;
    g_autofree char *to_b = fetch(b, "r1", 1, 510, &n);
    assert_int_equal(n, 2);
    assert_null(strstr(to_b, "513"));
}

static void test_a_message_over_its_cap_is_refused_by_the_board_itself(void **state)
{
    Board *b = *state;
    /* Not only the HTTP body's cap: a caller that skipped it is refused too. */
    GString *big = g_string_new("{\"pad\":\"");
    while (big->len <= SIGNAL_MAX_MESSAGE_BYTES)
        g_string_append_c(big, 'x');
    g_string_append(big, "\"}");
    g_autofree char *text = g_string_free(big, FALSE);
    g_autoptr(GError) e = NULL;
    assert_false(signal_post(b->board, "r1", 0, text, NULL, &e));
    assert_true(g_error_matches(e, JSONIN_ERROR, JSONIN_ERROR_SIZE));
    assert_non_null(strstr(e->message, "message: over"));
    guint n = 9;
    g_autofree char *none = fetch(b, "r1", 1, 0, &n);
    assert_int_equal(n, 0);
}

static int signals_in_file(Board *b, const char *run_id)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(b->fixture->config->store_path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM signals WHERE run_id = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static StoreRun *finish(Board *b, const char *id)
{
    g_autoptr(RunResult) res = run_result_new("corp-vpn");
    g_free(res->run_id);
    res->run_id = g_strdup(id);
    run_result_conclude(res);
    g_autoptr(GError) e = NULL;
    if (!store_run_finish(b->store, id, RUN_DONE, res, NULL, 2000, &e))
        fail_msg("finish %s: %s", id, e->message);
    signal_close(b->board, id);
    return store_run_get(b->store, id, NULL);
}

static void test_a_run_that_ended_takes_its_messages_with_it_and_refuses_more(void **state)
{
    Board *b = *state;
    post(b, "r1", 0, "{\"srtp_key\":\"secret-a\"}");
    post(b, "r1", 1, "{\"srtp_key\":\"secret-b\"}");
    post(b, "r2", 0, "{\"srtp_key\":\"other-run\"}");
    g_autoptr(StoreRun) done = finish(b, "r1");
    assert_int_equal(done->state, RUN_DONE);
    guint n = 9;
    g_autofree char *to_a = fetch(b, "r1", 0, 0, &n);
    assert_int_equal(n, 0);
    assert_string_equal(to_a, "[]");
    g_autofree char *to_b = fetch(b, "r1", 1, 0, &n);
    assert_string_equal(to_b, "[]");
    /* Gone from the file, not only from the answers. */
    assert_int_equal(signals_in_file(b, "r1"), 0);
    assert_int_equal(signals_in_file(b, "r2"), 1);
    g_autoptr(GError) e = NULL;
    assert_false(signal_post(b->board, "r1", 0, "{\"late\":1}", NULL, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE));
    assert_string_equal(e->message, "run r1 has ended (done)");
    /* The other run keeps its own. */
    g_autofree char *r2 = fetch(b, "r2", 1, 0, &n);
    assert_int_equal(n, 1);
}

static void test_closing_a_run_wakes_both_of_its_sides(void **state)
{
    Board *b = *state;
    g_autoptr(StoreRun) done = finish(b, "r2");
    assert_string_equal(b->wakes->str, "r2/a r2/b ");
}

static void test_an_unknown_run_has_no_inbox(void **state)
{
    Board *b = *state;
    g_autoptr(GError) e = NULL;
    assert_false(signal_post(b->board, "no-such-run", 0, "{}", NULL, &e));
    assert_true(g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND));
    assert_non_null(strstr(e->message, "no-such-run"));
    assert_string_equal(b->wakes->str, "");
    guint n = 9;
    g_autofree char *none = fetch(b, "no-such-run", 1, 0, &n);
    assert_int_equal(n, 0);
    assert_string_equal(none, "[]");
}

/* The two agents of a run may call two controllers sharing the store. */
static void test_what_one_controller_takes_in_another_hands_out(void **state)
{
    Board *b = *state;
    g_autoptr(Store) other_store = store_open(b->fixture->config->store_path, NULL);
    assert_non_null(other_store);
    g_autoptr(SignalBoard) other = signal_board_new(other_store, NULL, NULL);
    guint seq = 0;
    assert_true(signal_post(other, "r1", 1, "{\"ufrag\":\"b1\"}", &seq, NULL));
    assert_int_equal(seq, 1);
    assert_int_equal(post(b, "r1", 1, "{\"ufrag\":\"b2\"}"), 2); /* numbering carries on */
    guint n = 0;
    g_autofree char *to_a = fetch(b, "r1", 0, 0, &n);
    assert_int_equal(n, 2);
    g_autofree char *to_a_there = signal_fetch(other, "r1", 0, 1, &n, NULL);
    assert_string_equal(to_a_there, "[{\"seq\":2,\"message\":{\"ufrag\":\"b2\"}}]");
}

/* ---- the agents' endpoint ---- */

static int server_setup(void **state)
{
    *state =
        server_new("[scheduler]\norder_timeout_s = 60\nsetup_s = 60\nlongpoll_s = 2\n", TRUE, 0);
    return 0;
}

/* A run of laptop1 (a) and corp1 (b), both sides' orders taken; its id. */
static char *running_run(Server *s)
{
    g_auto(Reply) created =
        http(s, "POST", "/api/v1/runs", ADMIN,
             "{\"profile\":\"corp-vpn\",\"a\":\"laptop1\",\"b\":\"corp1\"}", NULL);
    expect(&created, 201, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        g_auto(Reply) o = http(s, "GET", "/api/v1/agent/orders?wait=2", s->token[i], NULL, NULL);
        expect(&o, 200, NULL, NULL);
    }
    return member(created.body, "run_id");
}

static void test_bad_signals_are_refused_naming_what_was_wrong(void **state)
{
    Server *s = *state;
    g_autofree char *id = running_run(s);
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_auto(Reply) r1 = http(s, "POST", path, s->token[0], "{}", NULL);
    expect(&r1, 400, "error.message", "message: missing");
    g_auto(Reply) r2 = http(s, "POST", path, s->token[0], "{\"message\":\"ufrag\"}", NULL);
    expect(&r2, 400, "error.message", "message: not an object");
    g_auto(Reply) r3 = http(s, "POST", path, s->token[0], "{\"message\":{},\"to\":\"b\"}", NULL);
    expect(&r3, 400, "error.message", "to: unknown member");
    GString *big = g_string_new("{\"message\":{\"candidate\":\"");
    while (big->len < SIGNAL_MAX_MESSAGE_BYTES)
        g_string_append(big, "candidate:1 1 udp 2130706431 10.0.0.1 49200 typ host ");
    g_string_append(big, "\"}}");
    g_auto(Reply) r4 = http(s, "POST", path, s->token[0], big->str, NULL);
    g_string_free(big, TRUE);
    expect(&r4, 413, "error.code", "too_large");
    g_autofree char *far = g_strdup_printf("%s?after=513", path);
    g_auto(Reply) r5 = http(s, "GET", far, s->token[1], NULL, NULL);
    expect(&r5, 400, "error.message", "after: '513' is not a whole number from 0 to 512");
    g_autofree char *neg = g_strdup_printf("%s?wait=-1", path);
    g_auto(Reply) r6 = http(s, "GET", neg, s->token[1], NULL, NULL);
    expect(&r6, 400, "error.message", "wait: '-1'");
    /* None of it reached the peer. */
    g_auto(Reply) peer = http(s, "GET", path, s->token[1], NULL, NULL);
    expect(&peer, 200, "messages", "[]");
}

static void test_an_unknown_run_or_an_outsider_gets_no_mailbox(void **state)
{
    Server *s = *state;
    g_auto(Reply) r1 =
        http(s, "POST", "/api/v1/runs/no-such-run/signal", s->token[0], "{\"message\":{}}", NULL);
    expect(&r1, 404, "error.code", "not_found");
    g_auto(Reply) r2 = http(s, "GET", "/api/v1/runs/no-such-run/signal", s->token[0], NULL, NULL);
    expect(&r2, 404, "error.code", "not_found");
    g_autofree char *id = running_run(s);
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_auto(Reply) r3 = http(s, "POST", path, s->token[2], "{\"message\":{}}", NULL);
    expect(&r3, 403, "error.message", "agent 'laptop2' is not part of run");
    g_auto(Reply) r4 = http(s, "POST", path, ADMIN, "{\"message\":{}}", NULL);
    expect(&r4, 403, "error.code", "forbidden");
}

static void test_a_full_inbox_is_409_inbox_full(void **state)
{
    Server *s = *state;
    g_autofree char *id = running_run(s);
    g_autoptr(Store) store = store_open(s->fixture->config->store_path, NULL);
    g_autoptr(SignalBoard) board = signal_board_new(store, NULL, NULL);
    for (guint i = 1; i <= SIGNAL_MAX_MESSAGES; i++) {
        g_autofree char *m = g_strdup_printf("{\"i\":%u}", i);
        assert_true(signal_post(board, id, 0, m, NULL, NULL));
    }
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_auto(Reply) r = http(s, "POST", path, s->token[0], "{\"message\":{\"i\":513}}", NULL);
    expect(&r, 409, "error.code", "inbox_full");
    expect(&r, 409, "error.message", "holds 512 messages already");
    g_autofree char *tail = g_strdup_printf("%s?after=511", path);
    g_auto(Reply) last = http(s, "GET", tail, s->token[1], NULL, NULL);
    expect(&last, 200, "messages", "[{\"seq\":512,\"message\":{\"i\":512}}]");
}

static Poll *poll_start(Server *s, const char *path, const char *token, GThread **t)
{
    Poll *p = g_new0(Poll, 1);
    p->s = s;
    p->path = g_strdup(path); /* owned: poll_free */
    p->token = token;
    *t = g_thread_new("poll", poll_thread, p);
    return p;
}

static void poll_free(Poll *p)
{
    reply_clear(&p->reply);
    g_free((char *)p->path);
    g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Poll, poll_free)

static void test_a_long_poll_answers_at_once_when_there_is_something_to_say(void **state)
{
    Server *s = *state;
    g_autofree char *id = running_run(s);
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_auto(Reply) p1 = http(s, "POST", path, s->token[0], "{\"message\":{\"n\":1}}", NULL);
    expect(&p1, 200, "seq", "1");
    /* Messages already above `after`: at once. */
    g_autofree char *w0 = g_strdup_printf("%s?after=0&wait=30", path);
    gint64 t0 = g_get_monotonic_time();
    g_auto(Reply) now = http(s, "GET", w0, s->token[1], NULL, NULL);
    expect(&now, 200, "messages", "{\"seq\":1,\"message\":{\"n\":1}}");
    assert_true(g_get_monotonic_time() - t0 < G_USEC_PER_SEC);
    /* Nothing above `after`: held for min(wait, longpoll_s = 2), then empty. */
    g_autofree char *w1 = g_strdup_printf("%s?after=1&wait=30", path);
    t0 = g_get_monotonic_time();
    g_auto(Reply) empty = http(s, "GET", w1, s->token[1], NULL, NULL);
    gint64 took = g_get_monotonic_time() - t0;
    expect(&empty, 200, "messages", "[]");
    expect(&empty, 200, "state", "running");
    assert_true(took >= G_USEC_PER_SEC && took < 4 * G_USEC_PER_SEC);
    /* Held, and woken by the peer's next post. */
    GThread *t = NULL;
    double polls = server_long_polls(s);
    g_autoptr(Poll) held = poll_start(s, w1, s->token[1], &t);
    assert_true(server_await_long_polls(s, polls + 1, 2000));
    g_auto(Reply) p2 = http(s, "POST", path, s->token[0], "{\"message\":{\"n\":2}}", NULL);
    expect(&p2, 200, "seq", "2");
    g_thread_join(t);
    expect(&held->reply, 200, "messages", "[{\"seq\":2,\"message\":{\"n\":2}}]");
    assert_true(held->took_us < 1500000);
}

static void test_a_long_poll_returns_at_once_when_the_run_has_ended(void **state)
{
    Server *s = *state;
    g_autofree char *id = running_run(s);
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/signal", id);
    g_auto(Reply) p1 =
        http(s, "POST", path, s->token[0], "{\"message\":{\"srtp_key\":\"k\"}}", NULL);
    expect(&p1, 200, "seq", "1");
    g_autofree char *w = g_strdup_printf("%s?after=1&wait=30", path);
    /* Side a waits for side b; the run ends under it (both report). */
    GThread *t = NULL;
    double polls = server_long_polls(s);
    g_autoptr(Poll) held = poll_start(s, w, s->token[0], &t);
    assert_true(server_await_long_polls(s, polls + 1, 2000));
    g_autofree char *rep_path = g_strdup_printf("/api/v1/runs/%s/report", id);
    for (int i = 0; i < 2; i++) {
        g_autoptr(RunResult) r = run_result_new("corp-vpn");
        g_free(r->run_id);
        r->run_id = g_strdup(id);
        run_result_conclude(r);
        g_autofree char *doc = run_result_to_string(r, FALSE);
        g_auto(Reply) rep = http(s, "POST", rep_path, s->token[i], doc, NULL);
        expect(&rep, 200, "stored", "true");
    }
    g_thread_join(t);
    expect(&held->reply, 200, "messages", "[]");
    g_autofree char *state_now = member(held->reply.body, "state");
    assert_true(strcmp(state_now, "done") == 0 || strcmp(state_now, "error") == 0);
    assert_true(held->took_us < 1500000);
    /* Afterwards: at once, the run's end, and the key is gone. */
    g_autofree char *w0 = g_strdup_printf("%s?after=0&wait=30", path);
    gint64 t0 = g_get_monotonic_time();
    g_auto(Reply) after = http(s, "GET", w0, s->token[1], NULL, NULL);
    assert_true(g_get_monotonic_time() - t0 < G_USEC_PER_SEC);
    expect(&after, 200, "messages", "[]");
    assert_null(strstr(after.body, "srtp_key"));
    g_auto(Reply) late = http(s, "POST", path, s->token[0], "{\"message\":{}}", NULL);
    expect(&late, 409, "error.code", "run_ended");
}

int main(void)
{
#define BOARD(f)  cmocka_unit_test_setup_teardown(f, board_setup, board_teardown)
#define SERVER(f) cmocka_unit_test_setup_teardown(f, server_setup, server_teardown)
    const struct CMUnitTest tests[] = {
        BOARD(test_messages_reach_the_other_side_in_order_numbered_from_one),
        BOARD(test_fetching_after_n_gives_only_the_messages_numbered_above_it),
        BOARD(test_a_retried_post_of_the_last_message_is_not_posted_twice),
        BOARD(test_each_post_wakes_the_receiving_side_only),
        BOARD(test_an_inbox_holds_at_most_512_messages_and_says_so),
        BOARD(test_a_message_over_its_cap_is_refused_by_the_board_itself),
        BOARD(test_a_run_that_ended_takes_its_messages_with_it_and_refuses_more),
        BOARD(test_closing_a_run_wakes_both_of_its_sides),
        BOARD(test_an_unknown_run_has_no_inbox),
        BOARD(test_what_one_controller_takes_in_another_hands_out),
        SERVER(test_bad_signals_are_refused_naming_what_was_wrong),
        SERVER(test_an_unknown_run_or_an_outsider_gets_no_mailbox),
        SERVER(test_a_full_inbox_is_409_inbox_full),
        SERVER(test_a_long_poll_answers_at_once_when_there_is_something_to_say),
        SERVER(test_a_long_poll_returns_at_once_when_the_run_has_ended),
    };
#undef BOARD
#undef SERVER
    return cmocka_run_group_tests(tests, NULL, NULL);
}
