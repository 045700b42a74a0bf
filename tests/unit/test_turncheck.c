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
    guint8 big[20] = {0x01, 0x01, 0xff, 0xfc}; /* over the cap */
    assert_int_equal(turncheck_stun_frame_length(big, 20), -1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as iceprobe's main does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_401_then_the_allocation_over_udp),
        cmocka_unit_test(test_401_then_the_allocation_over_tcp),
        cmocka_unit_test(test_403_is_named),
        cmocka_unit_test(test_a_wrong_secret_is_a_second_401_with_the_realm),
        cmocka_unit_test(test_silence_is_a_timeout_in_the_time_given),
        cmocka_unit_test(test_an_answer_that_is_not_stun_is_named),
        cmocka_unit_test(test_stun_framing_over_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
