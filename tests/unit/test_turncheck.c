/* turncheck against a STUN/TURN responder on loopback, built with libnice's own
 * STUN library (long-term credentials, as coturn answers): the normal 401
 * challenge then success (and the release), 403, a wrong secret, silence, and
 * answers that are not STUN, over UDP and TCP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <stun/stunagent.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <sys/wait.h>

#include "turncheck.h"

#define REALM    "unit.test"
#define USER     "1900000000:iceprobe"
#define PASSWORD "correct horse battery staple"

typedef enum {
    ANSWER_ALLOCATE,  /* 401 with realm and nonce, then the allocation */
    ANSWER_FORBIDDEN, /* 401, then 403 */
    ANSWER_SILENT,
    ANSWER_NOT_STUN,
} Answer;

typedef struct {
    Answer answer;
    const char *password; /* what the responder takes as the user's */
    gboolean tcp;
    int fd; /* UDP socket or TCP listener */
    guint port;
    int stop[2];
    GThread *thread;
    gint allocations, releases; /* signed requests answered */
} Responder;

static bool validate(StunAgent *agent, StunMessage *message, uint8_t *username,
                     uint16_t username_len, uint8_t **password, size_t *password_len,
                     void *user_data)
{
    Responder *r = user_data;
    *password = (uint8_t *)r->password;
    *password_len = strlen(r->password);
    return TRUE;
}

/* One answer to one request, into out; its length, 0 for none. */
static size_t answer(Responder *r, StunAgent *agent, const guint8 *req, size_t len,
                     const struct sockaddr_storage *from, socklen_t fromlen, guint8 *out,
                     size_t cap)
{
    if (r->answer == ANSWER_SILENT)
        return 0;
    if (r->answer == ANSWER_NOT_STUN) {
        memset(out, 0xff, 24);
        return 24;
    }
    StunMessage msg, resp;
    StunValidationStatus v = stun_agent_validate(agent, &msg, req, len, validate, r);
    if (v == STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST || v == STUN_VALIDATION_UNAUTHORIZED) {
        stun_agent_init_error(agent, &resp, out, cap, &msg, STUN_ERROR_UNAUTHORIZED);
        stun_message_append_string(&resp, STUN_ATTRIBUTE_REALM, REALM);
        stun_message_append_string(&resp, STUN_ATTRIBUTE_NONCE, "0123456789abcdef");
        return stun_agent_finish_message(agent, &resp, NULL, 0);
    }
    if (v != STUN_VALIDATION_SUCCESS)
        return 0;
    if (r->answer == ANSWER_FORBIDDEN) {
        stun_agent_init_error(agent, &resp, out, cap, &msg, STUN_ERROR_FORBIDDEN);
        return stun_agent_finish_message(agent, &resp, NULL, 0);
    }
    stun_agent_init_response(agent, &resp, out, cap, &msg);
    if (stun_message_get_method(&msg) == STUN_ALLOCATE) {
        struct sockaddr_in relay = {.sin_family = AF_INET, .sin_port = htons(50000)};
        relay.sin_addr.s_addr = htonl(0xc6336407); /* 198.51.100.7 */
        stun_message_append_xor_addr(&resp, STUN_ATTRIBUTE_XOR_RELAYED_ADDRESS,
                                     (struct sockaddr_storage *)&relay, sizeof(relay));
        stun_message_append_xor_addr(&resp, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, from, fromlen);
        stun_message_append32(&resp, STUN_ATTRIBUTE_LIFETIME, 600);
        g_atomic_int_inc(&r->allocations);
    } else if (stun_message_get_method(&msg) == STUN_REFRESH) {
        uint32_t lifetime = 1;
        stun_message_find32(&msg, STUN_ATTRIBUTE_LIFETIME, &lifetime);
        stun_message_append32(&resp, STUN_ATTRIBUTE_LIFETIME, 0);
        if (lifetime == 0)
            g_atomic_int_inc(&r->releases);
    }
    return stun_agent_finish_message(agent, &resp, NULL, 0);
}

static gboolean wait_readable(Responder *r, int fd)
{
    struct pollfd p[2] = {{fd, POLLIN, 0}, {r->stop[0], POLLIN, 0}};
    return poll(p, 2, -1) > 0 && !p[1].revents;
}

static gpointer responder_thread(gpointer data)
{
    Responder *r = data;
    StunAgent agent;
    stun_agent_init(&agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_LONG_TERM_CREDENTIALS);
    guint8 buf[2048], out[2048];
    if (!r->tcp) {
        while (wait_readable(r, r->fd)) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(r->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            size_t m = n > 0 ? answer(r, &agent, buf, (size_t)n, &from, fl, out, sizeof(out)) : 0;
            if (m)
                sendto(r->fd, out, m, 0, (struct sockaddr *)&from, fl);
        }
        return NULL;
    }
    while (wait_readable(r, r->fd)) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        int c = accept(r->fd, (struct sockaddr *)&from, &fl);
        gsize have = 0;
        while (c >= 0 && wait_readable(r, c)) {
            ssize_t n = recv(c, buf + have, sizeof(buf) - have, 0);
            if (n <= 0)
                break;
            have += (gsize)n;
            gssize frame;
            while ((frame = turncheck_stun_frame_length(buf, have)) > 0) {
                size_t m = answer(r, &agent, buf, (size_t)frame, &from, fl, out, sizeof(out));
                if (m)
                    (void)!send(c, out, m, MSG_NOSIGNAL);
                memmove(buf, buf + frame, have - (gsize)frame);
                have -= (gsize)frame;
            }
        }
        if (c >= 0)
            close(c);
    }
    return NULL;
}

static Responder *responder_start(Answer a, const char *password, gboolean tcp)
{
    Responder *r = g_new0(Responder, 1);
    r->answer = a;
    r->password = password;
    r->tcp = tcp;
    r->fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&in, sizeof(in)), 0);
    if (tcp)
        assert_int_equal(listen(r->fd, 4), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&in, &len), 0);
    r->port = ntohs(in.sin_port);
    assert_int_equal(pipe(r->stop), 0);
    r->thread = g_thread_new("stun-responder", responder_thread, r);
    return r;
}

static void responder_stop(Responder *r)
{
    assert_int_equal(write(r->stop[1], "x", 1), 1);
    g_thread_join(r->thread);
    close(r->fd);
    close(r->stop[0]);
    close(r->stop[1]);
    g_free(r);
}

static void check(Responder *r, guint timeout_ms, TurnCheckResult *out)
{
    TurnCredentials cred = {USER, PASSWORD};
    turncheck_run("127.0.0.1", r->port, r->tcp ? TURNCHECK_TCP : TURNCHECK_UDP, FALSE, &cred, NULL,
                  timeout_ms, out);
}

static void assert_says(const char *text, const char *part)
{
    if (!text || !strstr(text, part))
        fail_msg("'%s' does not say '%s'", text ? text : "(null)", part);
}

static void allocates_and_releases(gboolean tcp)
{
    Responder *r = responder_start(ANSWER_ALLOCATE, PASSWORD, tcp);
    TurnCheckResult out;
    check(r, 2000, &out);
    assert_true(out.ok);
    assert_null(out.failure);
    assert_string_equal(out.relayed_address, "198.51.100.7:50000");
    assert_non_null(out.local_address);
    assert_int_equal(out.error_code, 0);
    assert_int_equal(g_atomic_int_get(&r->allocations), 1);
    assert_int_equal(g_atomic_int_get(&r->releases), 1); /* the allocation was given back */
    turncheck_result_clear(&out);
    responder_stop(r);
}

static void test_401_then_the_allocation_over_udp(void **state)
{
    allocates_and_releases(FALSE);
}

static void test_401_then_the_allocation_over_tcp(void **state)
{
    allocates_and_releases(TRUE);
}

static void test_403_is_named(void **state)
{
    Responder *r = responder_start(ANSWER_FORBIDDEN, PASSWORD, FALSE);
    TurnCheckResult out;
    check(r, 2000, &out);
    assert_false(out.ok);
    assert_int_equal(out.error_code, 403);
    assert_says(out.failure, ": 403 ");
    turncheck_result_clear(&out);
    responder_stop(r);
}

static void test_a_wrong_secret_is_a_second_401_with_the_realm(void **state)
{
    Responder *r = responder_start(ANSWER_ALLOCATE, "another secret", FALSE);
    TurnCheckResult out;
    check(r, 2000, &out);
    assert_false(out.ok);
    assert_int_equal(out.error_code, 401);
    assert_string_equal(out.realm, REALM);
    assert_says(out.failure, "the credentials were refused");
    assert_int_equal(g_atomic_int_get(&r->allocations), 0);
    turncheck_result_clear(&out);
    responder_stop(r);
}

static void test_silence_is_a_timeout_in_the_time_given(void **state)
{
    Responder *r = responder_start(ANSWER_SILENT, PASSWORD, FALSE);
    TurnCheckResult out;
    check(r, 600, &out);
    assert_false(out.ok);
    assert_says(out.failure, "timeout: no answer from 127.0.0.1:");
    assert_true(out.duration_ms >= 550 && out.duration_ms < 1500);
    turncheck_result_clear(&out);
    responder_stop(r);
}

static void test_an_answer_that_is_not_stun_is_named(void **state)
{
    Responder *r = responder_start(ANSWER_NOT_STUN, PASSWORD, FALSE);
    TurnCheckResult out;
    check(r, 2000, &out);
    assert_false(out.ok);
    assert_says(out.failure, "is not a valid STUN response");
    turncheck_result_clear(&out);
    responder_stop(r);

    r = responder_start(ANSWER_NOT_STUN, PASSWORD, TRUE);
    check(r, 2000, &out);
    assert_false(out.ok);
    assert_says(out.failure, "answered with something that is not STUN");
    turncheck_result_clear(&out);
    responder_stop(r);
}

static void test_stun_framing_over_tcp(void **state)
{
    guint8 hdr[28] = {0x01, 0x03, 0x00, 0x08}; /* an Allocate with 8 bytes of attributes */
    assert_int_equal(turncheck_stun_frame_length(hdr, 10), 0);  /* more is needed */
    assert_int_equal(turncheck_stun_frame_length(hdr, 27), 0);  /* still more */
    assert_int_equal(turncheck_stun_frame_length(hdr, 28), 28); /* a whole one */
    hdr[0] = 0x40;                                              /* ChannelData, not STUN */
    assert_int_equal(turncheck_stun_frame_length(hdr, 28), -1);
    hdr[0] = 0x01;
    hdr[23] = 0x08; /* an attribute longer than the message */
    assert_int_equal(turncheck_stun_frame_length(hdr, 28), -1);
    guint8 big[TURNCHECK_MAX_MESSAGE] = {0x01, 0x01, 0xff, 0xfc}; /* over the cap */
    assert_int_equal(turncheck_stun_frame_length(big, 20), 0);
    assert_int_equal(turncheck_stun_frame_length(big, sizeof(big)), -1);
}

/* ---- MS-TURN: against the lab's relay (tests/lab/tools/msturn.c) on loopback,
 * and against TLS endpoints and cut connections on its pseudo-TLS port ---- */

#define MS_REALM "unit.test"

typedef struct {
    GPid pid;
    guint udp, tcp, tls;
    char *user, *password; /* base64, as MRAS hands them out */
} MsRelay;

static guint free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    close(fd);
    return ntohs(in.sin_port);
}

static gboolean tcp_listening(guint port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((guint16)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    gboolean ok = connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0;
    close(fd);
    return ok;
}

static MsRelay *ms_relay_start(void)
{
    MsRelay *r = g_new0(MsRelay, 1);
    r->user = g_base64_encode((const guchar *)"probe@unit.test", 15);
    r->password = g_base64_encode((const guchar *)"0123456789abcdef", 16);
    r->udp = free_port(SOCK_DGRAM);
    r->tcp = free_port(SOCK_STREAM);
    r->tls = free_port(SOCK_STREAM);
    g_autofree char *udp = g_strdup_printf("%u", r->udp), *tcp = g_strdup_printf("%u", r->tcp),
                    *tls = g_strdup_printf("%u", r->tls);
    const char *argv[] = {g_getenv("ICEPROBE_MSTURN"), "--listen", "127.0.0.1", "--udp", udp,
                          "--tcp", tcp, "--tls", tls, "--realm", MS_REALM, "--user", r->user,
                          "--password", r->password, "--log", "/dev/null", NULL};
    g_autoptr(GError) e = NULL;
    if (!g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r->pid, &e))
        fail_msg("cannot start the relay %s: %s", argv[0], e->message);
    for (int i = 0; i < 200 && !(tcp_listening(r->tcp) && tcp_listening(r->tls)); i++)
        g_usleep(10000);
    assert_true(tcp_listening(r->tls));
    return r;
}

static void ms_relay_stop(MsRelay *r)
{
    kill(r->pid, SIGTERM);
    g_spawn_close_pid(r->pid);
    int status;
    waitpid(r->pid, &status, 0);
    g_free(r->user);
    g_free(r->password);
    g_free(r);
}

static void ms_check(guint port, TurnCheckTransport t, const char *user, const char *password,
                     guint timeout_ms, TurnCheckResult *out)
{
    TurnCredentials cred = {(char *)user, (char *)password};
    TlsRelayConfig tls = {.edge_ip = "127.0.0.1", .port = port, .ca_file = UNIT_DATA_DIR "/tls/ca.pem",
                          .server_name = "edge.corp.example"};
    turncheck_run("127.0.0.1", port, t, TRUE, &cred, &tls, timeout_ms, out);
}

static void test_ms_turn_allocates_over_udp_tcp_and_pseudo_tls(void **state)
{
    MsRelay *r = ms_relay_start();
    const struct {
        TurnCheckTransport t;
        guint port;
    } each[] = {{TURNCHECK_UDP, r->udp}, {TURNCHECK_TCP, r->tcp}, {TURNCHECK_TLS, r->tls}};
    for (gsize i = 0; i < G_N_ELEMENTS(each); i++) {
        TurnCheckResult out;
        ms_check(each[i].port, each[i].t, r->user, r->password, 3000, &out);
        if (!out.ok)
            fail_msg("%s: %s", turncheck_transport_name(each[i].t), out.failure);
        assert_true(g_str_has_prefix(out.relayed_address, "127.0.0.1:"));
        assert_non_null(out.mapped_address); /* XOR-MAPPED-ADDRESS (0x8020) */
        assert_int_equal(out.pseudo_tls_tried, each[i].t == TURNCHECK_TLS);
        if (each[i].t == TURNCHECK_TLS)
            assert_int_equal(out.pseudo_tls, PSEUDO_TLS_OK);
        turncheck_result_clear(&out);
    }
    ms_relay_stop(r);
}

static void test_ms_turn_names_refused_mras_credentials(void **state)
{
    MsRelay *r = ms_relay_start();
    g_autofree char *wrong = g_base64_encode((const guchar *)"not the password", 16);
    TurnCheckResult out;
    ms_check(r->tcp, TURNCHECK_TCP, r->user, wrong, 3000, &out);
    assert_false(out.ok);
    assert_int_equal(out.error_code, 431); /* [MS-TURN] 3.3.5.1 */
    assert_string_equal(out.realm, MS_REALM);
    assert_says(out.failure, "MRAS credentials lapsed or for another pool?");
    turncheck_result_clear(&out);
    ms_relay_stop(r);
}

/* A TLS endpoint (a decrypting box) on the pseudo-TLS port: it refuses the
 * pseudo-TLS hello, and a real handshake shows its certificate. */
typedef struct {
    int fd;
    guint port;
    int mode; /* 0 TLS server, 1 close at once, 2 reset, 3 silent */
    GThread *thread;
} Box;

static gpointer box_thread(gpointer data)
{
    Box *b = data;
    SSL_CTX *ctx = NULL;
    if (b->mode == 0) {
        ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate_file(ctx, UNIT_DATA_DIR "/tls/edge.pem", SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, UNIT_DATA_DIR "/tls/edge.key", SSL_FILETYPE_PEM);
    }
    for (int n = 0; n < 2; n++) { /* the hello, then (TLS) the real handshake */
        int c = accept(b->fd, NULL, NULL);
        if (c < 0)
            break;
        if (b->mode == 0) {
            SSL *ssl = SSL_new(ctx);
            SSL_set_fd(ssl, c);
            SSL_accept(ssl);
            SSL_free(ssl);
        } else if (b->mode == 1 || b->mode == 2) {
            /* the hello read first: closing with unread data would reset */
            char buf[PSEUDO_TLS_HELLO_LEN];
            (void)!recv(c, buf, sizeof(buf), MSG_WAITALL);
            struct linger l = {1, 0};
            if (b->mode == 2)
                setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        } else if (b->mode == 3) {
            g_usleep(900000);
        }
        close(c);
        if (b->mode != 0)
            break;
    }
    if (ctx)
        SSL_CTX_free(ctx);
    return NULL;
}

static Box *box_start(int mode)
{
    Box *b = g_new0(Box, 1);
    b->mode = mode;
    b->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    assert_int_equal(bind(b->fd, (struct sockaddr *)&in, sizeof(in)), 0);
    assert_int_equal(listen(b->fd, 4), 0);
    assert_int_equal(getsockname(b->fd, (struct sockaddr *)&in, &len), 0);
    b->port = ntohs(in.sin_port);
    b->thread = g_thread_new("box", box_thread, b);
    return b;
}

static void box_stop(Box *b)
{
    shutdown(b->fd, SHUT_RDWR);
    g_thread_join(b->thread);
    close(b->fd);
    g_free(b);
}

static void test_ms_turn_pseudo_tls_answered_by_a_tls_endpoint(void **state)
{
    Box *b = box_start(0);
    TurnCheckResult out;
    ms_check(b->port, TURNCHECK_TLS, "QQ==", "QQ==", 2000, &out);
    assert_false(out.ok);
    assert_true(out.tcp_connected);
    /* OpenSSL 3 refuses TLS 1.0 and cipher 0x0018 with an alert */
    assert_int_equal(out.pseudo_tls, PSEUDO_TLS_ALERT);
    assert_says(out.failure, "answered with a TLS alert");
    assert_true(out.tls.handshake_done);
    assert_says(out.tls.subject, "CN=edge.test"); /* the box's certificate, named */
    turncheck_result_clear(&out);
    box_stop(b);
}

static void test_ms_turn_pseudo_tls_cut(void **state)
{
    const struct {
        int mode;
        PseudoTlsAnswer want;
        const char *says;
    } each[] = {{1, PSEUDO_TLS_CLOSED, "closed the connection after the hello"},
                {2, PSEUDO_TLS_RESET, "reset the connection after the hello"},
                {3, PSEUDO_TLS_SILENT, "it said nothing for 400 ms after the hello"}};
    for (gsize i = 0; i < G_N_ELEMENTS(each); i++) {
        Box *b = box_start(each[i].mode);
        TurnCheckResult out;
        ms_check(b->port, TURNCHECK_TLS, "QQ==", "QQ==", 400, &out);
        assert_false(out.ok);
        assert_true(out.tcp_connected);
        assert_int_equal(out.pseudo_tls, each[i].want);
        assert_says(out.failure, each[i].says);
        assert_false(out.tls.handshake_done); /* nothing to name */
        turncheck_result_clear(&out);
        box_stop(b);
    }
}

static void test_ms_turn_framing(void **state)
{
    guint8 f[8] = {0x02, 0x00, 0x00, 0x04};
    assert_int_equal(turncheck_ms_frame_length(f, 3), 0);
    assert_int_equal(turncheck_ms_frame_length(f, 7), 0);
    assert_int_equal(turncheck_ms_frame_length(f, 8), 8);
    f[0] = 0x03; /* data */
    assert_int_equal(turncheck_ms_frame_length(f, 8), 8);
    f[0] = 0x01; /* neither */
    assert_int_equal(turncheck_ms_frame_length(f, 8), -1);
    guint8 big[4] = {0x02, 0x00, 0xff, 0xff};
    assert_int_equal(turncheck_ms_frame_length(big, 4), -1);
    guint8 reply[PSEUDO_TLS_REPLY_LEN] = {0x16, 0x03, 0x01, 0x00, 0x4e, 0x02, 0x00, 0x00,
                                          0x46, 0x03, 0x01, [43] = 0x20, [77] = 0x18, [79] = 0x0e};
    memset(reply + 11, 0xab, 32); /* the random and session id are free */
    memset(reply + 44, 0xcd, 32);
    assert_true(pseudo_tls_reply_ok(reply, sizeof(reply)));
    reply[77] = 0x2f; /* another cipher */
    assert_false(pseudo_tls_reply_ok(reply, sizeof(reply)));
    assert_false(pseudo_tls_reply_ok(reply, 82));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as iceprobe's main does */
    /* With the lab's MS-TURN relay (tests/lab/meson.build runs this so), the
     * MS-TURN allocations against it; without, the rest (the RFC 5766 ones
     * against the in-process responder, and MS-TURN's pseudo-TLS answered by
     * others). */
    if (g_getenv("ICEPROBE_MSTURN")) {
        const struct CMUnitTest ms[] = {
            cmocka_unit_test(test_ms_turn_allocates_over_udp_tcp_and_pseudo_tls),
            cmocka_unit_test(test_ms_turn_names_refused_mras_credentials),
        };
        return cmocka_run_group_tests(ms, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_401_then_the_allocation_over_udp),
        cmocka_unit_test(test_401_then_the_allocation_over_tcp),
        cmocka_unit_test(test_403_is_named),
        cmocka_unit_test(test_a_wrong_secret_is_a_second_401_with_the_realm),
        cmocka_unit_test(test_silence_is_a_timeout_in_the_time_given),
        cmocka_unit_test(test_an_answer_that_is_not_stun_is_named),
        cmocka_unit_test(test_stun_framing_over_tcp),
        /* MS-TURN's TLS port answered by other things than the relay */
        cmocka_unit_test(test_ms_turn_pseudo_tls_answered_by_a_tls_endpoint),
        cmocka_unit_test(test_ms_turn_pseudo_tls_cut),
        cmocka_unit_test(test_ms_turn_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
