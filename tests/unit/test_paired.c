/* The paired run, two real sides in one process: each paired_execute() on a
 * thread of its own, with its own libnice agent and SRTP stream, talking over
 * loopback only (PairedEnv.local_address; the edge is 127.0.0.1 on a port
 * nothing listens on, so no TURN server answers and nothing leaves the host),
 * and signalling through a mailbox pair in memory instead of the controller
 * (mailbox_open_pair). The pair's tap records every message delivered, and
 * can hold back or drop what one side posts: a slow controller, a peer gone.
 * No root: everything here is what an ordinary user may do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "mailbox.h"
#include "paired-private.h"
#include "paired.h"

#define EDGE_PORT     9    /* discard: nothing listens on loopback (checked) */
#define CLOSE_HOLD_MS 2000 /* a slow `closing`, in the first run */

static const char profile_text[] = "[profile]\n"
                                   "name = loopback\n"
                                   "[edge]\n"
                                   "host = 127.0.0.1\n"
                                   "udp_port = 9\n"
                                   "tcp_port = 9\n"
                                   "tls_port = 9\n"
                                   "[network]\n"
                                   "tunnel_names = iceprobe-test-none*\n"
                                   "[stream]\n"
                                   "duration_s = 1\n";

/* A message delivered from one side to the other. */
typedef struct {
    guint from; /* 0: side a, 1: side b */
    char *type, *path;
    JsonObject *msg;
    gint64 posted, at; /* monotonic µs: posted by its side, delivered to the other */
} Sent;

static void sent_free(Sent *s)
{
    g_free(s->type);
    g_free(s->path);
    json_object_unref(s->msg);
    g_free(s);
}

typedef enum {
    TAP_PASS,       /* every message goes through */
    TAP_HOLD_CLOSE, /* each side's `closing`, and what follows it, waits CLOSE_HOLD_MS */
    TAP_B_VANISHES, /* from b's `connected` on, b is stopped and its messages lost */
} TapMode;

typedef struct {
    Order order;
    PairedEnv env;
    GCancellable *stop; /* the agent's SIGTERM (stop.h) */
    RunResult *result;   /* as the iceprobe.run/1 document says it */
    gint64 start, ended; /* monotonic µs */
} Side;

typedef struct {
    Side side[2];
    Mailbox *mb[2];
    GMutex lock;
    TapMode mode;
    GPtrArray *log; /* Sent, in the order delivered */
    /* TAP_HOLD_CLOSE, by side: what it posted while held back (Sent), in
     * order, and the one its releaser delivers now. */
    GQueue held[2];
    gboolean holding[2];
    GThread *releaser[2];
    Sent *releasing[2];
    gint64 b_stopped; /* TAP_B_VANISHES: when b was cut off */
    GInetAddress *loopback;
} Pair;

static Sent *sent_new(guint from, JsonObject *msg)
{
    Sent *s = g_new0(Sent, 1);
    s->from = from;
    s->type = g_strdup(json_object_get_string_member_with_default(msg, "type", ""));
    s->path = g_strdup(json_object_get_string_member_with_default(msg, "path", ""));
    s->msg = json_object_ref(msg);
    s->posted = g_get_monotonic_time();
    return s;
}

typedef struct {
    Pair *p;
    guint side;
} Release;

/* Delivers what a side posted from its `closing` on, CLOSE_HOLD_MS late and in order. */
static gpointer release_main(gpointer data)
{
    g_autofree Release *r = data;
    Pair *p = r->p;
    g_usleep(CLOSE_HOLD_MS * 1000);
    for (;;) {
        g_mutex_lock(&p->lock);
        Sent *s = p->releasing[r->side] = g_queue_pop_head(&p->held[r->side]);
        if (!s)
            p->holding[r->side] = FALSE;
        g_mutex_unlock(&p->lock);
        if (!s)
            return NULL;
        mailbox_post(p->mb[r->side], s->msg); /* the tap delivers it, into the log */
    }
}

/* Under the pair's lock (mailbox.h): it takes only its own. */
static gboolean tap(Mailbox *from, JsonObject *msg, gpointer data)
{
    Pair *p = data;
    guint side = from == p->mb[0] ? 0 : 1;
    const char *type = json_object_get_string_member_with_default(msg, "type", "");
    gboolean deliver = TRUE;
    g_mutex_lock(&p->lock);
    Sent *s = NULL;
    if (p->mode == TAP_HOLD_CLOSE && g_thread_self() == p->releaser[side]) {
        s = g_steal_pointer(&p->releasing[side]);
    } else if (p->mode == TAP_HOLD_CLOSE) {
        if (!p->releaser[side] && strcmp(type, "closing") == 0) {
            p->holding[side] = TRUE;
            Release *r = g_new(Release, 1);
            *r = (Release){p, side};
            p->releaser[side] = g_thread_new("release", release_main, r);
        }
        if (p->holding[side]) {
            g_queue_push_tail(&p->held[side], sent_new(side, msg));
            deliver = FALSE;
        }
    } else if (side == 1 && p->mode == TAP_B_VANISHES) {
        if (!p->b_stopped && strcmp(type, "connected") == 0) {
            p->b_stopped = g_get_monotonic_time();
            g_cancellable_cancel(p->side[1].stop);
        }
        deliver = !p->b_stopped;
    }
    if (deliver) {
        if (!s)
            s = sent_new(side, msg);
        s->at = g_get_monotonic_time();
        g_ptr_array_add(p->log, s);
    }
    g_mutex_unlock(&p->lock);
    return deliver;
}

/* The report as the document says it: written and read back. */
static RunResult *as_document(const RunResult *r)
{
    g_autofree char *doc = run_result_to_string(r, FALSE);
    g_autoptr(GError) e = NULL;
    RunResult *back = run_result_from_json(doc, strlen(doc), &e);
    assert_non_null(back);
    return back;
}

static gpointer side_main(gpointer data)
{
    Side *s = data;
    s->start = g_get_monotonic_time();
    g_autoptr(RunResult) r = paired_execute(&s->order, &s->env);
    s->ended = g_get_monotonic_time();
    s->result = as_document(r);
    return NULL;
}

static Pair *pair_new(TapMode mode)
{
    Pair *p = g_new0(Pair, 1);
    g_mutex_init(&p->lock);
    g_queue_init(&p->held[0]);
    g_queue_init(&p->held[1]);
    p->mode = mode;
    p->log = g_ptr_array_new_with_free_func((GDestroyNotify)sent_free);
    p->loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    mailbox_open_pair(&p->mb[0], &p->mb[1], tap, p);
    g_autofree char *run_id =
        g_strdup_printf("test-%d-%" G_GINT64_FORMAT, getpid(), g_get_monotonic_time());
    for (guint i = 0; i < 2; i++) {
        Side *s = &p->side[i];
        s->order = (Order){.run_id = g_strdup(run_id),
                           .side_b = i == 1,
                           .peer = g_strdup(i ? "side-a" : "side-b"),
                           .controlling = i == 0,
                           .profile_name = g_strdup("loopback"),
                           .profile_text = g_strdup(profile_text),
                           .paths = g_strsplit("natural", ",", -1),
                           .duration_s = 1,
                           .deadline = g_get_real_time() / G_USEC_PER_SEC + 120,
                           .turn_username = g_strdup("1:test"),
                           .turn_password = g_strdup("test")};
        s->stop = g_cancellable_new();
        s->env = (PairedEnv){.stop = s->stop, .mailbox = p->mb[i], .local_address = p->loopback};
    }
    return p;
}

/* Both sides to the end of their runs; the mailboxes are the caller's. */
static void pair_run(Pair *p)
{
    GThread *t[2];
    for (guint i = 0; i < 2; i++)
        t[i] = g_thread_new(i ? "side-b" : "side-a", side_main, &p->side[i]);
    for (guint i = 0; i < 2; i++)
        g_thread_join(t[i]);
    for (guint i = 0; i < 2; i++)
        if (p->releaser[i])
            g_thread_join(p->releaser[i]);
}

static void pair_free(Pair *p)
{
    for (guint i = 0; i < 2; i++) {
        mailbox_close(p->mb[i], 0);
        order_clear(&p->side[i].order);
        run_result_free(p->side[i].result);
        g_clear_object(&p->side[i].stop);
        g_queue_clear_full(&p->held[i], (GDestroyNotify)sent_free);
    }
    g_ptr_array_unref(p->log);
    g_object_unref(p->loopback);
    g_mutex_clear(&p->lock);
    g_free(p);
}

/* The index of the first message of type from side in the log (after index
 * after), or -1. */
static gint find_sent(const Pair *p, guint from, const char *type, gint after)
{
    for (guint i = after + 1; i < p->log->len; i++) {
        const Sent *s = p->log->pdata[i];
        if (s->from == from && strcmp(s->type, type) == 0)
            return (gint)i;
    }
    return -1;
}

static const Sent *sent_at(const Pair *p, gint i)
{
    assert_true(i >= 0 && (guint)i < p->log->len);
    return p->log->pdata[i];
}

/* The address:port of an a=candidate line ("... 1 UDP 2015363327 127.0.0.1 40231 typ host"). */
static char *line_address(const char *line)
{
    g_auto(GStrv) f = g_strsplit(line, " ", -1);
    assert_true(g_strv_length(f) >= 8);
    return g_strdup_printf("%s:%s", f[4], f[5]);
}

/* A side that ended in an error says why on stderr, with its checks, its
 * times and every message delivered: the cases after it only see the error. */
static void pair_explain(const Pair *p)
{
    for (guint i = 0; i < 2; i++) {
        const Side *s = &p->side[i];
        if (!s->result->error)
            continue;
        fprintf(stderr, "side %c: error: %s (ran %.1f s)\n", i ? 'b' : 'a', s->result->error,
                (double)(s->ended - s->start) / G_USEC_PER_SEC);
        for (guint c = 0; c < s->result->checks->len; c++) {
            const CheckRecord *r = s->result->checks->pdata[c];
            fprintf(stderr, "  check %s %s %.0f ms: %s\n", r->name, verdict_to_string(r->verdict),
                    r->duration_ms, r->reason ? r->reason : "");
        }
    }
    gboolean any = p->side[0].result->error || p->side[1].result->error;
    for (guint i = 0; any && i < p->log->len; i++) {
        const Sent *m = p->log->pdata[i];
        fprintf(stderr, "  %c -> %s %s (+%.3f s)\n", m->from ? 'b' : 'a', m->type, m->path,
                (double)(m->at - p->side[0].start) / G_USEC_PER_SEC);
    }
}

/* ---- one run, every message through: shared by the first cases ---- */

static Pair *good; /* each side's `closing` delivered CLOSE_HOLD_MS late */

static int good_run(void **state)
{
    /* Nothing may answer on the edge's port, or TURN would be tried there for real. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET,
                             .sin_port = htons(EDGE_PORT),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(fd >= 0);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    close(fd);
    good = pair_new(TAP_HOLD_CLOSE);
    pair_run(good);
    pair_explain(good);
    return 0;
}

static int good_free(void **state)
{
    pair_free(good);
    return 0;
}

static void test_both_sides_connect_on_loopback_and_trickle_their_candidates(void **state)
{
    for (guint me = 0; me < 2; me++) {
        const RunResult *r = good->side[me].result;
        assert_null(r->error);
        const PathRecord *rec = run_result_find_path(r, "natural");
        assert_non_null(rec);
        assert_true(rec->have_pair);
        assert_int_not_equal(rec->verdict, VERDICT_ERROR);
        /* Credentials first, then candidates as gathered, then `gathered`. */
        gint session = find_sent(good, me, "session", -1);
        gint first = find_sent(good, me, "candidate", -1);
        gint gathered = find_sent(good, me, "gathered", -1);
        assert_true(session >= 0 && first > session && gathered > first);
        assert_int_equal(find_sent(good, me, "candidate", gathered), -1);
        /* Loopback only: every candidate offered, and the pair both ends used. */
        g_autoptr(GPtrArray) mine = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) theirs = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < good->log->len; i++) {
            const Sent *s = good->log->pdata[i];
            if (strcmp(s->type, "candidate") != 0)
                continue;
            char *a = line_address(json_object_get_string_member(s->msg, "line"));
            assert_true(g_str_has_prefix(a, "127.0.0.1:"));
            g_ptr_array_add(s->from == me ? mine : theirs, a);
        }
        assert_true(g_ptr_array_find_with_equal_func(mine, rec->local.address, g_str_equal, NULL));
        /* The peer's trickled line was applied: the pair's remote end is one of them. */
        assert_true(
            g_ptr_array_find_with_equal_func(theirs, rec->remote.address, g_str_equal, NULL));
        /* Each side posted `connected` before its stream's `sent`. */
        gint connected = find_sent(good, me, "connected", -1);
        assert_true(connected > session && find_sent(good, me, "sent", connected) > connected);
    }
}

static void test_each_side_reports_both_directions_with_the_peers_figures(void **state)
{
    for (guint me = 0; me < 2; me++) {
        guint peer = !me;
        const PathRecord *rec = run_result_find_path(good->side[me].result, "natural");
        const PathRecord *their = run_result_find_path(good->side[peer].result, "natural");
        assert_non_null(rec);
        assert_non_null(their);
        assert_true(rec->have_metrics && their->have_metrics);
        /* `sent` says what the peer sent; what we received of it is our `in`. */
        const Sent *sent = sent_at(good, find_sent(good, peer, "sent", -1));
        guint64 peer_sent = (guint64)json_object_get_int_member(sent->msg, "packets");
        assert_true(peer_sent >= 40); /* 1 s of 20 ms packets, give or take the start */
        assert_int_equal(rec->in.packets_sent, peer_sent);
        assert_int_equal(rec->in.packets_received, peer_sent); /* loopback loses nothing */
        /* `out` is the peer's `in`, as its `stats` said. */
        const Sent *stats = sent_at(good, find_sent(good, peer, "stats", -1));
        JsonObject *in = json_object_get_object_member(stats->msg, "in");
        assert_int_equal(rec->out.packets_received,
                         json_object_get_int_member(in, "packets_received"));
        assert_int_equal(rec->out.packets_sent, their->in.packets_sent);
        assert_int_equal(rec->out.packets_received, their->in.packets_received);
        assert_int_equal(rec->out.packets_received, rec->out.packets_sent);
    }
}

static void test_each_side_closes_its_session_only_after_the_peers_closing(void **state)
{
    for (guint me = 0; me < 2; me++) {
        guint peer = !me;
        gint mine = find_sent(good, me, "closing", -1);
        gint theirs = find_sent(good, peer, "closing", -1);
        assert_true(mine >= 0 && theirs >= 0);
        /* `reruns` is posted once the path is over, its session closed: after
         * the peer's `closing` arrived, which came CLOSE_HOLD_MS late. */
        const Sent *done = sent_at(good, find_sent(good, me, "reruns", -1));
        assert_true(done->posted >= sent_at(good, theirs)->at);
        const PathRecord *rec = run_result_find_path(good->side[me].result, "natural");
        assert_true(rec->total_ms >= 1000 + CLOSE_HOLD_MS); /* the stream, then the wait */
        assert_true(rec->total_ms < CONNECT_TIMEOUT_MS + CLOSE_SLACK_MS);
    }
}

/* ---- a peer gone mid-path ---- */

static void test_a_peer_gone_mid_path_ends_the_run_with_a_reason_not_a_hang(void **state)
{
    Pair *p = pair_new(TAP_B_VANISHES);
    GThread *a = g_thread_new("side-a", side_main, &p->side[0]);
    GThread *b = g_thread_new("side-b", side_main, &p->side[1]);
    /* Side b (stopped, nothing it says arrives) ends; its mailbox closes, as
     * the controller ends the run when an agent fell silent. */
    g_thread_join(b);
    gint64 closed = g_get_monotonic_time();
    mailbox_close(g_steal_pointer(&p->mb[1]), 0);
    g_thread_join(a);
    const Side *sa = &p->side[0];
    assert_true(p->b_stopped > 0);
    assert_int_equal(find_sent(p, 1, "closing", -1), -1);
    /* Side a saw it at once, not after its waits for the peer. */
    assert_true(sa->ended - closed < CLOSE_SLACK_MS * 1000);
    assert_true(sa->ended - sa->start < (CONNECT_TIMEOUT_MS + CLOSE_SLACK_MS) * 1000);
    const RunResult *r = sa->result;
    assert_int_equal(r->verdict, VERDICT_ERROR);
    assert_non_null(r->error);
    assert_non_null(strstr(r->error, "ended the run"));
    const PathRecord *rec = run_result_find_path(r, "natural");
    assert_non_null(rec);
    assert_non_null(rec->reason);
    assert_non_null(strstr(rec->reason, "the peer's figures did not arrive"));
    pair_free(p);
}

/* ---- what the peer says wrong ---- */

/* A run in which side a gets bad, from side b's end before either run starts
 * (first in side a's queue); side a's report, as the document says it, and
 * what its peer-messages check says. */
static RunResult *run_with_bad_message(const char *bad, char **check_reason)
{
    Pair *p = pair_new(TAP_PASS);
    g_autoptr(JsonNode) n = json_from_string(bad, NULL);
    assert_non_null(n);
    mailbox_post(p->mb[1], json_node_get_object(n));
    pair_run(p);
    RunResult *r = g_steal_pointer(&p->side[0].result);
    pair_free(p);
    assert_null(r->error);
    const CheckRecord *c = run_result_find_check(r, "peer-messages");
    assert_non_null(c);
    assert_int_equal(c->verdict, VERDICT_WARN);
    *check_reason = g_strdup(c->reason);
    /* The run went on: the path connected and streamed both ways. */
    const PathRecord *rec = run_result_find_path(r, "natural");
    assert_true(rec->have_pair && rec->have_metrics);
    assert_true(rec->in.packets_received > 0 && rec->out.packets_received > 0);
    return r;
}

static void
test_a_message_from_the_peer_that_does_not_parse_is_named_and_the_run_goes_on(void **state)
{
    g_autofree char *why = NULL;
    g_autoptr(RunResult) r =
        run_with_bad_message("{\"type\":\"candidate\",\"path\":\"natural\",\"line\":42}", &why);
    assert_non_null(strstr(why, "line: not a string"));
}

static void test_a_candidate_line_that_is_not_a_candidate_is_named_and_the_run_goes_on(void **state)
{
    g_autofree char *why = NULL;
    g_autoptr(RunResult) r = run_with_bad_message(
        "{\"type\":\"candidate\",\"path\":\"natural\",\"line\":\"a=candidate:nonsense\"}", &why);
    assert_non_null(strstr(why, "path natural"));
    assert_non_null(strstr(why, "not a candidate line: a=candidate:nonsense"));
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_both_sides_connect_on_loopback_and_trickle_their_candidates),
        cmocka_unit_test(test_each_side_reports_both_directions_with_the_peers_figures),
        cmocka_unit_test(test_each_side_closes_its_session_only_after_the_peers_closing),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_a_peer_gone_mid_path_ends_the_run_with_a_reason_not_a_hang),
        cmocka_unit_test(
            test_a_message_from_the_peer_that_does_not_parse_is_named_and_the_run_goes_on),
        cmocka_unit_test(
            test_a_candidate_line_that_is_not_a_candidate_is_named_and_the_run_goes_on),
    };
    int failed =
        cmocka_run_group_tests_name("one run, every message through", shared, good_run, good_free);
    return failed + cmocka_run_group_tests_name("runs gone wrong", own, NULL, NULL);
}
