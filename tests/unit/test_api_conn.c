/* The controller's connections between requests (controller/api_conn.c), with a
 * real SoupServer (api-server.h) and libcurl as the agents use it: a connection
 * is kept alive and reused (one TCP connection, one TLS handshake, for several
 * requests and long-polls), and one its client closes while idle is closed by
 * the server too, its descriptor back (libsoup 3.2 alone keeps it for ever). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "api-private.h"
#include "api-server.h"

#define CLIENTS 16
#define TLS_DIR UNIT_DATA_DIR "/tls"

static const char tls_conf[] = "[server]\ntls_cert_file = " TLS_DIR "/edge.pem\n"
                               "tls_key_file = " TLS_DIR "/edge.key\n";

/* The descriptors this process has open (the server's thread is in it). */
static int fd_count(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    assert_non_null(d);
    int n = 0;
    while (g_dir_read_name(d))
        n++;
    return n;
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    g_string_append_len(user, data, (gssize)(size * n));
    return size * n;
}

typedef struct {
    long status;
    long new_connections;
    char *body;
} Got;

/* A GET on the client's own connection cache, as an agent's Http makes it. */
static Got get(Server *s, CURL *c, gboolean tls, const char *path, const char *token)
{
    g_autofree char *url =
        g_strdup_printf("%s://127.0.0.1:%u%s", tls ? "https" : "http", s->port, path);
    g_autofree char *auth = g_strconcat("Authorization: Bearer ", token, NULL);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    GString *body = g_string_new(NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CAINFO, TLS_DIR "/ca.pem");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    Got g = {0};
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &g.new_connections);
    g.body = g_string_free(body, FALSE);
    return g;
}

static double metric(const char *text, const char *name)
{
    g_autofree char *line = g_strconcat("\n", name, " ", NULL);
    const char *p = strstr(text, line);
    if (!p)
        fail_msg("no %s in /metrics", name);
    return g_ascii_strtod(p + strlen(line), NULL);
}

/* Waits (at most 5 s) for the process to hold `want` descriptors. */
static int await_fds(int want)
{
    int n = fd_count();
    for (int i = 0; i < 250 && n != want; i++) {
        g_usleep(20000);
        n = fd_count();
    }
    return n;
}

/* What a first request opens for good in this process (the TLS libraries'
 * files, a resolver's thread) is not counted: one is made first. */
static int fds_after_warm_up(Server *s, gboolean tls)
{
    CURL *c = curl_easy_init();
    Got g = get(s, c, tls, "/metrics", ADMIN);
    g_free(g.body);
    curl_easy_cleanup(c);
    g_usleep(100000);
    return fd_count();
}

/* Answered, a connection is parked (out of libsoup's hands). */
static guint64 parked(Server *s)
{
    return api_conns_parked(s->api->conns);
}

/* Waits (at most 5 s) until the server holds `want` connections parked. */
static gboolean await_parked(Server *s, guint64 want)
{
    for (int i = 0; i < 250 && parked(s) != want; i++)
        g_usleep(20000);
    return parked(s) == want;
}

static gboolean await_idle(Server *s, guint64 want)
{
    for (int i = 0; i < 250 && api_conns_idle(s->api->conns) != want; i++)
        g_usleep(20000);
    return api_conns_idle(s->api->conns) == want;
}

static void get_each(Server *s, CURL **c, gboolean tls, long want_new)
{
    for (int i = 0; i < CLIENTS; i++) {
        Got g = get(s, c[i], tls, "/metrics", ADMIN);
        assert_int_equal(g.status, 200);
        assert_int_equal(g.new_connections, want_new);
        g_free(g.body);
    }
}

static void kept_alive_then_closed(gboolean tls)
{
    Server *s = server_new(tls ? tls_conf : NULL, FALSE, 0);
    int before = fds_after_warm_up(s, tls);
    CURL *c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        c[i] = curl_easy_init();
    get_each(s, c, tls, 1);
    assert_true(await_parked(s, CLIENTS));
    /* The second request goes on the first's connection, parked in between and
     * given back to libsoup; and the third. */
    get_each(s, c, tls, 0);
    get_each(s, c, tls, 0);
    Got m = get(s, c[0], tls, "/metrics", ADMIN);
    assert_int_equal(m.new_connections, 0);
    /* One connection (one handshake) per client (and the warm-up's); all but the
     * asking one idle. */
    assert_int_equal((int)metric(m.body, "iceprobe_controller_connections_total"), CLIENTS + 1);
    assert_int_equal((int)metric(m.body, "iceprobe_controller_connections_idle"), CLIENTS - 1);
    g_free(m.body);
    assert_true(fd_count() >= before + 2 * CLIENTS);
    /* Closed by their clients while parked (TLS: close_notify first); the
     * server closes its side of every one. */
    assert_true(await_parked(s, CLIENTS));
    for (int i = 0; i < CLIENTS / 2; i++)
        curl_easy_cleanup(c[i]);
    assert_true(await_parked(s, CLIENTS / 2));
    for (int i = CLIENTS / 2; i < CLIENTS; i++)
        curl_easy_cleanup(c[i]);
    assert_int_equal(await_fds(before), before);
    assert_int_equal(parked(s), 0);
    server_free(s);
}

static void test_plain_http_connections_are_kept_alive_and_closed_with_their_client(void **state)
{
    kept_alive_then_closed(FALSE);
}

static void test_https_connections_are_kept_alive_and_closed_with_their_client(void **state)
{
    kept_alive_then_closed(TRUE);
}

/* Clients that close their connection as soon as they have their answer, one
 * after another, over TLS and plain HTTP: each end is the server's to see (its
 * connection parked before libsoup's next message could read it); a parked
 * connection whose end libsoup's waiting message had read could not be stolen
 * (libsoup 3.2 crashed). The server closes its side of every one. */
static void test_clients_closing_as_soon_as_answered_are_closed(void **state)
{
    for (int tls = 0; tls < 2; tls++) {
        Server *s = server_new(tls ? tls_conf : NULL, FALSE, 0);
        int before = fds_after_warm_up(s, tls);
        for (int i = 0; i < 200; i++) {
            CURL *c = curl_easy_init();
            Got g = get(s, c, tls, "/metrics", ADMIN);
            assert_int_equal(g.status, 200);
            g_free(g.body);
            curl_easy_cleanup(c);
        }
        assert_int_equal(await_fds(before), before);
        assert_int_equal(api_conns_idle(s->api->conns), 0);
        server_free(s);
    }
}

/* An agent's long-polls for orders, back to back, on one TLS connection, which
 * is parked and given back in between: each is held its whole wait (the reaper
 * of gone clients finds the socket of a connection given back). */
static void test_long_polls_reuse_their_connection(void **state)
{
    g_autofree char *conf = g_strconcat(tls_conf, "[scheduler]\nlongpoll_s = 3\n", NULL);
    Server *s = server_new(conf, TRUE, 0);
    CURL *c = curl_easy_init();
    for (int i = 0; i < 3; i++) {
        Got m = get(s, c, TRUE, "/metrics", ADMIN);
        assert_int_equal(m.new_connections, i == 0 ? 1 : 0);
        g_free(m.body);
        assert_true(await_parked(s, 1));
        gint64 t0 = g_get_monotonic_time();
        Got g = get(s, c, TRUE, "/api/v1/agent/orders?wait=3", s->token[0]);
        assert_int_equal(g.status, 200);
        assert_true(g_get_monotonic_time() - t0 >= 2900 * 1000); /* held to its end */
        assert_int_equal(g.new_connections, 0);
        g_free(g.body);
    }
    Got m = get(s, c, TRUE, "/metrics", ADMIN);
    assert_int_equal((int)metric(m.body, "iceprobe_controller_connections_total"), 1);
    g_free(m.body);
    curl_easy_cleanup(c);
    server_free(s);
}

typedef struct {
    Server *s;
    guint layers;
    gboolean done;
} Layers;

static gboolean layers_on_server(gpointer data)
{
    Layers *l = data;
    guint n = api_conns_parked_layers(l->s->api->conns);
    g_mutex_lock(&l->s->lock);
    l->layers = n;
    l->done = TRUE;
    g_cond_broadcast(&l->s->ready);
    g_mutex_unlock(&l->s->lock);
    return G_SOURCE_REMOVE;
}

/* The most layers of libsoup's over a parked connection, asked on the
 * server's thread. */
static guint parked_layers(Server *s)
{
    Layers l = {s, 0, FALSE};
    g_main_context_invoke(s->t[0].ctx, layers_on_server, &l);
    g_mutex_lock(&s->lock);
    while (!l.done)
        g_cond_wait(&s->ready, &s->lock);
    g_mutex_unlock(&s->lock);
    return l.layers;
}

/* One connection parked and given back again and again, as an agent's between
 * its long-polls: libsoup wraps what it is given back in a layer of its own (a
 * SoupIOStream); the connection is parked without it, so however often it is,
 * it has one layer when libsoup has it, none parked, and it still serves. */
static void parked_and_given_back(gboolean tls, int cycles)
{
    Server *s = server_new(tls ? tls_conf : NULL, FALSE, 0);
    CURL *c = curl_easy_init();
    for (int i = 0; i < cycles; i++) {
        Got g = get(s, c, tls, "/metrics", ADMIN);
        assert_int_equal(g.status, 200);
        assert_int_equal(g.new_connections, i == 0 ? 1 : 0);
        g_free(g.body);
        assert_true(await_parked(s, 1));
        guint layers = parked_layers(s);
        if (layers > 0)
            fail_msg("parked the %d. time, the connection is under %u SoupIOStream layers", i + 1,
                     layers);
    }
    curl_easy_cleanup(c);
    server_free(s);
}

static void test_a_connection_parked_fifty_times_keeps_one_layer_over_tls(void **state)
{
    parked_and_given_back(TRUE, 50);
}

static void test_a_connection_parked_often_keeps_one_layer_over_plain_http(void **state)
{
    parked_and_given_back(FALSE, 25);
}

static GSocket *connect_to(Server *s)
{
    GSocket *sock =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo, (guint16)s->port);
    assert_true(g_socket_connect(sock, to, NULL, NULL));
    g_socket_set_timeout(sock, 10);
    return sock;
}

static void send_all(GSocket *sock, const char *data, gsize len)
{
    while (len > 0) {
        gssize n = g_socket_send(sock, data, len, NULL, NULL);
        assert_true(n > 0);
        data += n;
        len -= (gsize)n;
    }
}

/* An HTTP answer read whole (its headers and Content-Length bytes). */
static gboolean answer_whole(const GString *got)
{
    const char *end = strstr(got->str, "\r\n\r\n");
    const char *cl = strcasestr(got->str, "Content-Length:");
    return end && cl && got->len >= (gsize)(end + 4 - got->str) + strtoul(cl + 15, NULL, 10);
}

/* A TLS client whose records this test sends itself, as it likes (OpenSSL on
 * memory BIOs over a plain socket). */
typedef struct {
    GSocket *sock;
    SSL *ssl;
    BIO *in, *out; /* the socket's bytes for OpenSSL; OpenSSL's for the socket */
} Tls;

/* What OpenSSL wrote, sent. */
static void tls_flush(Tls *t)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(t->out, buf, sizeof buf)) > 0)
        send_all(t->sock, buf, (gsize)n);
}

static void tls_receive(Tls *t)
{
    char buf[16384];
    gssize n = g_socket_receive(t->sock, buf, sizeof buf, NULL, NULL);
    assert_true(n > 0);
    assert_int_equal(BIO_write(t->in, buf, (int)n), n);
}

static Tls tls_connect(Server *s)
{
    Tls t = {connect_to(s), NULL, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem())};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, TLS_DIR "/ca.pem", NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    t.ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    SSL_set_bio(t.ssl, t.in, t.out);
    SSL_set_connect_state(t.ssl);
    int r;
    while ((r = SSL_do_handshake(t.ssl)) != 1) {
        assert_int_equal(SSL_get_error(t.ssl, r), SSL_ERROR_WANT_READ);
        tls_flush(&t);
        tls_receive(&t);
    }
    tls_flush(&t);
    return t;
}

static char *tls_read_answer(Tls *t)
{
    GString *got = g_string_new(NULL);
    char buf[4096];
    while (!answer_whole(got)) {
        int n = SSL_read(t->ssl, buf, sizeof buf);
        if (n > 0) {
            g_string_append_len(got, buf, n);
            continue;
        }
        assert_int_equal(SSL_get_error(t->ssl, n), SSL_ERROR_WANT_READ);
        tls_flush(t);
        tls_receive(t);
    }
    return g_string_free(got, FALSE);
}

/* A request's first TLS record whose header comes in pieces to a parked
 * connection: data is arriving, so the connection is busy (given back to
 * libsoup), neither idle nor closed for idleness, and the request is answered
 * when the rest comes. */
static void test_a_tls_record_header_in_pieces_is_a_request_arriving(void **state)
{
    Server *s = server_new(tls_conf, FALSE, 0);
    Tls t = tls_connect(s);
    g_autofree char *req = g_strdup_printf(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", ADMIN);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(SSL_write(t.ssl, req, (int)strlen(req)), (int)strlen(req));
        if (i == 0) {
            tls_flush(&t);
        } else {
            /* The parked connection gets the record's first 3 bytes, then nothing. */
            char rec[4096];
            int len = BIO_read(t.out, rec, sizeof rec);
            assert_true(len > 33);
            send_all(t.sock, rec, 3);
            assert_true(await_idle(s, 0));
            assert_int_equal(parked(s), 0);
            g_usleep(300000); /* busy still: not parked again */
            assert_int_equal(api_conns_idle(s->api->conns), 0);
            send_all(t.sock, rec + 3, (gsize)len - 3);
        }
        g_autofree char *answer = tls_read_answer(&t);
        assert_non_null(strstr(answer, "HTTP/1.1 200"));
        if (i == 0)
            assert_true(await_parked(s, 1));
    }
    SSL_free(t.ssl);
    g_object_unref(t.sock);
    server_free(s);
}

static char *read_to_eof(GSocket *sock, gssize *last)
{
    GString *got = g_string_new(NULL);
    char buf[4096];
    g_socket_set_timeout(sock, 10);
    while ((*last = g_socket_receive(sock, buf, sizeof buf, NULL, NULL)) > 0)
        g_string_append_len(got, buf, *last);
    return g_string_free(got, FALSE);
}

/* A plain-HTTP client that sends its request and then shuts its sending side
 * (allowed: it still reads) gets its answer, on a new connection and on one
 * kept alive; then the server closes. */
static void test_a_request_sent_before_a_half_close_is_answered(void **state)
{
    Server *s = server_new(NULL, FALSE, 0);
    int before = fds_after_warm_up(s, FALSE);
    g_autofree char *req = g_strdup_printf(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", ADMIN);
    gssize len = (gssize)strlen(req);
    for (int kept = 0; kept < 2; kept++) {
        g_autoptr(GSocket) sock = connect_to(s);
        if (kept) {
            /* A first answer read whole (Content-Length), the connection idle. */
            send_all(sock, req, (gsize)len);
            g_autoptr(GString) got = g_string_new(NULL);
            char buf[4096];
            while (!answer_whole(got)) {
                gssize n = g_socket_receive(sock, buf, sizeof buf, NULL, NULL);
                assert_true(n > 0);
                g_string_append_len(got, buf, n);
            }
            g_usleep(100000);
        }
        assert_true(g_socket_send(sock, req, len, NULL, NULL) == len);
        assert_true(shutdown(g_socket_get_fd(sock), SHUT_WR) == 0);
        gssize last;
        g_autofree char *got = read_to_eof(sock, &last);
        assert_int_equal(last, 0); /* the server closed, after answering */
        assert_non_null(strstr(got, "HTTP/1.1 200"));
    }
    assert_int_equal(await_fds(before), before);
    server_free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_http_connections_are_kept_alive_and_closed_with_their_client),
        cmocka_unit_test(test_https_connections_are_kept_alive_and_closed_with_their_client),
        cmocka_unit_test(test_clients_closing_as_soon_as_answered_are_closed),
        cmocka_unit_test(test_long_polls_reuse_their_connection),
        cmocka_unit_test(test_a_request_sent_before_a_half_close_is_answered),
        cmocka_unit_test(test_a_connection_parked_fifty_times_keeps_one_layer_over_tls),
        cmocka_unit_test(test_a_connection_parked_often_keeps_one_layer_over_plain_http),
        cmocka_unit_test(test_a_tls_record_header_in_pieces_is_a_request_arriving),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
