/* msturn-proto: the message layer of the lab's MS-TURN relay ([MS-TURN],
 * Microsoft's TURN extensions, the protocol of the Skype for Business A/V Edge).
 *
 * No sockets here: parsing, building and authenticating messages, the TCP
 * framing and the pseudo-TLS handshake, so that a fuzz target and the unit test
 * reach every byte the relay reads from outside. Written from the
 * specification, not from libnice's client: it shares no code with it
 * (OpenSSL for MD5 and HMAC-SHA1), and the unit test holds the two against
 * each other. docs/msturn-relay.md says what is implemented, section by
 * section. */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>

/* [MS-TURN] 2.2.1: message types (the 0x0104/0x0114 Send responses are never sent). */
enum {
    MSTURN_ALLOCATE_REQUEST = 0x0003,
    MSTURN_ALLOCATE_RESPONSE = 0x0103,
    MSTURN_ALLOCATE_ERROR = 0x0113,
    MSTURN_SEND_REQUEST = 0x0004,
    MSTURN_DATA_INDICATION = 0x0115,
    MSTURN_SAD_REQUEST = 0x0006, /* Set Active Destination */
    MSTURN_SAD_RESPONSE = 0x0106,
    MSTURN_SAD_ERROR = 0x0116,
};

/* [MS-TURN] 2.2.2: attribute types (NONCE and REALM are 0x0014 and 0x0015,
 * the reverse of RFC 5389's). */
enum {
    MSTURN_ATTR_MAPPED_ADDRESS = 0x0001,
    MSTURN_ATTR_USERNAME = 0x0006,
    MSTURN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    MSTURN_ATTR_ERROR_CODE = 0x0009,
    MSTURN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    MSTURN_ATTR_LIFETIME = 0x000D,
    MSTURN_ATTR_ALTERNATE_SERVER = 0x000E,
    MSTURN_ATTR_MAGIC_COOKIE = 0x000F,
    MSTURN_ATTR_BANDWIDTH = 0x0010,
    MSTURN_ATTR_DESTINATION_ADDRESS = 0x0011,
    MSTURN_ATTR_REMOTE_ADDRESS = 0x0012,
    MSTURN_ATTR_DATA = 0x0013,
    MSTURN_ATTR_NONCE = 0x0014,
    MSTURN_ATTR_REALM = 0x0015,
    MSTURN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
    MSTURN_ATTR_MS_VERSION = 0x8008,
    MSTURN_ATTR_XOR_MAPPED_ADDRESS = 0x8020,
    MSTURN_ATTR_MS_SEQUENCE_NUMBER = 0x8050,
};

#define MSTURN_MAGIC_COOKIE      0x72C64BC6u /* [MS-TURN] 2.2.2.8 */
#define MSTURN_HEADER_LEN        20
#define MSTURN_TID_LEN           16
#define MSTURN_MAX_MESSAGE       4096 /* larger messages are refused: media fits in 1500 */
#define MSTURN_MAX_ATTRIBUTES    32
#define MSTURN_MAX_REALM         128 /* [MS-TURN] 2.2.2.14 */
#define MSTURN_MAX_NONCE         128
#define MSTURN_MAX_USERNAME      512
#define MSTURN_CONNECTION_ID_LEN 20 /* [MS-TURN] 2.2.2.21 */
#define MSTURN_HMAC_LEN          20
#define MSTURN_KEY_LEN           16

/* [MS-TURN] 2.1.4: the TCP framing header's types. */
enum {
    MSTURN_FRAME_CONTROL = 0x02,
    MSTURN_FRAME_DATA = 0x03,
};
#define MSTURN_FRAME_HEADER_LEN 4

/* [MS-TURN] 2.1.1: pseudo-TLS. */
#define MSTURN_CLIENT_HELLO_LEN 50
#define MSTURN_SERVER_HELLO_LEN 83

typedef struct {
    uint16_t type;
    uint16_t len;
    const uint8_t *value; /* into the parsed buffer */
} MsturnAttr;

typedef struct {
    uint16_t type;
    uint16_t length; /* of the attributes */
    uint8_t tid[MSTURN_TID_LEN];
    guint n_attrs;
    MsturnAttr attrs[MSTURN_MAX_ATTRIBUTES];
    gsize integrity_offset; /* where MESSAGE-INTEGRITY's header starts; 0: none */
    const uint8_t *buf;
    gsize buf_len;
} MsturnMsg;

typedef struct {
    uint8_t buf[MSTURN_MAX_MESSAGE];
    gsize len;
    gboolean overflow;
} MsturnBuilder;

#define MSTURN_ERROR msturn_error_quark()
GQuark msturn_error_quark(void);
enum {
    MSTURN_ERROR_NOT_MSTURN, /* not a TURN message: ignored ([MS-TURN] 3.1.10) */
    MSTURN_ERROR_MALFORMED,  /* a TURN message whose fields do not add up: 400 */
};

/* Parses one whole message (the framing already removed). FALSE with the reason
 * in *error: MSTURN_ERROR_NOT_MSTURN when the header or the MAGIC-COOKIE first
 * attribute is wrong (such a message MUST be ignored, 3.1.10), MALFORMED for the
 * rest. */
gboolean msturn_parse(const uint8_t *buf, gsize len, MsturnMsg *msg, GError **error);
/* Whether BUF looks like a TURN message at all: header, length and MAGIC-COOKIE. */
gboolean msturn_is_turn(const uint8_t *buf, gsize len);

const MsturnAttr *msturn_find(const MsturnMsg *msg, uint16_t type);
gboolean msturn_get_u32(const MsturnMsg *msg, uint16_t type, uint32_t *out);
/* A MAPPED-ADDRESS-shaped attribute (IPv4 only). */
gboolean msturn_get_addr(const MsturnMsg *msg, uint16_t type, struct sockaddr_in *out);
/* XOR-MAPPED-ADDRESS, XORed with the transaction ID's first 32 bits (2.2.2.16). */
gboolean msturn_get_xor_addr(const MsturnMsg *msg, uint16_t type, struct sockaddr_in *out);
/* The first comprehension-required attribute type this relay does not know, or 0. */
uint16_t msturn_unknown_required(const MsturnMsg *msg);

const char *msturn_type_name(uint16_t type);
const char *msturn_attr_name(uint16_t type);
const char *msturn_error_reason(int code);
/* One log line's worth: "Allocate request tid=... [MAGIC-COOKIE MS-VERSION=1 ...]". */
char *msturn_describe(const MsturnMsg *msg);

/* Building: MAGIC-COOKIE first, as every message needs (2.2.2). */
void msturn_build_init(MsturnBuilder *b, uint16_t type, const uint8_t tid[MSTURN_TID_LEN]);
void msturn_build_bytes(MsturnBuilder *b, uint16_t type, const void *value, gsize len);
void msturn_build_u32(MsturnBuilder *b, uint16_t type, uint32_t value);
void msturn_build_addr(MsturnBuilder *b, uint16_t type, const struct sockaddr_in *addr);
void msturn_build_xor_addr(MsturnBuilder *b, uint16_t type, const struct sockaddr_in *addr);
void msturn_build_error(MsturnBuilder *b, int code);
/* Appends MESSAGE-INTEGRITY keyed with KEY when KEY is not NULL; returns the
 * message's length, or 0 when it did not fit. */
gsize msturn_build_finish(MsturnBuilder *b, const uint8_t key[MSTURN_KEY_LEN]);

/* The relay's answers, built the same way in the relay and in the unit test. */
#define MSTURN_SERVER_VERSION 2 /* MS-ICE2 clients; no SHA-256 integrity, no IPv6 (3, 4) */
/* An error response to REQUEST_TYPE (Allocate or Set Active Destination); 401 and
 * 438 carry REALM, NONCE and MS-VERSION (3.3.5.1), 420 UNKNOWN-ATTRIBUTES. No
 * MESSAGE-INTEGRITY: call msturn_build_finish(b, NULL). */
void msturn_build_error_response(MsturnBuilder *b, uint16_t request_type,
                                 const uint8_t tid[MSTURN_TID_LEN], int code, const char *realm,
                                 const char *nonce, uint16_t unknown_attr);
/* The Allocate response of 3.3.5.1: MAPPED-ADDRESS the relayed address,
 * XOR-MAPPED-ADDRESS the client's reflexive one, LIFETIME, BANDWIDTH and
 * MS-VERSION when the request had them, MS-SEQUENCE-NUMBER (the allocation's
 * connection ID, sequence 0), REALM. Sign it with msturn_build_finish(b, key). */
typedef struct {
    struct sockaddr_in relayed, reflexive;
    uint32_t lifetime;
    gboolean has_bandwidth, has_version;
    uint32_t bandwidth, version;
    uint8_t connection_id[MSTURN_CONNECTION_ID_LEN];
    const char *realm;
} MsturnAllocation;
void msturn_build_allocate_response(MsturnBuilder *b, const uint8_t tid[MSTURN_TID_LEN],
                                    const MsturnAllocation *a);

/* A Data Indication: what a peer sent to the relayed address, with REMOTE-ADDRESS
 * (plain, as MAPPED-ADDRESS) and DATA, no MESSAGE-INTEGRITY (finish with NULL). */
void msturn_build_data_indication(MsturnBuilder *b, const uint8_t tid[MSTURN_TID_LEN],
                                  const struct sockaddr_in *from, const uint8_t *data, gsize len);
/* The most DATA one Data Indication holds within MSTURN_MAX_MESSAGE (header,
 * MAGIC-COOKIE, REMOTE-ADDRESS, DATA's own header): a TCP allocation cuts what
 * arrives on a peer connection into pieces of at most this many bytes. */
#define MSTURN_DATA_INDICATION_ROOM (MSTURN_MAX_MESSAGE - MSTURN_HEADER_LEN - 8 - 12 - 4)

/* The long-term key of [IETFDRAFT-TURN-08]: MD5(username ":" realm ":" password). */
void msturn_key(const void *user, gsize user_len, const void *realm, gsize realm_len,
                const void *pass, gsize pass_len, uint8_t key[MSTURN_KEY_LEN]);
/* HMAC-SHA1 over the message's first TEXT_LEN bytes (header included, as they
 * are on the wire) padded with zeroes to a multiple of 64 bytes: the
 * MESSAGE-INTEGRITY of [IETFDRAFT-STUN-02] that [MS-TURN] 2.2.2.3 takes. */
void msturn_hmac(const uint8_t *buf, gsize text_len, const uint8_t key[MSTURN_KEY_LEN],
                 uint8_t out[MSTURN_HMAC_LEN]);
/* Whether MSG's MESSAGE-INTEGRITY is right for KEY (constant time). */
gboolean msturn_check_integrity(const MsturnMsg *msg, const uint8_t key[MSTURN_KEY_LEN]);

/* TCP framing (2.1.4). FALSE: a header that is neither control nor data (the
 * stream is broken). *frame_len is the length after the header. */
gboolean msturn_frame_header(const uint8_t hdr[MSTURN_FRAME_HEADER_LEN], uint8_t *type,
                             uint16_t *frame_len, GError **error);
void msturn_frame_write(uint8_t hdr[MSTURN_FRAME_HEADER_LEN], uint8_t type, uint16_t len);

/* Pseudo-TLS (2.1.1): whether the first MSTURN_CLIENT_HELLO_LEN bytes of a
 * connection are the ClientHello record, and the ServerHello+ServerHelloDone
 * record that answers it (RANDOM: the 32-byte server random, then 32 bytes of
 * session ID). */
gboolean msturn_client_hello_check(const uint8_t *buf, gsize len, GError **error);
void msturn_server_hello(uint8_t out[MSTURN_SERVER_HELLO_LEN], const uint8_t random[64]);

/* Stateless nonces: NONCE = 8 hex digits of issue time + 24 of HMAC(secret, time). */
void msturn_nonce_make(const uint8_t secret[16], gint64 now_s, char out[33]);
/* 0 fresh, 1 stale (older than LIFETIME_S), -1 not one of ours. */
int msturn_nonce_check(const uint8_t secret[16], const uint8_t *nonce, gsize len, gint64 now_s,
                       gint64 lifetime_s);

/* The relay's credentials: one user (the MRAS strings already decoded, see
 * docs/msturn-relay.md), its realm and the nonces' secret. */
typedef struct {
    const uint8_t *user;
    gsize user_len;
    const uint8_t *pass;
    gsize pass_len;
    const char *realm;
    uint8_t nonce_secret[16];
    gint64 nonce_lifetime_s;
} MsturnAuth;

/* The checks of [MS-TURN] 3.3.5.1 on a request: 0 with *key set, or the error
 * code to answer: 401 (no MESSAGE-INTEGRITY, or a REALM not ours), 432 (no
 * USERNAME), 436 (unknown user), 434 (no REALM), 435 (no NONCE, when NEED_NONCE),
 * 438 (stale NONCE), 431 (MESSAGE-INTEGRITY wrong); *why says what was wrong. */
int msturn_authenticate(const MsturnAuth *auth, const MsturnMsg *msg, gboolean need_nonce,
                        gint64 now_s, uint8_t key[MSTURN_KEY_LEN], const char **why);

/* RFC 1982 serial comparison of MS-SEQUENCE-NUMBER values: whether A is after B. */
gboolean msturn_seq_after(uint32_t a, uint32_t b);
