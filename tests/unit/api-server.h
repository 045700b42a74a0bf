/* A controller serving on loopback for the tests that go through HTTP: a real
 * SoupServer in its own thread (as the controller runs it), on the fixture's
 * SQLite file, and a real SoupSession to call it. No mocks. */
#pragma once

#include <libsoup/soup.h>

#include "api.h"
#include "controller-fixture.h"
#include "credentials.h"

#define ADMIN FIXTURE_ADMIN_TOKEN

typedef struct {
    Fixture *fixture;
    SchedulerClock clock; /* NULL: the real one */
    gint64 now;           /* what server_fixed_clock says */
    gboolean agents;      /* laptop1, corp1, laptop2 registered */
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    Store *store;
    Api *api;
    guint port;
    char *token[3]; /* laptop1, corp1, laptop2 */
    GMutex lock;
    GCond ready;
    gboolean up;
    SoupSession *session;
} Server;

/* A clock that stands still at Server.now: nothing times out under a test. */
static G_GNUC_UNUSED gint64 server_fixed_clock(gpointer data)
{
    return ((const Server *)data)->now;
}

static gpointer server_thread(gpointer data)
{
    Server *s = data;
    g_main_context_push_thread_default(s->ctx);
    s->store = store_open(s->fixture->config->store_path, NULL);
    static const char *const names[] = {"laptop1", "corp1", "laptop2"};
    static const char *const vpn[] = {"vpn", NULL}, *const internal[] = {"internal", NULL};
    for (int i = 0; s->agents && i < 3; i++) {
        s->token[i] = credentials_new_token();
        g_autofree char *hash = credentials_token_hash(s->token[i]);
        g_assert_true(store_agent_add(s->store, names[i], i == 1 ? internal : vpn, hash, 1, NULL));
    }
    g_autoptr(GError) e = NULL;
    s->api = api_new(s->fixture->config, s->store, NULL, NULL, s->clock, s, &e);
    g_assert_nonnull(s->api);
    g_assert_true(api_listen_address(s->api, "127.0.0.1:0", &s->port, &e));
    g_assert_true(api_start(s->api, &e));
    g_mutex_lock(&s->lock);
    s->up = TRUE;
    g_cond_signal(&s->ready);
    g_mutex_unlock(&s->lock);
    g_main_loop_run(s->loop);
    api_free(s->api);
    store_close(s->store);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

/* extra: added to the fixture's controller.conf. now: 0 for the real clock, else
 * the time the controller's clock stands at. */
static Server *server_new(const char *extra, gboolean agents, gint64 now)
{
    Server *s = g_new0(Server, 1);
    s->fixture = fixture_new(extra);
    s->agents = agents;
    s->now = now;
    s->clock = now ? server_fixed_clock : NULL;
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    g_mutex_init(&s->lock);
    g_cond_init(&s->ready);
    s->thread = g_thread_new("server", server_thread, s);
    g_mutex_lock(&s->lock);
    while (!s->up)
        g_cond_wait(&s->ready, &s->lock);
    g_mutex_unlock(&s->lock);
    s->session = soup_session_new_with_options("timeout", 20, NULL);
    return s;
}

static gboolean server_quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static void server_free(Server *s)
{
    g_object_unref(s->session);
    g_main_context_invoke(s->ctx, server_quit_loop, s->loop);
    g_thread_join(s->thread);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx);
    for (int i = 0; i < 3; i++)
        g_free(s->token[i]);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->ready);
    fixture_free(s->fixture);
    g_free(s);
}

static G_GNUC_UNUSED int server_teardown(void **state)
{
    server_free(*state);
    return 0;
}

typedef struct {
    guint status;
    char *body;
    char *header; /* the one asked for */
} Reply;

static void reply_clear(Reply *r)
{
    g_free(r->body);
    g_free(r->header);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reply, reply_clear)

static G_GNUC_UNUSED Reply http(Server *s, const char *method, const char *path, const char *token,
                                const char *body, const char *want_header)
{
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", s->port, path);
    g_autoptr(SoupMessage) m = soup_message_new(method, url);
    if (token) {
        g_autofree char *h = g_strconcat("Bearer ", token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(m), "Authorization", h);
    }
    if (body) {
        g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(m, "application/json", b);
    }
    g_autoptr(GError) e = NULL;
    g_autoptr(GBytes) got = soup_session_send_and_read(s->session, m, NULL, &e);
    if (!got)
        fail_msg("%s %s: %s", method, path, e->message);
    Reply r = {soup_message_get_status(m),
               g_strndup(g_bytes_get_data(got, NULL), g_bytes_get_size(got)), NULL};
    if (want_header)
        r.header = g_strdup(
            soup_message_headers_get_one(soup_message_get_response_headers(m), want_header));
    return r;
}

/* A member of a JSON reply, as a string ("" if none). */
static G_GNUC_UNUSED char *member(const char *json, const char *path)
{
    g_autoptr(JsonNode) root = json_from_string(json, NULL);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return g_strdup("");
    JsonObject *o = json_node_get_object(root);
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    for (int i = 0; parts[i]; i++) {
        JsonNode *n = json_object_get_member(o, parts[i]);
        if (!n)
            return g_strdup("");
        if (!parts[i + 1]) {
            if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
                return g_strdup(json_node_get_string(n));
            return json_to_string(n, FALSE);
        }
        if (!JSON_NODE_HOLDS_OBJECT(n))
            return g_strdup("");
        o = json_node_get_object(n);
    }
    return g_strdup("");
}

static G_GNUC_UNUSED void expect(const Reply *r, guint status, const char *path, const char *value)
{
    if (r->status != status)
        fail_msg("status %u, want %u: %s", r->status, status, r->body);
    if (path) {
        g_autofree char *v = member(r->body, path);
        if (!strstr(v, value))
            fail_msg("%s is '%s', want '%s' in it (%s)", path, v, value, r->body);
    }
}

/* The long-polls the controller holds now (its /metrics gauge), or -1. */
static G_GNUC_UNUSED double server_long_polls(Server *s)
{
    static const char gauge[] = "\niceprobe_controller_long_polls ";
    g_auto(Reply) m = http(s, "GET", "/metrics", ADMIN, NULL, NULL);
    const char *p = strstr(m.body, gauge);
    return p ? g_ascii_strtod(p + strlen(gauge), NULL) : -1;
}

/* Waits until the controller holds n long-polls, asking every 20 ms for at
 * most timeout_ms: a test goes on once a request is held, not after a sleep
 * that hopes it is. TRUE when it did. */
static G_GNUC_UNUSED gboolean server_await_long_polls(Server *s, double n, guint timeout_ms)
{
    gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gboolean held;
    while (!(held = server_long_polls(s) == n) && g_get_monotonic_time() < until)
        g_usleep(20000);
    return held;
}

/* A request made on a thread of its own (a long-poll), timed. */
typedef struct {
    Server *s;
    const char *path;
    const char *token;
    Reply reply;
    gint64 took_us;
} Poll;

static G_GNUC_UNUSED gpointer poll_thread(gpointer data)
{
    Poll *p = data;
    gint64 t0 = g_get_monotonic_time();
    p->reply = http(p->s, "GET", p->path, p->token, NULL, NULL);
    p->took_us = g_get_monotonic_time() - t0;
    return NULL;
}

/* A run of profile corp-vpn between a and b, created at `created`, in the
 * store as the scheduler would write it. */
static G_GNUC_UNUSED void fixture_create_run(Store *st, const char *id, const char *a,
                                             const char *b, gint64 created)
{
    StoreRun r = {.id = (char *)id,
                  .profile = "corp-vpn",
                  .agent = {(char *)a, (char *)b},
                  .created_at = created};
    g_autoptr(GError) e = NULL;
    if (!store_run_create(st, &r, &e))
        fail_msg("run %s: %s", id, e->message);
}
