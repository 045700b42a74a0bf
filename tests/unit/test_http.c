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
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A controller that stops while an upload is on its way: a peer on loopback
 * that takes the connection, then resets it once the request's body is being
 * sent (a small receive buffer keeps the body in flight), and answers on the
 * next connection. libcurl says a request again by itself only on a kept-alive
 * connection that fails before the body is under way; in the lab a controller
 * stopped mid-upload left the report's first attempt with "Send failure:
 * Broken pipe" where an operator should read that it cannot be connected to. */
typedef struct {
    int listener;
    guint port;
    guint connections;
    gboolean answered_fresh;
} Resetter;

static gssize read_headers(int fd, char *buf, gsize size)
{
    gsize n = 0;
    while (n + 1 < size) {
        gssize r = recv(fd, buf + n, size - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (gsize)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return (gssize)n;
    }
    return -1;
}

static void answer(int fd)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 11\r\n\r\n{\"ok\":true}";
    assert_int_equal(send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL), (ssize_t)(sizeof ok - 1));
}

static gpointer resetter_thread(gpointer data)
{
    Resetter *r = data;
    char buf[8192];
    int one = accept(r->listener, NULL, NULL);
    r->connections++;
    if (read_headers(one, buf, sizeof buf) < 0)
        return NULL;
    g_usleep(200000); /* the body is on its way, held by the small window */
    struct linger reset = {1, 0};
    setsockopt(one, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(one);
    /* The request said again on a new connection, or (without that) nothing. */
    struct pollfd p = {r->listener, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1)
        return NULL;
    int two = accept(r->listener, NULL, NULL);
    r->connections++;
    gssize got = read_headers(two, buf, sizeof buf);
    const char *cl = got > 0 ? strcasestr(buf, "Content-Length:") : NULL;
    if (cl) {
        gssize want = (gssize)g_ascii_strtoll(cl + 15, NULL, 10);
        gssize have = got - (gssize)(strstr(buf, "\r\n\r\n") + 4 - buf);
        while (have < want) {
            gssize n = recv(two, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            have += n;
        }
        if (have == want) {
            answer(two);
            r->answered_fresh = TRUE;
        }
    }
    g_usleep(100000);
    close(two);
    return NULL;
}

static void test_an_upload_on_a_connection_reset_goes_again_on_a_new_one(void **state)
{
    Resetter r = {socket(AF_INET, SOCK_STREAM, 0), 0, 0, FALSE};
    int small = 4096;
    assert_int_equal(setsockopt(r.listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(r.listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r.listener, 4), 0);
    assert_int_equal(getsockname(r.listener, (struct sockaddr *)&a, &len), 0);
    r.port = ntohs(a.sin_port);
    GThread *t = g_thread_new("resetter", resetter_thread, &r);
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u", r.port);
    g_autoptr(Http) h = http_new(url, TOKEN, NULL, NULL);
    g_autoptr(GError) e = NULL;
    /* A report's size: far more than the window and the send buffer hold. */
    GString *big = g_string_new("{\"pad\":\"");
    while (big->len < 900 * 1024) /* under libcurl's 1 MiB for Expect: 100-continue */
        g_string_append(big, "0123456789abcdef");
    g_string_append(big, "\"}");
    long status = 0;
    g_autoptr(JsonObject) o = http_call(h, "POST", "/report", big->str, 10, &status, &e);
    g_string_free(big, TRUE);
    g_thread_join(t);
    close(r.listener);
    if (!o)
        fail_msg("the upload: %s", e->message);
    assert_int_equal(status, 200);
    assert_int_equal(r.connections, 2);
    assert_true(r.answered_fresh);
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
        cmocka_unit_test(test_an_upload_on_a_connection_reset_goes_again_on_a_new_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
