/* The lab MS-TURN relay's message layer (tests/lab/tools/msturn-proto.c), held
 * to [MS-TURN]'s own numbers and to independent computations, then to
 * libnice's OC2007 client (its stun library builds and checks the other end). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <stun/stunagent.h>
#include <stun/usages/turn.h>

#include "msturn-proto.h"

static const uint8_t tid0[MSTURN_TID_LEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static struct sockaddr_in ipv4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static char *hex(const uint8_t *p, gsize n)
{
    GString *s = g_string_new(NULL);
    for (gsize i = 0; i < n; i++)
        g_string_append_printf(s, "%02x", p[i]);
    return g_string_free(s, FALSE);
}

static void test_types_and_attributes_are_ms_turns_numbers(void **state)
{
    /* [MS-TURN] 2.2.1 and 2.2.2: NONCE and REALM are 0x0014 and 0x0015 (RFC 5389
     * has them the other way round), the Data Indication is 0x0115. */
    assert_int_equal(MSTURN_ALLOCATE_REQUEST, 0x0003);
    assert_int_equal(MSTURN_ALLOCATE_RESPONSE, 0x0103);
    assert_int_equal(MSTURN_ALLOCATE_ERROR, 0x0113);
    assert_int_equal(MSTURN_SEND_REQUEST, 0x0004);
    assert_int_equal(MSTURN_DATA_INDICATION, 0x0115);
    assert_int_equal(MSTURN_SAD_REQUEST, 0x0006);
    assert_int_equal(MSTURN_SAD_RESPONSE, 0x0106);
    assert_int_equal(MSTURN_SAD_ERROR, 0x0116);
    assert_int_equal(MSTURN_ATTR_NONCE, 0x0014);
    assert_int_equal(MSTURN_ATTR_REALM, 0x0015);
    assert_int_equal(MSTURN_ATTR_MAGIC_COOKIE, 0x000F);
    assert_int_equal(MSTURN_ATTR_DESTINATION_ADDRESS, 0x0011);
    assert_int_equal(MSTURN_ATTR_REMOTE_ADDRESS, 0x0012);
    assert_int_equal(MSTURN_ATTR_DATA, 0x0013);
    assert_int_equal(MSTURN_ATTR_MS_VERSION, 0x8008);
    assert_int_equal(MSTURN_ATTR_XOR_MAPPED_ADDRESS, 0x8020);
    assert_int_equal(MSTURN_ATTR_MS_SEQUENCE_NUMBER, 0x8050);
    assert_int_equal(MSTURN_MAGIC_COOKIE, 0x72C64BC6);
}

static void test_every_message_starts_with_the_magic_cookie_and_is_not_padded(void **state)
{
    MsturnBuilder b;
    msturn_build_init(&b, MSTURN_ALLOCATE_REQUEST, tid0);
    msturn_build_bytes(&b, MSTURN_ATTR_USERNAME, "alice", 5);
    msturn_build_u32(&b, MSTURN_ATTR_LIFETIME, 600);
    gsize len = msturn_build_finish(&b, NULL);
    /* 20-byte header, MAGIC-COOKIE (8), USERNAME of 5 with no padding (9), LIFETIME (8). */
    assert_int_equal(len, 20 + 8 + 9 + 8);
    static const uint8_t want[] = {
        0x00, 0x03, 0x00, 0x19, 0,   1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
        11,   12,   13,   14,   15,  0x00, 0x0f, 0x00, 0x04, 0x72, 0xc6, 0x4b, 0xc6, 0x00, 0x06,
        0x00, 0x05, 'a',  'l',  'i', 'c',  'e',  0x00, 0x0d, 0x00, 0x04, 0x00, 0x00, 0x02, 0x58};
    assert_memory_equal(b.buf, want, sizeof(want));
    MsturnMsg m;
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_int_equal(m.n_attrs, 3);
    uint32_t lifetime = 0;
    assert_true(msturn_get_u32(&m, MSTURN_ATTR_LIFETIME, &lifetime));
    assert_int_equal(lifetime, 600);
}

static void test_xor_mapped_address_is_the_specs_example(void **state)
{
    /* 2.2.2.16: "If the source port was 0x1122 and the most significant 16 bits
     * of the Transaction ID was 0x4455, the resulting X-Port is 0x5577." The
     * address is XORed with the ID's first 32 bits. */
    uint8_t tid[MSTURN_TID_LEN] = {0x44, 0x55, 0x66, 0x77};
    MsturnBuilder b;
    msturn_build_init(&b, MSTURN_ALLOCATE_RESPONSE, tid);
    struct sockaddr_in client = ipv4("192.0.2.10", 0x1122);
    msturn_build_xor_addr(&b, MSTURN_ATTR_XOR_MAPPED_ADDRESS, &client);
    gsize len = msturn_build_finish(&b, NULL);
    const uint8_t *v = b.buf + 28 + 4;
    assert_int_equal(v[1], 0x01);
    assert_int_equal(v[2] << 8 | v[3], 0x5577);
    assert_int_equal(v[4], 192 ^ 0x44);
    assert_int_equal(v[5], 0 ^ 0x55);
    assert_int_equal(v[6], 2 ^ 0x66);
    assert_int_equal(v[7], 10 ^ 0x77);
    MsturnMsg m;
    struct sockaddr_in back;
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_true(msturn_get_xor_addr(&m, MSTURN_ATTR_XOR_MAPPED_ADDRESS, &back));
    assert_int_equal(back.sin_port, client.sin_port);
    assert_int_equal(back.sin_addr.s_addr, client.sin_addr.s_addr);
}

static void test_key_is_md5_of_user_realm_password(void **state)
{
    /* python3: hashlib.md5(b"lab-user@edge.lab:edge.lab:s3cret").hexdigest() */
    uint8_t key[MSTURN_KEY_LEN];
    msturn_key("lab-user@edge.lab", 17, "edge.lab", 8, "s3cret", 6, key);
    g_autofree char *h = hex(key, sizeof(key));
    assert_string_equal(h, "a853597f549ceb5d466012df24d72c49");
}

static void test_integrity_is_hmac_sha1_over_the_message_padded_to_64_bytes(void **state)
{
    /* python3: the same 57 bytes (header with the final length, MAGIC-COOKIE,
     * USERNAME "alice", REALM "edge.lab", NONCE "abcd") and 7 zeroes,
     * hmac.new(key, text, hashlib.sha1); unpadded it would be 88759f3a... */
    uint8_t key[MSTURN_KEY_LEN];
    msturn_key("lab-user@edge.lab", 17, "edge.lab", 8, "s3cret", 6, key);
    MsturnBuilder b;
    msturn_build_init(&b, MSTURN_ALLOCATE_REQUEST, tid0);
    msturn_build_bytes(&b, MSTURN_ATTR_USERNAME, "alice", 5);
    msturn_build_bytes(&b, MSTURN_ATTR_REALM, "edge.lab", 8);
    msturn_build_bytes(&b, MSTURN_ATTR_NONCE, "abcd", 4);
    gsize len = msturn_build_finish(&b, key);
    assert_int_equal(len, 57 + 24);
    g_autofree char *h = hex(b.buf + 57 + 4, MSTURN_HMAC_LEN);
    assert_string_equal(h, "cf5d04aa85b6b1e4f5dffa39d46eae5dcf354994");
    MsturnMsg m;
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_true(msturn_check_integrity(&m, key));
    b.buf[33] ^= 1; /* one bit of USERNAME */
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_false(msturn_check_integrity(&m, key));
}

static MsturnAuth lab_auth(void)
{
    MsturnAuth a = {(const uint8_t *)"lab-user", 8, (const uint8_t *)"pw", 2, "edge.lab", {7}, 600};
    return a;
}

/* A request as a client would sign it: USERNAME, REALM, NONCE when given. */
static gsize signed_request(MsturnBuilder *b, const char *user, const char *realm,
                            const char *nonce, const char *pass)
{
    uint8_t key[MSTURN_KEY_LEN];
    msturn_build_init(b, MSTURN_ALLOCATE_REQUEST, tid0);
    if (user)
        msturn_build_bytes(b, MSTURN_ATTR_USERNAME, user, strlen(user));
    if (realm)
        msturn_build_bytes(b, MSTURN_ATTR_REALM, realm, strlen(realm));
    if (nonce)
        msturn_build_bytes(b, MSTURN_ATTR_NONCE, nonce, strlen(nonce));
    msturn_key(user ? user : "", user ? strlen(user) : 0, realm ? realm : "",
               realm ? strlen(realm) : 0, pass, strlen(pass), key);
    return msturn_build_finish(b, key);
}

static int auth_code(MsturnBuilder *b, gsize len, gint64 now)
{
    MsturnAuth a = lab_auth();
    MsturnMsg m;
    uint8_t key[MSTURN_KEY_LEN];
    const char *why;
    assert_true(msturn_parse(b->buf, len, &m, NULL));
    return msturn_authenticate(&a, &m, TRUE, now, key, &why);
}

static void test_authentication_answers_the_codes_of_3_3_5_1(void **state)
{
    MsturnAuth a = lab_auth();
    char nonce[33], old[33];
    msturn_nonce_make(a.nonce_secret, 1000000, nonce);
    msturn_nonce_make(a.nonce_secret, 1000000 - 601, old);
    MsturnBuilder b;
    msturn_build_init(&b, MSTURN_ALLOCATE_REQUEST, tid0);
    assert_int_equal(auth_code(&b, msturn_build_finish(&b, NULL), 1000000), 401);
    assert_int_equal(auth_code(&b, signed_request(&b, NULL, "edge.lab", nonce, "pw"), 1000000),
                     432);
    assert_int_equal(auth_code(&b, signed_request(&b, "mallory", "edge.lab", nonce, "pw"), 1000000),
                     436);
    assert_int_equal(auth_code(&b, signed_request(&b, "lab-user", NULL, nonce, "pw"), 1000000),
                     434);
    assert_int_equal(auth_code(&b, signed_request(&b, "lab-user", "other", nonce, "pw"), 1000000),
                     401);
    assert_int_equal(auth_code(&b, signed_request(&b, "lab-user", "edge.lab", NULL, "pw"), 1000000),
                     435);
    assert_int_equal(auth_code(&b, signed_request(&b, "lab-user", "edge.lab", old, "pw"), 1000000),
                     438);
    assert_int_equal(auth_code(&b,
                               signed_request(&b, "lab-user", "edge.lab",
                                              "0123456789abcdef0123456789abcdef", "pw"),
                               1000000),
                     438);
    assert_int_equal(
        auth_code(&b, signed_request(&b, "lab-user", "edge.lab", nonce, "no"), 1000000), 431);
    assert_int_equal(
        auth_code(&b, signed_request(&b, "lab-user", "edge.lab", nonce, "pw"), 1000000), 0);
}

static void test_parse_refuses_what_3_1_10_calls_improperly_formed(void **state)
{
    MsturnBuilder b;
    MsturnMsg m;
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    msturn_build_init(&b, MSTURN_ALLOCATE_REQUEST, tid0);
    gsize len = msturn_build_finish(&b, NULL);
    b.buf[27] ^= 1; /* the MAGIC-COOKIE value */
    assert_false(msturn_parse(b.buf, len, &m, &e1));
    assert_true(g_error_matches(e1, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN));
    uint8_t past[] = {0x00, 0x03, 0x00, 0x0c, 0,    1,    2,    3,    4,    5,    6,
                      7,    8,    9,    10,   11,   12,   13,   14,   15,   0x00, 0x0f,
                      0x00, 0x04, 0x72, 0xc6, 0x4b, 0xc6, 0x00, 0x06, 0x00, 0x10};
    assert_false(msturn_parse(past, sizeof(past), &m, &e2));
    assert_true(g_error_matches(e2, MSTURN_ERROR, MSTURN_ERROR_MALFORMED));
    uint8_t key[MSTURN_KEY_LEN] = {0};
    msturn_build_init(&b, MSTURN_ALLOCATE_REQUEST, tid0);
    len = msturn_build_finish(&b, key);
    uint8_t after[MSTURN_MAX_MESSAGE];
    memcpy(after, b.buf, len);
    memcpy(after + len, "\x00\x0d\x00\x04\x00\x00\x00\x01", 8);
    after[3] += 8;
    assert_false(msturn_parse(after, len + 8, &m, &e3));
    assert_true(g_error_matches(e3, MSTURN_ERROR, MSTURN_ERROR_MALFORMED));
}

static void test_tcp_framing_is_type_reserved_length(void **state)
{
    /* 2.1.4: 0x02 a TURN control message, 0x03 end-to-end data, a zero byte,
     * the length of what follows. */
    uint8_t h[4], type;
    uint16_t len;
    msturn_frame_write(h, MSTURN_FRAME_CONTROL, 36);
    assert_memory_equal(h, "\x02\x00\x00\x24", 4);
    assert_true(msturn_frame_header(h, &type, &len, NULL));
    assert_int_equal(type, 2);
    assert_int_equal(len, 36);
    assert_false(msturn_frame_header((const uint8_t *)"\x00\x03\x00\x10", &type, &len, NULL));
}

static void test_pseudo_tls_answers_the_fixed_client_hello(void **state)
{
    /* 2.1.1's ClientHello: TLS 1.0 handshake record, ClientHello, a 32-byte
     * time stamp and random value, no session, the one cipher suite 0x0018, the
     * null compression method. These bytes are the ones libnice sends. */
    uint8_t hello[MSTURN_CLIENT_HELLO_LEN] = {0x16, 0x03, 0x01, 0x00, 0x2d, 0x01,
                                              0x00, 0x00, 0x29, 0x03, 0x01};
    memset(hello + 11, 0xa5, 32);
    memcpy(hello + 43, "\x00\x00\x02\x00\x18\x01\x00", 7);
    assert_true(msturn_client_hello_check(hello, sizeof(hello), NULL));
    hello[47] = 0x2f; /* another cipher suite */
    assert_false(msturn_client_hello_check(hello, sizeof(hello), NULL));
    uint8_t random[64], out[MSTURN_SERVER_HELLO_LEN];
    memset(random, 0x5a, sizeof(random));
    msturn_server_hello(out, random);
    /* One record (78 bytes): ServerHello (70) then ServerHelloDone (empty). */
    assert_memory_equal(out, "\x16\x03\x01\x00\x4e\x02\x00\x00\x46\x03\x01", 11);
    assert_int_equal(out[43], 32);
    assert_memory_equal(out + 76, "\x00\x18\x00\x0e\x00\x00\x00", 7);
}

static void test_the_specs_example_flow_reads_back(void **state)
{
    /* Section 4's example: a client at 10.0.0.1 behind a NAT at 192.0.2.10, the
     * TURN server at 192.0.2.20, the peer at 192.0.2.30. The example gives no
     * bytes; its addresses go through the relay's own builders and parser. */
    MsturnAllocation a = {.relayed = ipv4("192.0.2.20", 50000),
                          .reflexive = ipv4("192.0.2.10", 40000),
                          .lifetime = 600,
                          .has_version = TRUE,
                          .version = 3,
                          .realm = "example.com"};
    uint8_t key[MSTURN_KEY_LEN] = {1};
    MsturnBuilder b;
    msturn_build_allocate_response(&b, tid0, &a);
    gsize len = msturn_build_finish(&b, key);
    MsturnMsg m;
    struct sockaddr_in relayed, mapped;
    uint32_t version;
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_int_equal(m.type, MSTURN_ALLOCATE_RESPONSE);
    assert_int_equal(m.attrs[0].type, MSTURN_ATTR_MAGIC_COOKIE);
    assert_true(msturn_get_addr(&m, MSTURN_ATTR_MAPPED_ADDRESS, &relayed));
    assert_true(msturn_get_xor_addr(&m, MSTURN_ATTR_XOR_MAPPED_ADDRESS, &mapped));
    assert_int_equal(relayed.sin_addr.s_addr, a.relayed.sin_addr.s_addr);
    assert_int_equal(mapped.sin_addr.s_addr, a.reflexive.sin_addr.s_addr);
    assert_true(msturn_get_u32(&m, MSTURN_ATTR_MS_VERSION, &version));
    assert_int_equal(version, MSTURN_SERVER_VERSION); /* no SHA-256 integrity here */
    assert_non_null(msturn_find(&m, MSTURN_ATTR_MS_SEQUENCE_NUMBER));
    assert_true(msturn_check_integrity(&m, key));
    /* A Data Indication from the peer. */
    struct sockaddr_in peer = ipv4("192.0.2.30", 7000), remote;
    msturn_build_data_indication(&b, tid0, &peer, (const uint8_t *)"rtp!", 4);
    len = msturn_build_finish(&b, NULL);
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_true(msturn_get_addr(&m, MSTURN_ATTR_REMOTE_ADDRESS, &remote));
    assert_int_equal(remote.sin_port, peer.sin_port);
    assert_int_equal(msturn_find(&m, MSTURN_ATTR_DATA)->len, 4);
}

/* libnice's stun library, as its TURN client sets it up for OC2007 (agent.c):
 * STUN_MSOC_KNOWN_ATTRIBUTES. */

static void test_libnice_and_the_relay_accept_each_others_allocate(void **state)
{
    StunAgent agent;
    StunMessage req, resp;
    uint8_t reqbuf[2048], user[] = "lab-user", pass[] = "pw";
    stun_agent_init(&agent, STUN_MSOC_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_OC2007,
                    STUN_AGENT_USAGE_LONG_TERM_CREDENTIALS |
                        STUN_AGENT_USAGE_NO_ALIGNED_ATTRIBUTES);
    /* 1: libnice's first Allocate; the relay's parser reads it and answers 401. */
    gsize len = stun_usage_turn_create(&agent, &req, reqbuf, sizeof(reqbuf), NULL,
                                       STUN_USAGE_TURN_REQUEST_PORT_NORMAL, -1, -1, user, 8, pass,
                                       2, STUN_USAGE_TURN_COMPATIBILITY_OC2007);
    assert_true(len > 0);
    MsturnMsg m;
    MsturnAuth auth = lab_auth();
    uint8_t key[MSTURN_KEY_LEN];
    const char *why;
    assert_true(msturn_parse(reqbuf, len, &m, NULL));
    assert_int_equal(m.type, MSTURN_ALLOCATE_REQUEST);
    assert_int_equal(msturn_authenticate(&auth, &m, TRUE, 1000000, key, &why), 401);
    char nonce[33];
    msturn_nonce_make(auth.nonce_secret, 1000000, nonce);
    MsturnBuilder b;
    msturn_build_error_response(&b, m.type, m.tid, 401, "edge.lab", nonce, 0);
    gsize blen = msturn_build_finish(&b, NULL);
    uint8_t respbuf[MSTURN_MAX_MESSAGE];
    memcpy(respbuf, b.buf, blen);
    assert_int_equal(stun_agent_validate(&agent, &resp, respbuf, blen, NULL, NULL),
                     STUN_VALIDATION_SUCCESS);
    /* 2: libnice's second Allocate with the realm and nonce: the relay accepts
     * its MESSAGE-INTEGRITY. */
    len = stun_usage_turn_create(&agent, &req, reqbuf, sizeof(reqbuf), &resp,
                                 STUN_USAGE_TURN_REQUEST_PORT_NORMAL, -1, -1, user, 8, pass, 2,
                                 STUN_USAGE_TURN_COMPATIBILITY_OC2007);
    assert_true(msturn_parse(reqbuf, len, &m, NULL));
    assert_int_equal(msturn_authenticate(&auth, &m, TRUE, 1000000, key, &why), 0);
    /* 3: the relay's signed answer passes libnice's check, and libnice reads
     * the relayed and the reflexive address out of it. */
    MsturnAllocation a = {.relayed = ipv4("203.0.113.10", 49200),
                          .reflexive = ipv4("198.51.100.2", 40001),
                          .lifetime = 600,
                          .realm = "edge.lab"};
    msturn_build_allocate_response(&b, m.tid, &a);
    blen = msturn_build_finish(&b, key);
    memcpy(respbuf, b.buf, blen);
    /* One changed bit (the relayed port's, inside MAPPED-ADDRESS's value) and
     * libnice refuses the answer for its integrity; checked first, as libnice
     * forgets the transaction once an answer to it validates. */
    uint8_t badbuf[sizeof(respbuf)];
    memcpy(badbuf, respbuf, blen);
    badbuf[34] ^= 1;
    StunMessage bad;
    assert_int_equal(stun_agent_validate(&agent, &bad, badbuf, blen, NULL, NULL),
                     STUN_VALIDATION_UNAUTHORIZED);
    assert_int_equal(stun_agent_validate(&agent, &resp, respbuf, blen, NULL, NULL),
                     STUN_VALIDATION_SUCCESS);
    struct sockaddr_storage relay, mapped, alt;
    socklen_t rl = sizeof(relay), ml = sizeof(mapped), al = sizeof(alt);
    uint32_t bw = 0, lifetime = 0;
    assert_int_equal(stun_usage_turn_process(&resp, &relay, &rl, &mapped, &ml, &alt, &al, &bw,
                                             &lifetime, STUN_USAGE_TURN_COMPATIBILITY_OC2007),
                     STUN_USAGE_TURN_RETURN_MAPPED_SUCCESS);
    assert_int_equal(((struct sockaddr_in *)&relay)->sin_port, a.relayed.sin_port);
    assert_int_equal(((struct sockaddr_in *)&mapped)->sin_addr.s_addr, a.reflexive.sin_addr.s_addr);
    assert_int_equal(((struct sockaddr_in *)&mapped)->sin_port, a.reflexive.sin_port);
    assert_int_equal(lifetime, 600);
}

static void test_a_data_indication_holds_at_most_the_room_a_tcp_read_takes(void **state)
{
    /* A TCP allocation hands a peer's byte stream to its client in Data
     * Indications of at most MSTURN_DATA_INDICATION_ROOM bytes of DATA: the
     * largest that fits in a message the relay sends (MSTURN_MAX_MESSAGE). */
    static uint8_t stream[MSTURN_DATA_INDICATION_ROOM + 1];
    for (gsize i = 0; i < sizeof(stream); i++)
        stream[i] = (uint8_t)(i * 7);
    struct sockaddr_in peer = ipv4("203.0.113.10", 50001), remote;
    MsturnBuilder b;
    msturn_build_data_indication(&b, tid0, &peer, stream, MSTURN_DATA_INDICATION_ROOM);
    gsize len = msturn_build_finish(&b, NULL);
    assert_int_equal(len, MSTURN_MAX_MESSAGE);
    MsturnMsg m;
    assert_true(msturn_parse(b.buf, len, &m, NULL));
    assert_int_equal(m.type, MSTURN_DATA_INDICATION);
    assert_int_equal(m.n_attrs, 3); /* MAGIC-COOKIE, REMOTE-ADDRESS, DATA; no MESSAGE-INTEGRITY */
    assert_int_equal(m.attrs[0].type, MSTURN_ATTR_MAGIC_COOKIE);
    assert_true(msturn_get_addr(&m, MSTURN_ATTR_REMOTE_ADDRESS, &remote));
    assert_int_equal(remote.sin_addr.s_addr, peer.sin_addr.s_addr);
    assert_int_equal(remote.sin_port, peer.sin_port);
    const MsturnAttr *data = msturn_find(&m, MSTURN_ATTR_DATA);
    assert_non_null(data);
    assert_int_equal(data->len, MSTURN_DATA_INDICATION_ROOM);
    assert_memory_equal(data->value, stream, MSTURN_DATA_INDICATION_ROOM);
    /* One byte more does not fit. */
    msturn_build_data_indication(&b, tid0, &peer, stream, sizeof(stream));
    assert_int_equal(msturn_build_finish(&b, NULL), 0);

    /* libnice's OC2007 TURN socket takes it as a Data Indication (no
     * MESSAGE-INTEGRITY needed) and reads REMOTE-ADDRESS and DATA out of it, as
     * socket/udp-turn.c does. Here DATA is a piece of an RFC 4571 stream: the
     * relay cuts where its read fell, libnice reassembles. */
    msturn_build_data_indication(&b, tid0, &peer, stream, MSTURN_DATA_INDICATION_ROOM);
    len = msturn_build_finish(&b, NULL);
    StunAgent agent;
    StunMessage msg;
    uint8_t buf[MSTURN_MAX_MESSAGE];
    memcpy(buf, b.buf, len);
    stun_agent_init(&agent, STUN_MSOC_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_OC2007,
                    STUN_AGENT_USAGE_LONG_TERM_CREDENTIALS |
                        STUN_AGENT_USAGE_NO_ALIGNED_ATTRIBUTES);
    assert_int_equal(stun_agent_validate(&agent, &msg, buf, len, NULL, NULL),
                     STUN_VALIDATION_SUCCESS);
    assert_int_equal(stun_message_get_class(&msg), STUN_INDICATION);
    assert_int_equal(stun_message_get_method(&msg), STUN_IND_DATA);
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    assert_int_equal(stun_message_find_addr(&msg, STUN_ATTRIBUTE_REMOTE_ADDRESS, &from, &fl),
                     STUN_MESSAGE_RETURN_SUCCESS);
    assert_int_equal(((struct sockaddr_in *)&from)->sin_port, peer.sin_port);
    uint16_t dl = 0;
    const uint8_t *d = stun_message_find(&msg, STUN_ATTRIBUTE_DATA, &dl);
    assert_non_null(d);
    assert_int_equal(dl, MSTURN_DATA_INDICATION_ROOM);
    assert_memory_equal(d, stream, dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_attributes_are_ms_turns_numbers),
        cmocka_unit_test(test_every_message_starts_with_the_magic_cookie_and_is_not_padded),
        cmocka_unit_test(test_xor_mapped_address_is_the_specs_example),
        cmocka_unit_test(test_key_is_md5_of_user_realm_password),
        cmocka_unit_test(test_integrity_is_hmac_sha1_over_the_message_padded_to_64_bytes),
        cmocka_unit_test(test_authentication_answers_the_codes_of_3_3_5_1),
        cmocka_unit_test(test_parse_refuses_what_3_1_10_calls_improperly_formed),
        cmocka_unit_test(test_tcp_framing_is_type_reserved_length),
        cmocka_unit_test(test_pseudo_tls_answers_the_fixed_client_hello),
        cmocka_unit_test(test_the_specs_example_flow_reads_back),
        cmocka_unit_test(test_libnice_and_the_relay_accept_each_others_allocate),
        cmocka_unit_test(test_a_data_indication_holds_at_most_the_room_a_tcp_read_takes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
