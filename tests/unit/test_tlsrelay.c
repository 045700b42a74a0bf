/* tlsrelay against an in-process TLS server on loopback (OpenSSL over the
 * socket seam, loopback-server.h: Linux, and Windows under Wine), with the
 * certificates of tests/unit/data/tls: a CA, an edge certificate it signed for
 * edge.test and 127.0.0.1, and another CA. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "loopback-server.h" /* Windows: Winsock before OpenSSL's headers */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "tcpstats.h"
#include "tlsrelay.h"

#define TLS_DIR UNIT_DATA_DIR "/tls"

typedef enum {
    SERVE_TLS_ECHO,            /* handshake, then echo what comes */
    SERVE_CLOSE_MID_HANDSHAKE, /* read the ClientHello, then close */
    SERVE_SILENT,              /* accept and never answer */
} ServeMode;

typedef struct {
    ServeMode mode;
    PSock listener;
    guint port;
    LoopbackStop stop; /* signalled when the test is over */
    GThread *thread;
    SSL_CTX *ctx;
} Server;

static void serve_one(Server *s, PSock c)
{
    if (s->mode == SERVE_SILENT) {
        loopback_stop_wait(&s->stop);
    } else if (s->mode == SERVE_CLOSE_MID_HANDSHAKE) {
        guint8 buf[512];
        if (loopback_wait_readable(c, &s->stop, 2000) == 1)
            (void)!psock_recv(c, buf, sizeof(buf));
    } else {
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, (int)c); /* Windows: OpenSSL takes the SOCKET as an int */
        if (SSL_accept(ssl) == 1) {
            char buf[1024];
            int n;
            while (loopback_wait_readable(c, &s->stop, -1) == 1 &&
                   (n = SSL_read(ssl, buf, sizeof(buf))) > 0)
                SSL_write(ssl, buf, n);
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
    }
    psock_close(c);
}

static gpointer server_thread(gpointer data)
{
    Server *s = data;
    while (loopback_wait_readable(s->listener, &s->stop, -1) == 1) {
        PSock c = psock_accept(s->listener);
        if (c != PSOCK_NONE)
            serve_one(s, c);
    }
    return NULL;
}

static Server *server_start(ServeMode mode)
{
    Server *s = g_new0(Server, 1);
    s->mode = mode;
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate_file(s->ctx, TLS_DIR "/edge.pem", SSL_FILETYPE_PEM),
                     1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, TLS_DIR "/edge.key", SSL_FILETYPE_PEM), 1);
    s->listener = loopback_socket(SOCK_STREAM, &s->port);
    assert_true(s->listener != PSOCK_NONE);
    loopback_stop_init(&s->stop);
    s->thread = g_thread_new("tls-server", server_thread, s);
    return s;
}

static void server_stop(Server *s)
{
    loopback_stop_signal(&s->stop);
    g_thread_join(s->thread);
    psock_close(s->listener);
    loopback_stop_clear(&s->stop);
    SSL_CTX_free(s->ctx);
    g_free(s);
}

/* The edge certificate's SHA-256, as a pin. */
static char *edge_pin(void)
{
    FILE *f = fopen(TLS_DIR "/edge.pem", "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509_digest(x, EVP_sha256(), md, &n);
    X509_free(x);
    GString *hex = g_string_new(NULL);
    for (unsigned int i = 0; i < n; i++)
        g_string_append_printf(hex, "%02x", md[i]);
    return g_string_free(hex, FALSE);
}

static TlsRelayConfig config(Server *s, const char *ca, const char *pin, const char *name)
{
    return (TlsRelayConfig){.edge_ip = "127.0.0.1",
                            .port = s->port,
                            .tls = TRUE,
                            .ca_file = (char *)ca,
                            .pin_sha256 = (char *)pin,
                            .server_name = (char *)name,
                            .timeout_ms = 2000};
}

static void expect_refused(Server *s, TlsRelayConfig cfg, TlsRelayError code, const char *part,
                           TlsPeerInfo *info)
{
    g_autoptr(GError) error = NULL;
    TlsRelayConn *c = tlsrelay_connect(&cfg, info, &error);
    assert_null(c);
    assert_true(g_error_matches(error, TLSRELAY_ERROR, code));
    if (!strstr(error->message, part))
        fail_msg("'%s' does not say '%s'", error->message, part);
}

static void test_the_edge_is_verified_and_carries_bytes(void **state)
{
    Server *s = server_start(SERVE_TLS_ECHO);
    TlsRelayConfig cfg = config(s, TLS_DIR "/ca.pem", NULL, "edge.test");
    TlsPeerInfo info = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TlsRelayConn) c = tlsrelay_connect(&cfg, &info, &error);
    assert_non_null(c);
    assert_true(info.handshake_done && info.chain_ok);
    assert_non_null(strstr(info.subject, "edge.test"));
    assert_non_null(info.local_address);
    assert_true(tlsrelay_conn_send(c, (const guint8 *)"ping", 4, &error));
    guint8 buf[16];
    assert_int_equal(tlsrelay_conn_recv(c, buf, sizeof(buf), 2000, &error), 4);
    assert_memory_equal(buf, "ping", 4);
    g_clear_pointer(&c, tlsrelay_conn_close); /* the server takes one at a time */
    /* The address as a name: the certificate names 127.0.0.1 too. */
    TlsPeerInfo by_ip = {0};
    TlsRelayConfig ip = config(s, TLS_DIR "/ca.pem", NULL, "127.0.0.1");
    g_autoptr(TlsRelayConn) c2 = tlsrelay_connect(&ip, &by_ip, &error);
    assert_non_null(c2);
    tls_peer_info_clear(&by_ip);
    tls_peer_info_clear(&info);
    g_clear_pointer(&c2, tlsrelay_conn_close);
    server_stop(s);
}

static void test_a_certificate_from_another_ca_is_refused_and_described(void **state)
{
    Server *s = server_start(SERVE_TLS_ECHO);
    TlsPeerInfo info = {0};
    expect_refused(s, config(s, TLS_DIR "/other-ca.pem", NULL, "edge.test"), TLSRELAY_ERROR_VERIFY,
                   "not trusted", &info);
    assert_true(info.handshake_done);
    assert_false(info.chain_ok);
    assert_non_null(strstr(info.subject, "edge.test")); /* what the middlebox showed */
    assert_int_equal(strlen(info.leaf_sha256), 64);
    tls_peer_info_clear(&info);
    server_stop(s);
}

static void test_the_pin_decides_alone_when_no_ca_is_given(void **state)
{
    Server *s = server_start(SERVE_TLS_ECHO);
    g_autofree char *pin = edge_pin();
    TlsPeerInfo info = {0};
    expect_refused(s,
                   config(s, NULL,
                          "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                          "edge.test"),
                   TLSRELAY_ERROR_VERIFY, "is not the pinned", &info);
    assert_true(info.pin_checked);
    assert_false(info.pin_ok);
    assert_string_equal(info.leaf_sha256, pin);
    tls_peer_info_clear(&info);

    TlsRelayConfig right = config(s, NULL, pin, "edge.test");
    g_autoptr(GError) error = NULL;
    g_autoptr(TlsRelayConn) c = tlsrelay_connect(&right, &info, &error);
    assert_non_null(c);
    assert_true(info.pin_ok);
    tls_peer_info_clear(&info);
    g_clear_pointer(&c, tlsrelay_conn_close);
    server_stop(s);
}

static void test_a_certificate_for_another_name_is_refused(void **state)
{
    Server *s = server_start(SERVE_TLS_ECHO);
    TlsPeerInfo info = {0};
    expect_refused(s, config(s, TLS_DIR "/ca.pem", NULL, "av.corp.example"), TLSRELAY_ERROR_VERIFY,
                   "not trusted", &info);
    assert_non_null(strstr(info.verify_error, "mismatch"));
    tls_peer_info_clear(&info);
    server_stop(s);
}

static void test_a_server_closing_mid_handshake_is_a_tls_error(void **state)
{
    Server *s = server_start(SERVE_CLOSE_MID_HANDSHAKE);
    TlsPeerInfo info = {0};
    expect_refused(s, config(s, TLS_DIR "/ca.pem", NULL, "edge.test"), TLSRELAY_ERROR_TLS,
                   "TLS handshake with 127.0.0.1", &info);
    assert_false(info.handshake_done);
    tls_peer_info_clear(&info);
    server_stop(s);
}

static void test_a_silent_server_costs_the_timeout_not_more(void **state)
{
    Server *s = server_start(SERVE_SILENT);
    TlsRelayConfig cfg = config(s, TLS_DIR "/ca.pem", NULL, "edge.test");
    cfg.timeout_ms = 300;
    TlsPeerInfo info = {0};
    gint64 t0 = g_get_monotonic_time();
    expect_refused(s, cfg, TLSRELAY_ERROR_TLS, "no answer in time", &info);
    gint64 took = (g_get_monotonic_time() - t0) / 1000;
    assert_true(took >= 250 && took < 1500);
    tls_peer_info_clear(&info);
    server_stop(s);
}

static void test_nothing_listening_is_a_connect_error(void **state)
{
    Server *s = server_start(SERVE_SILENT);
    guint port = s->port;
    server_stop(s); /* the port is closed now */
    TlsRelayConfig cfg = {.edge_ip = "127.0.0.1", .port = port, .timeout_ms = 1000};
    TlsPeerInfo info = {0};
    g_autoptr(GError) error = NULL;
    assert_null(tlsrelay_connect(&cfg, &info, &error));
    assert_true(g_error_matches(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT));
    assert_non_null(strstr(error->message, "refused"));
    tls_peer_info_clear(&info);
}

static PSock connect_loopback(guint port)
{
    PSock c = loopback_connect(port);
    assert_true(c != PSOCK_NONE);
    return c;
}

static void test_the_forwarder_carries_counts_and_stops_at_once(void **state)
{
    Server *s = server_start(SERVE_TLS_ECHO);
    TlsRelayConfig cfg = config(s, TLS_DIR "/ca.pem", NULL, "edge.test");
    g_autoptr(GError) error = NULL;
    TlsRelay *r = tlsrelay_start(&cfg, &error);
    assert_non_null(r);
    PSock c = connect_loopback(tlsrelay_port(r));
    assert_int_equal(psock_send(c, "hello", 5), 5);
    char buf[16] = {0};
    assert_int_equal(loopback_wait_readable(c, NULL, 3000), 1);
    assert_int_equal(psock_recv(c, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "hello");
    g_autoptr(GPtrArray) locals = tlsrelay_local_addresses(r);
    assert_int_equal(locals->len, 1);
    guint64 out = 0, in = 0;
    ConnCounter by = CONN_COUNTER_UNSAID;
    gboolean counted = tlsrelay_counts(r, &out, &in, &by);
#ifndef G_OS_WIN32
    assert_true(counted && by == CONN_COUNTER_TCP_INFO); /* Linux counts any process's sockets */
#endif
    if (counted) {
        assert_true(conn_counter_name(by) != NULL);
        assert_true(out >= 3 && in >= 3); /* handshake and the bytes (segments or bytes) */
    } else {
        /* Wine: neither the extended TCP statistics nor SIO_TCP_INFO; the system
         * does not count them here, and says so for any connection. */
        g_autofree char *why = NULL;
        ConnCounter none = CONN_COUNTER_UNSAID;
        assert_false(tcpstats_start(c, &none, &why));
        assert_non_null(why);
        print_message("the connection's counts not checked here: %s\n", why);
    }
    /* An idle connection: stopping does not wait for a poll to time out. */
    gint64 t0 = g_get_monotonic_time();
    tlsrelay_stop(r);
    assert_true(g_get_monotonic_time() - t0 < 100 * 1000);
    psock_close(c);
    server_stop(s);
}

static void test_a_forwarder_mid_handshake_stops_at_once(void **state)
{
    Server *s = server_start(SERVE_SILENT);
    TlsRelayConfig cfg = config(s, TLS_DIR "/ca.pem", NULL, "edge.test");
    cfg.timeout_ms = 10000;
    g_autoptr(GError) error = NULL;
    TlsRelay *r = tlsrelay_start(&cfg, &error);
    PSock c = connect_loopback(tlsrelay_port(r));
    g_usleep(100 * 1000); /* the forwarder is in its handshake with the silent server */
    gint64 t0 = g_get_monotonic_time();
    tlsrelay_stop(r);
    assert_true(g_get_monotonic_time() - t0 < 100 * 1000);
    psock_close(c);
    server_stop(s);
}

int main(void)
{
    psock_init(); /* as iceprobe's main does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_edge_is_verified_and_carries_bytes),
        cmocka_unit_test(test_a_certificate_from_another_ca_is_refused_and_described),
        cmocka_unit_test(test_the_pin_decides_alone_when_no_ca_is_given),
        cmocka_unit_test(test_a_certificate_for_another_name_is_refused),
        cmocka_unit_test(test_a_server_closing_mid_handshake_is_a_tls_error),
        cmocka_unit_test(test_a_silent_server_costs_the_timeout_not_more),
        cmocka_unit_test(test_nothing_listening_is_a_connect_error),
        cmocka_unit_test(test_the_forwarder_carries_counts_and_stops_at_once),
        cmocka_unit_test(test_a_forwarder_mid_handshake_stops_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
