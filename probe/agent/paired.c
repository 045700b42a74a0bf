/* The paired run (paired.h): this side's local checks, the hello, the paths
 * (one path against the peer: paired_path.c), the report.
 *
 * When both sides can tell each path's media from the others' (the kernel
 * names the device of every packet, or the side has no tunnel: their hellos
 * say `at_once`), the paths run at the same time, each on a thread of its own
 * with its own main context, as the relay loop's do (docs/libnice.md §34).
 * The peer's messages are routed to each path's own queue, in the order they
 * came; a path whose evidence fell back to the tunnel's shared counters runs
 * again alone afterwards, on both sides (`reruns`). Otherwise the paths run
 * one after another. */
#include <glib/gstdio.h>
#include <string.h>

#include "loop.h"
#include "paired-private.h"
#include "stop.h"
#include "iceprobe-config.h"

#define HELLO_TIMEOUT_S 45 /* the peer's local checks may take this long */
#define MAX_PATHS       8

/* ---- messages (their parser: peer_message.c) ---- */

JsonObject *paired_message_new(const char *type, const char *path)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "type", type);
    if (path)
        json_object_set_string_member(o, "path", path);
    return o;
}

void paired_post(Paired *P, JsonObject *o)
{
    mailbox_post(P->mb, o);
    json_object_unref(o);
}

static GAsyncQueue *inbox_new(void)
{
    return g_async_queue_new_full((GDestroyNotify)peer_message_free);
}

/* The path's queue (under lock); made at its first message or its start. */
static GAsyncQueue *inbox_of(Paired *P, const char *name)
{
    GAsyncQueue *q = g_hash_table_lookup(P->inboxes, name);
    if (!q) {
        q = inbox_new();
        g_hash_table_insert(P->inboxes, g_strdup(name), q);
    }
    return q;
}

GAsyncQueue *paired_inbox(Paired *P, const char *name)
{
    g_mutex_lock(&P->lock);
    GAsyncQueue *q = g_async_queue_ref(inbox_of(P, name));
    g_mutex_unlock(&P->lock);
    return q;
}

/* Takes the peer's messages from the mailbox, in order, into each path's
 * queue. Any thread may: the lock keeps the order. The peer's `reruns` comes
 * after everything it said about the paths run at once, so what follows it
 * about a path belongs to that path's second run: a fresh queue. */
void paired_route(Paired *P)
{
    JsonObject *o;
    g_mutex_lock(&P->lock);
    while ((o = mailbox_pop(P->mb)) != NULL) {
        g_autoptr(GError) e = NULL;
        PeerMessage *m = peer_message_new(o, &e);
        json_object_unref(o);
        if (!m) {
            if (!P->bad_message)
                P->bad_message = g_strdup(e->message);
        } else if (m->type == PEER_HELLO) {
            P->hello = TRUE;
            P->peer_tunnel = m->tunnel;
            P->peer_closes = m->closes;
            P->peer_at_once = m->at_once;
            P->peer_starts = m->starts;
            P->peer_ptime_ms = m->ptime_ms;
            g_free(P->peer_version);
            P->peer_version = g_steal_pointer(&m->version);
            peer_message_free(m);
        } else if (m->type == PEER_RERUNS) {
            if (!P->peer_reruns) {
                P->peer_reruns = g_steal_pointer(&m->paths);
                g_hash_table_remove_all(P->inboxes);
            }
            peer_message_free(m);
        } else {
            g_async_queue_push(inbox_of(P, m->path), m);
        }
    }
    g_mutex_unlock(&P->lock);
}

/* The mailbox's receiver: wake every context that waits for the peer. */
static void wake_waiting(gpointer data)
{
    Paired *P = data;
    g_mutex_lock(&P->lock);
    for (guint i = 0; i < P->waiting->len; i++)
        g_main_context_wakeup(P->waiting->pdata[i]);
    g_mutex_unlock(&P->lock);
}

void paired_watch(Paired *P, GMainContext *ctx)
{
    g_mutex_lock(&P->lock);
    g_ptr_array_add(P->waiting, g_main_context_ref(ctx));
    g_mutex_unlock(&P->lock);
}

void paired_unwatch(Paired *P, GMainContext *ctx)
{
    g_mutex_lock(&P->lock);
    g_ptr_array_remove(P->waiting, ctx);
    g_mutex_unlock(&P->lock);
}

gboolean paired_stopped(const Paired *P)
{
    return stop_requested(P->env->stop);
}

static void on_stop(GCancellable *stop, gpointer P)
{
    wake_waiting(P);
}

gboolean paired_tick(gpointer data)
{
    return G_SOURCE_CONTINUE; /* wakes the loop: deadlines are seen */
}

/* The run's own waits (hello, reruns), on the run's context. */
typedef gboolean (*RunUntil)(Paired *P);
typedef struct {
    Paired *P;
    RunUntil cond;
} RunWait;

static gboolean run_wait_check(gpointer data)
{
    RunWait *w = data;
    paired_route(w->P);
    g_mutex_lock(&w->P->lock);
    gboolean held = w->cond(w->P);
    g_mutex_unlock(&w->P->lock);
    return held || paired_stopped(w->P) || mailbox_run_ended(w->P->mb);
}

static gboolean run_wait_until(Paired *P, RunUntil cond, guint ms)
{
    RunWait w = {P, cond};
    loop_run_until(P->ctx, run_wait_check, &w, ms);
    g_mutex_lock(&P->lock);
    gboolean held = cond(P);
    g_mutex_unlock(&P->lock);
    return held;
}

void paired_note_refused(Paired *P, const char *why)
{
    g_mutex_lock(&P->lock);
    if (!P->bad_message)
        P->bad_message = g_strdup(why);
    g_mutex_unlock(&P->lock);
}

void paired_add_finding(Paired *P, const char *code, JsonObject *ev, const char *message)
{
    g_mutex_lock(&P->result_lock);
    run_result_add_finding(P->c.result, code, ev, "%s", message);
    g_mutex_unlock(&P->result_lock);
}


/* A path on a thread of its own. */
typedef struct {
    Paired *P;
    const char *name;
    PathRecord *rec;
    gboolean judge;
} PathJob;

static gpointer job_thread(gpointer data)
{
    PathJob *j = data;
    j->judge = paired_path_run(j->P, j->name, j->rec);
    return NULL;
}

static void fail_run(RunResult *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void fail_run(RunResult *r, const char *fmt, ...)
{
    if (r->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

/* The run went wrong between paths: stopped, or ended at the controller. */
static gboolean run_interrupted(Paired *P, RunResult *result, const char *path)
{
    if (paired_stopped(P))
        fail_run(result, "the agent was stopped (%s) during the run", stop_signals_words());
    else if (mailbox_run_ended(P->mb) && path)
        fail_run(result, "the controller ended the run during path %s", path);
    else if (mailbox_run_ended(P->mb))
        fail_run(result, "the controller ended the run during its paths");
    return result->error != NULL;
}

static gboolean have_hello(Paired *P)
{
    return P->hello;
}

static gboolean have_reruns(Paired *P)
{
    return P->peer_reruns != NULL;
}

/* After the paths ran at once: the paths either side's evidence could not
 * tell apart from the others' run again, one after another, on both sides.
 * Each side says which of its own (`reruns`, after everything it said about
 * the paths) and waits for the peer's word. */
static void rerun_inexact(Paired *P, PathJob *jobs, guint n)
{
    g_autoptr(GStrvBuilder) mine = g_strv_builder_new();
    JsonArray *names = json_array_new();
    for (guint i = 0; i < n; i++) {
        if (jobs[i].judge && !paths_attribution_exact(jobs[i].rec, protocol_paired_path_kind(jobs[i].name))) {
            g_strv_builder_add(mine, jobs[i].name);
            json_array_add_string_element(names, jobs[i].name);
        }
    }
    g_auto(GStrv) own = g_strv_builder_end(mine);
    JsonObject *o = paired_message_new("reruns", NULL);
    json_object_set_array_member(o, "paths", names);
    paired_post(P, o);
    /* The peer says it once its own paths are done: at most the longest of
     * them later (its wait for a pair, the stream, the trade, the close). */
    guint wait_ms = CONNECT_TIMEOUT_MS + P->order->duration_s * 1000 + PEER_END_SLACK_MS +
                    STATS_TIMEOUT_MS + CLOSE_SLACK_MS;
    if (!run_wait_until(P, have_reruns, wait_ms)) {
        if (own[0])
            g_message("run %s: the peer did not say which paths to run again; none is",
                      P->order->run_id);
        return;
    }
    for (guint i = 0; i < n && !P->c.result->error; i++) {
        if (!g_strv_contains((const char *const *)own, jobs[i].name) &&
            !g_strv_contains((const char *const *)P->peer_reruns, jobs[i].name))
            continue;
        g_autofree char *why = NULL;
        jobs[i].rec = paths_replace_record(&P->c, jobs[i].rec, &why);
        if (!g_strv_contains((const char *const *)own, jobs[i].name)) {
            g_free(why);
            why = g_strdup("run again alone: the peer could not tell its media from the other "
                           "paths'");
        }
        jobs[i].judge = paired_path_run(P, jobs[i].name, jobs[i].rec);
        paths_note_rerun(jobs[i].rec, why);
        run_interrupted(P, P->c.result, jobs[i].name);
    }
}

/* Every path of the order: at once when both sides can tell each path's media
 * apart (their hellos said `at_once`), else one after another; then the policy
 * judges them, here on the run's own thread. */
static void run_paths(Paired *P, gboolean at_once)
{
    const Order *order = P->order;
    PathJob jobs[MAX_PATHS];
    guint n = 0;
    for (char **p = order->paths; *p && n < MAX_PATHS; p++)
        jobs[n++] = (PathJob){P, *p, at_once ? run_result_add_path(P->c.result, *p) : NULL, FALSE};
    g_message("run %s: %u paths %s", order->run_id, n, at_once ? "at once" : "one after another");
    if (at_once) {
        GThread *threads[MAX_PATHS];
        for (guint i = 0; i < n; i++)
            threads[i] = g_thread_new(jobs[i].name, job_thread, &jobs[i]);
        for (guint i = 0; i < n; i++)
            g_thread_join(threads[i]);
        if (!run_interrupted(P, P->c.result, NULL))
            rerun_inexact(P, jobs, n);
    } else {
        /* A path not run (the run was stopped or ended) is not in the report. */
        for (guint i = 0; i < n; i++) {
            jobs[i].rec = run_result_add_path(P->c.result, jobs[i].name);
            jobs[i].judge = paired_path_run(P, jobs[i].name, jobs[i].rec);
            if (run_interrupted(P, P->c.result, jobs[i].name))
                n = i + 1;
        }
    }
    for (guint i = 0; i < n; i++)
        if (jobs[i].judge)
            policy_judge_path(P->c.result, jobs[i].rec, protocol_paired_path_kind(jobs[i].name), P->c.profile);
}

/* ---- the run ---- */

/* The order's CA, written where the profile can name it: a private directory
 * of its own (not the spool, whose disk may be full). *dir gets the directory. */
static char *write_ca(const Order *order, char **dir, GError **error)
{
    *dir = NULL;
    if (!order->edge_ca_pem || !*order->edge_ca_pem)
        return NULL;
    *dir = g_dir_make_tmp("iceprobe-order-XXXXXX", error);
    if (!*dir)
        return NULL;
    g_autofree char *path = g_build_filename(*dir, "edge-ca.pem", NULL);
    if (!g_file_set_contents_full(path, order->edge_ca_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                  0600, error))
        return NULL;
    return g_steal_pointer(&path);
}

/* The run's state (the order's profile is the caller's to keep). */
static void paired_init(Paired *P, const Order *order, const PairedEnv *env, const Profile *profile,
                        RunResult *result)
{
    P->order = order;
    P->env = env;
    P->c.profile = profile;
    P->c.result = result;
    P->c.cred.username = g_strdup(order->turn_username);
    P->c.cred.password = g_strdup(order->turn_password);
    P->c.stream_duration_s = order->duration_s;
    g_mutex_init(&P->lock);
    g_mutex_init(&P->result_lock);
    P->inboxes =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_async_queue_unref);
    P->waiting = g_ptr_array_new_with_free_func((GDestroyNotify)g_main_context_unref);
    P->ctx = g_main_context_new();
    paired_watch(P, P->ctx);
    P->tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(P->tick, paired_tick, NULL, NULL);
    g_source_attach(P->tick, P->ctx);
    if (env->stop)
        P->stop_handler = g_cancellable_connect(env->stop, G_CALLBACK(on_stop), P, NULL);
    if (env->mailbox) {
        P->mb = env->mailbox;
        mailbox_watch(P->mb, wake_waiting, P);
        return;
    }
    MailboxConfig mc = {.url = env->url,
                        .token = env->token,
                        .ca_file = env->ca_file,
                        .run_id = order->run_id,
                        .on_message = wake_waiting,
                        .on_message_data = P,
                        .stop = env->stop};
    P->mb = mailbox_open(&mc);
}

/* Notes the signalling's troubles in the report, closes the mailbox and frees
 * the run's state. */
static void paired_finish(Paired *P)
{
    RunResult *result = P->c.result;
    if (P->bad_message)
        run_result_add_check(result, "peer-messages", VERDICT_WARN,
                             "a message from the peer was refused: %s", P->bad_message);
    g_autofree char *mail_error = mailbox_last_error(P->mb);
    if (mail_error)
        run_result_add_check(result, "signalling", VERDICT_PASS,
                             "%u signalling call(s) failed and were retried; the last: %s",
                             mailbox_failures(P->mb), mail_error);
    if (P->env->mailbox)
        mailbox_watch(P->mb, NULL, NULL); /* the caller's: P goes now */
    else
        mailbox_close(P->mb, 2000);
    if (P->stop_handler)
        g_cancellable_disconnect(P->env->stop, P->stop_handler);
    g_source_destroy(P->tick);
    g_source_unref(P->tick);
    run_ctx_clear(&P->c);
    g_hash_table_unref(P->inboxes);
    g_ptr_array_unref(P->waiting);
    g_strfreev(P->peer_reruns);
    g_free(P->peer_version);
    g_free(P->bad_message);
    g_main_context_unref(P->ctx);
    g_mutex_clear(&P->lock);
    g_mutex_clear(&P->result_lock);
}

/* This side's local checks, then its hello; TRUE once the peer's has come. */
static gboolean checks_and_hello(Paired *P, gboolean *at_once)
{
    RunResult *result = P->c.result;
    const char *why = checks_all(&P->c);
    if (why)
        fail_run(result, "%s", why);
    g_autoptr(GPtrArray) tun = paths_tunnel_addresses(&P->c);
    /* This side tells each path's media apart when the kernel names every
     * packet's device, or when there is no tunnel to tell it from. */
    *at_once = !tun->len || egress_supported();
    JsonObject *hello = paired_message_new("hello", NULL);
    json_object_set_boolean_member(hello, "tunnel", tun->len > 0);
    json_object_set_boolean_member(hello, "closes", TRUE);
    json_object_set_boolean_member(hello, "at_once", *at_once);
    json_object_set_boolean_member(hello, "starts", TRUE);
    /* The grid of our RTP timestamps: a peer of the same ptime places our
     * first packet from the first one it gets (stream_end_place_first). */
    json_object_set_int_member(hello, "ptime_ms", P->c.profile->stream.ptime_ms);
    json_object_set_string_member(hello, "version", ICEPROBE_VERSION);
    paired_post(P, hello);
    if (!result->error && !run_wait_until(P, have_hello, HELLO_TIMEOUT_S * 1000))
        fail_run(result, "%s",
                 paired_stopped(P)          ? "the agent was stopped while waiting for its peer"
                 : mailbox_run_ended(P->mb) ? "the controller ended the run before the peer joined"
                                            : "the peer did not join within the wait");
    return !result->error;
}

RunResult *paired_execute(const Order *order, const PairedEnv *env)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ca_dir = NULL;
    g_autofree char *ca = write_ca(order, &ca_dir, &error);
    g_autoptr(Profile) profile = NULL;
    if (!error)
        profile = profile_load_order(order->profile_text, strlen(order->profile_text), ca, &error);
    RunResult *result = run_result_new(order->profile_name);
    g_free(result->run_id);
    result->run_id = g_strdup(order->run_id);
    g_autoptr(GError) lapsed = NULL;
    if (!profile) {
        fail_run(result, "the order's profile cannot be used: %s", error->message);
    } else if (order->turn_expires_at &&
               !mras_check_fresh(order->turn_expires_at, g_get_real_time() / G_USEC_PER_SEC,
                                 "the controller's MRAS answer", &lapsed)) {
        /* Before any check, as `iceprobe run` does: the edge would refuse them. */
        run_result_set_dialect(result, profile);
        fail_run(result, "%s", lapsed->message);
    } else {
        run_result_set_dialect(result, profile);
        Paired P = {0};
        paired_init(&P, order, env, profile, result);
        gboolean at_once;
        if (checks_and_hello(&P, &at_once))
            run_paths(&P, at_once && P.peer_at_once);
        policy_judge_firewall(result);
        paired_finish(&P);
    }
    run_result_conclude(result);
    if (ca)
        g_unlink(ca);
    if (ca_dir)
        g_rmdir(ca_dir);
    return result;
}
