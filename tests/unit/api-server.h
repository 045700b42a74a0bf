/* A controller serving on loopback for the tests that go through HTTP: a real
 * SoupServer in its own thread (as the controller runs it), on the fixture's
 * SQLite file, and a real SoupSession to call it (plain HTTP; HTTPS when the
 * configuration has a certificate, for clients of the test's own). No mocks. */
#pragma once

#include <libsoup/soup.h>

#include "api.h"
#include "controller-fixture.h"
#include "credentials.h"

#define ADMIN FIXTURE_ADMIN_TOKEN

#define SERVER_MAX_THREADS 4

/* One of the controller's server threads ([server] threads in the fixture's
 * configuration): its main context, store connection and Api, serving on the
 * shared port (SO_REUSEPORT) and on a port of its own, so that a test can
 * choose which thread an agent talks to. */
typedef struct {
    struct Server *s;
    guint index;
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    Store *store;
    Api *api;
    guint port; /* its own */
} ServerThread;

/* Called by the controller's clock (server_clock), in whichever of its
 * threads reads it: a test's way into the middle of a request. */
typedef struct {
    void (*fn)(struct Server *s, gpointer data);
    gpointer data;
} ServerClockHook;

typedef struct Server {
    Fixture *fixture;
    gboolean fixed;        /* the clock stands at now; else the real one */
    gint64 now;            /* what the fixed clock says */
    ServerClockHook *hook; /* atomic; NULL: none */
    gboolean agents;       /* laptop1, corp1, laptop2 registered */
    guint threads;
    ServerThread t[SERVER_MAX_THREADS];
    ApiHub *hub;        /* several threads */
    GPtrArray *sockets; /* the shared port's, one per thread */
    Store *store;       /* the first thread's */
    Api *api;
    guint port;     /* shared by the threads */
    char *token[3]; /* laptop1, corp1, laptop2 */
    GMutex lock;
    GCond ready;
    gboolean up;
    SoupSession *session;
} Server;

/* The controller's clock: standing still at Server.now (nothing times out
 * under a test), or the real one; the hook first, if a test set one. */
static gint64 server_clock(gpointer data)
{
    Server *s = data;
    ServerClockHook *hook = g_atomic_pointer_get(&s->hook);
    if (hook)
        hook->fn(s, hook->data);
    return s->fixed ? s->now : g_get_real_time() / G_USEC_PER_SEC;
}

static void server_add_agents(Server *s, Store *store)
{
    static const char *const names[] = {"laptop1", "corp1", "laptop2"};
    static const char *const vpn[] = {"vpn", NULL}, *const internal[] = {"internal", NULL};
    for (int i = 0; s->agents && i < 3; i++) {
        s->token[i] = credentials_new_token();
        g_autofree char *hash = credentials_token_hash(s->token[i]);
        g_assert_true(store_agent_add(store, names[i], i == 1 ? internal : vpn, hash, 1, NULL));
    }
}

static gboolean server_up(gpointer data)
{
    Server *s = data;
    g_mutex_lock(&s->lock);
    s->up = TRUE;
    g_cond_signal(&s->ready);
    g_mutex_unlock(&s->lock);
    return G_SOURCE_REMOVE;
}

static gpointer server_thread(gpointer data)
{
    ServerThread *t = data;
    Server *s = t->s;
    g_main_context_push_thread_default(t->ctx);
    t->store = store_open(config_store_target(s->fixture->config), NULL);
    g_assert_nonnull(t->store);
    if (t->index == 0)
        server_add_agents(s, t->store);
    g_autoptr(GError) e = NULL;
    const ControllerConfig *config = s->fixture->config;
    g_autoptr(GTlsCertificate) cert =
        config_uses_tls(config) ? api_load_certificate(config, &e) : NULL;
    g_assert_true(cert || !config_uses_tls(config));
    t->api = api_new(config, t->store, s->hub, cert, NULL, server_clock, s, &e);
    g_assert_nonnull(t->api);
    g_assert_true(api_listen_socket(t->api, s->sockets->pdata[t->index], &e));
    g_assert_true(api_listen_address(t->api, "127.0.0.1:0", &t->port, &e));
    /* As the controller: the first thread ticks the scheduler. */
    g_assert_true(t->index > 0 || api_start(t->api, &e));
    /* Up once its loop runs: a stop cannot come before. */
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, server_up, s, NULL);
    g_source_attach(idle, t->ctx);
    g_source_unref(idle);
    g_main_loop_run(t->loop);
    api_free(t->api);
    store_close(t->store);
    g_main_context_pop_thread_default(t->ctx);
    return NULL;
}

/* extra: added to the fixture's controller.conf ([server] threads = N for
 * several threads). now: 0 for the real clock, else the time the controller's
 * clock stands at. pg_url: the store on PostgreSQL instead of the fixture's
 * SQLite file. */
static Server *server_new_on(const char *extra, gboolean agents, gint64 now, const char *pg_url)
{
    Server *s = g_new0(Server, 1);
    s->fixture = fixture_new(extra);
    if (pg_url) {
        ControllerConfig *c = s->fixture->config;
        g_clear_pointer(&c->store_path, g_free);
        c->store_url = g_strdup(pg_url);
    }
    s->agents = agents;
    s->now = now;
    s->fixed = now != 0;
    s->threads = s->fixture->config->threads;
    g_assert_true(s->threads <= SERVER_MAX_THREADS);
    s->hub = s->threads > 1 ? api_hub_new() : NULL;
    s->sockets = g_ptr_array_new_with_free_func(g_object_unref);
    g_assert_true(api_bind("127.0.0.1:0", s->threads, s->sockets, NULL));
    g_autoptr(GSocketAddress) a = g_socket_get_local_address(s->sockets->pdata[0], NULL);
    s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a));
    g_mutex_init(&s->lock);
    g_cond_init(&s->ready);
    for (guint i = 0; i < s->threads; i++) {
        ServerThread *t = &s->t[i];
        t->s = s;
        t->index = i;
        t->ctx = g_main_context_new();
        t->loop = g_main_loop_new(t->ctx, FALSE);
        g_mutex_lock(&s->lock);
        s->up = FALSE;
        t->thread = g_thread_new("server", server_thread, t);
        while (!s->up)
            g_cond_wait(&s->ready, &s->lock);
        g_mutex_unlock(&s->lock);
    }
    s->store = s->t[0].store;
    s->api = s->t[0].api;
    s->session = soup_session_new_with_options("timeout", 20, NULL);
    return s;
}

static Server *server_new(const char *extra, gboolean agents, gint64 now)
{
    return server_new_on(extra, agents, now, NULL);
}

static void server_free(Server *s)
{
    if (!s)
        return;
    g_object_unref(s->session);
    for (guint i = 0; i < s->threads; i++) {
        ServerThread *t = &s->t[i];
        g_main_loop_quit(t->loop);
        g_thread_join(t->thread);
        g_main_loop_unref(t->loop);
        g_main_context_unref(t->ctx);
    }
    api_hub_free(s->hub);
    g_ptr_array_unref(s->sockets);
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

/* The port a request with this token goes to: with several threads, agent i
 * talks to thread i % threads (laptop1 and corp1, a run's two sides, to two
 * threads); the admin, and anyone else, to the shared port. */
static guint server_port_for(const Server *s, const char *token)
{
    for (guint i = 0; s->threads > 1 && token && i < 3; i++) {
        if (g_strcmp0(token, s->token[i]) == 0)
            return s->t[i % s->threads].port;
    }
    return s->port;
}

static G_GNUC_UNUSED Reply http(Server *s, const char *method, const char *path, const char *token,
                                const char *body, const char *want_header)
{
    g_autofree char *url =
        g_strdup_printf("http://127.0.0.1:%u%s", server_port_for(s, token), path);
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
