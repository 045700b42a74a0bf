/* The agent's HTTP client against real HTTP servers on loopback (libsoup, in a
 * thread of their own): several controllers, one of them gone; a controller
 * whose store is away (503 with Retry-After); a run's mailbox flushed as it
 * closes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libsoup/soup.h>
#include <string.h>

#include "http.h"
#include "mailbox.h"

typedef struct {
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    SoupServer *server;
    guint port;
    guint dead_port; /* nothing listens there */
    guint calls;
    guint posts; /* POSTs, in the order they came */
    GMutex lock;
    GCond ready;
    gboolean up;
} World;

static void handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer data)
{
    World *w = data;
    g_atomic_int_inc(&w->calls);
    gboolean get = strcmp(soup_server_message_get_method(msg), "GET") == 0;
    if (!get)
        g_atomic_int_inc(&w->posts);
    /* A mailbox's receiver is told to come back later: it backs off. */
    if (strcmp(path, "/busy") == 0 || (get && g_str_has_prefix(path, "/api/v1/runs/"))) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After",
                                     "7");
        const char *body = "{\"error\":{\"code\":\"store\",\"message\":\"the store is away\"}}";
        soup_server_message_set_status(msg, 503, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body,
                                         strlen(body));
        return;
    }
    const char *body = "{\"ok\":true}";
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body, strlen(body));
}

static gpointer server_thread(gpointer data)
{
    World *w = data;
    g_main_context_push_thread_default(w->ctx);
    w->server = soup_server_new(NULL, NULL);
    soup_server_add_handler(w->server, NULL, handler, w, NULL);
    g_autoptr(GError) e = NULL;
    g_assert_true(soup_server_listen_local(w->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &e));
    GSList *uris = soup_server_get_uris(w->server);
    w->port = (guint)g_uri_get_port(uris->data);
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    g_mutex_lock(&w->lock);
    w->up = TRUE;
    g_cond_signal(&w->ready);
    g_mutex_unlock(&w->lock);
    g_main_loop_run(w->loop);
    soup_server_disconnect(w->server);
    g_object_unref(w->server);
    g_main_context_pop_thread_default(w->ctx);
    return NULL;
}

/* A loopback port nobody listens on: bound, then let go. */
static guint free_port(void)
{
    g_autoptr(GSocket) s =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_assert_true(g_socket_bind(s, any, FALSE, NULL));
    g_autoptr(GSocketAddress) a = g_socket_get_local_address(s, NULL);
    guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a));
    g_socket_close(s, NULL);
    return port;
}

static int setup(void **state)
{
    World *w = g_new0(World, 1);
    w->ctx = g_main_context_new();
    w->loop = g_main_loop_new(w->ctx, FALSE);
    g_mutex_init(&w->lock);
    g_cond_init(&w->ready);
    w->thread = g_thread_new("server", server_thread, w);
    g_mutex_lock(&w->lock);
    while (!w->up)
        g_cond_wait(&w->ready, &w->lock);
    g_mutex_unlock(&w->lock);
    w->dead_port = free_port();
    *state = w;
    return 0;
}

static gboolean quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static int teardown(void **state)
{
    World *w = *state;
    g_main_context_invoke(w->ctx, quit_loop, w->loop);
    g_thread_join(w->thread);
    g_main_loop_unref(w->loop);
    g_main_context_unref(w->ctx);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->ready);
    g_free(w);
    return 0;
}

#define TOKEN "0123456789abcdef0123456789abcdef"

/* The first controller gone: the call goes to the next at once, and the handle
 * stays there. */
static void test_a_call_moves_to_the_next_controller_and_stays(void **state)
{
    World *w = *state;
    g_autofree char *urls =
        g_strdup_printf("http://127.0.0.1:%u, http://127.0.0.1:%u/", w->dead_port, w->port);
    g_autoptr(Http) h = http_new(urls, TOKEN, NULL, NULL);
    g_autofree char *live = g_strdup_printf("http://127.0.0.1:%u", w->port);
    long status = -1;
    g_autoptr(GError) e = NULL;
    g_autoptr(JsonObject) o = http_call(h, "GET", "/x", NULL, 5, &status, &e);
    assert_non_null(o);
    assert_int_equal(status, 200);
    assert_int_equal(http_failovers(h), 1);
    assert_string_equal(http_current_url(h), live);
    g_autoptr(JsonObject) again = http_call(h, "GET", "/x", NULL, 5, &status, &e);
    assert_non_null(again);
    assert_int_equal(http_failovers(h), 1); /* it stayed */
    assert_int_equal(g_atomic_int_get(&w->calls), 2);
}

/* Every controller gone: the error names the last one tried; nothing loops. */
static void test_no_controller_answering_is_a_transport_error(void **state)
{
    World *w = *state;
    guint other = free_port();
    g_autofree char *urls =
        g_strdup_printf("http://127.0.0.1:%u,http://127.0.0.1:%u", w->dead_port, other);
    g_autoptr(Http) h = http_new(urls, TOKEN, NULL, NULL);
    long status = -1;
    g_autoptr(GError) e = NULL;
    assert_null(http_call(h, "GET", "/x", NULL, 5, &status, &e));
    assert_true(g_error_matches(e, HTTP_ERROR, HTTP_ERROR_TRANSPORT));
    assert_int_equal(status, 0);
    assert_true(http_error_retryable(e, status));
    assert_int_equal(http_failovers(h), 1);
    assert_non_null(strstr(e->message, "http://127.0.0.1:"));
}

/* A 503 says when to come back; the next request goes to the next controller
 * (this one's store, or its connection to it, is away). */
static void test_a_503_says_when_to_come_back(void **state)
{
    World *w = *state;
    g_autofree char *urls =
        g_strdup_printf("http://127.0.0.1:%u,http://127.0.0.1:%u", w->port, w->dead_port);
    g_autoptr(Http) h = http_new(urls, TOKEN, NULL, NULL);
    long status = 0;
    g_autoptr(GError) e = NULL;
    assert_null(http_call(h, "GET", "/busy", NULL, 5, &status, &e));
    assert_int_equal(status, 503);
    assert_int_equal(http_retry_after_s(h), 7);
    assert_non_null(strstr(e->message, "the store is away"));
    assert_true(http_error_retryable(e, status));
    g_autofree char *dead = g_strdup_printf("http://127.0.0.1:%u", w->dead_port);
    assert_string_equal(http_current_url(h), dead);
    g_clear_error(&e);
    g_autoptr(JsonObject) o = http_call(h, "GET", "/x", NULL, 5, NULL, &e);
    assert_non_null(o); /* the dead one, then back to the first */
    assert_int_equal(http_retry_after_s(h), 0);
}

/* Closing a mailbox waits for what it queued to be posted, and no longer than
 * that (it is told, not polling). */
static void test_a_closing_mailbox_posts_what_it_queued_then_returns(void **state)
{
    World *w = *state;
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u", w->port);
    MailboxConfig cfg = {.url = url, .token = TOKEN, .run_id = "r1"};
    Mailbox *m = mailbox_open(&cfg);
    for (int i = 1; i <= 3; i++) {
        g_autoptr(JsonObject) msg = json_object_new();
        json_object_set_int_member(msg, "n", i);
        mailbox_post(m, msg);
    }
    gint64 t0 = g_get_monotonic_time();
    mailbox_close(m, 10000);
    assert_true(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
    assert_int_equal(g_atomic_int_get(&w->posts), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_call_moves_to_the_next_controller_and_stays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_controller_answering_is_a_transport_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_503_says_when_to_come_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_closing_mailbox_posts_what_it_queued_then_returns,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
