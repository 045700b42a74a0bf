/* msturn-proto: [MS-TURN] messages, framing and pseudo-TLS (see the header).
 *
 * What differs from RFC 5389 and decides every line here: the 16-byte
 * transaction ID has no fixed cookie; a MAGIC-COOKIE attribute (0x72C64BC6)
 * comes first in every message instead; attribute values are not padded to
 * 32 bits (the attribute length is the value's length and the next attribute
 * follows at once); MESSAGE-INTEGRITY is last and is computed over the message
 * up to it, padded with zeroes to a multiple of 64 bytes. */
#include "msturn-proto.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

G_DEFINE_QUARK(msturn - error - quark, msturn_error)

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

gboolean msturn_is_turn(const uint8_t *buf, gsize len)
{
    return len >= MSTURN_HEADER_LEN + 8 && len <= MSTURN_MAX_MESSAGE && (buf[0] & 0xC0) == 0 &&
           get16(buf + 2) == len - MSTURN_HEADER_LEN &&
           get16(buf + 20) == MSTURN_ATTR_MAGIC_COOKIE && get16(buf + 22) == 4 &&
           get32(buf + 24) == MSTURN_MAGIC_COOKIE;
}

gboolean msturn_parse(const uint8_t *buf, gsize len, MsturnMsg *msg, GError **error)
{
    g_return_val_if_fail(buf != NULL || len == 0, FALSE);
    memset(msg, 0, sizeof(*msg));
    if (len < MSTURN_HEADER_LEN || len > MSTURN_MAX_MESSAGE) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN,
                    "%zu bytes: a TURN message has 20 to %d", len, MSTURN_MAX_MESSAGE);
        return FALSE;
    }
    if (buf[0] & 0xC0) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN,
                    "first byte 0x%02x: the two top bits of a TURN type are zero", buf[0]);
        return FALSE;
    }
    msg->type = get16(buf);
    msg->length = get16(buf + 2);
    memcpy(msg->tid, buf + 4, MSTURN_TID_LEN);
    msg->buf = buf;
    msg->buf_len = len;
    if ((gsize)msg->length + MSTURN_HEADER_LEN != len) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN,
                    "message length %u does not match the %zu bytes after the header", msg->length,
                    len - MSTURN_HEADER_LEN);
        return FALSE;
    }
    gsize off = MSTURN_HEADER_LEN;
    while (off < len) {
        if (len - off < 4) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                        "%zu stray bytes at offset %zu: an attribute header has 4", len - off, off);
            return FALSE;
        }
        uint16_t type = get16(buf + off), alen = get16(buf + off + 2);
        if (alen > len - off - 4) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                        "attribute 0x%04x at offset %zu: length %u runs past the message end", type,
                        off, alen);
            return FALSE;
        }
        if (msg->n_attrs == 0 && (type != MSTURN_ATTR_MAGIC_COOKIE || alen != 4 ||
                                  get32(buf + off + 4) != MSTURN_MAGIC_COOKIE)) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN,
                        "first attribute is 0x%04x, not MAGIC-COOKIE 0x%08x (2.2.2.8)", type,
                        MSTURN_MAGIC_COOKIE);
            return FALSE;
        }
        if (msg->integrity_offset) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                        "attribute 0x%04x after MESSAGE-INTEGRITY, which must be last", type);
            return FALSE;
        }
        if (msg->n_attrs == MSTURN_MAX_ATTRIBUTES) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED, "more than %d attributes",
                        MSTURN_MAX_ATTRIBUTES);
            return FALSE;
        }
        if (type == MSTURN_ATTR_MESSAGE_INTEGRITY) {
            if (alen != MSTURN_HMAC_LEN) {
                g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                            "MESSAGE-INTEGRITY of %u bytes, not 20", alen);
                return FALSE;
            }
            msg->integrity_offset = off;
        }
        msg->attrs[msg->n_attrs++] = (MsturnAttr){type, alen, buf + off + 4};
        off += 4 + (gsize)alen;
    }
    if (msg->n_attrs == 0) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN,
                    "no attributes: MAGIC-COOKIE must come first (2.2.2.8)");
        return FALSE;
    }
    return TRUE;
}

const MsturnAttr *msturn_find(const MsturnMsg *msg, uint16_t type)
{
    for (guint i = 0; i < msg->n_attrs; i++)
        if (msg->attrs[i].type == type)
            return &msg->attrs[i];
    return NULL;
}

gboolean msturn_get_u32(const MsturnMsg *msg, uint16_t type, uint32_t *out)
{
    const MsturnAttr *a = msturn_find(msg, type);
    if (!a || a->len != 4)
        return FALSE;
    *out = get32(a->value);
    return TRUE;
}

static gboolean get_addr(const MsturnAttr *a, struct sockaddr_in *out)
{
    if (!a || a->len != 8 || a->value[1] != 0x01)
        return FALSE;
    *out = (struct sockaddr_in){.sin_family = AF_INET};
    memcpy(&out->sin_port, a->value + 2, 2);
    memcpy(&out->sin_addr, a->value + 4, 4);
    return TRUE;
}

gboolean msturn_get_addr(const MsturnMsg *msg, uint16_t type, struct sockaddr_in *out)
{
    return get_addr(msturn_find(msg, type), out);
}

gboolean msturn_get_xor_addr(const MsturnMsg *msg, uint16_t type, struct sockaddr_in *out)
{
    if (!get_addr(msturn_find(msg, type), out))
        return FALSE;
    uint8_t *port = (uint8_t *)&out->sin_port, *ip = (uint8_t *)&out->sin_addr;
    for (int i = 0; i < 2; i++)
        port[i] ^= msg->tid[i];
    for (int i = 0; i < 4; i++)
        ip[i] ^= msg->tid[i];
    return TRUE;
}

/* The attributes 2.2.2 lists; any other below 0x8000 earns a 420. */
static const uint16_t known_required[] = {
    MSTURN_ATTR_MAPPED_ADDRESS,
    MSTURN_ATTR_USERNAME,
    MSTURN_ATTR_MESSAGE_INTEGRITY,
    MSTURN_ATTR_ERROR_CODE,
    MSTURN_ATTR_UNKNOWN_ATTRIBUTES,
    MSTURN_ATTR_LIFETIME,
    MSTURN_ATTR_ALTERNATE_SERVER,
    MSTURN_ATTR_MAGIC_COOKIE,
    MSTURN_ATTR_BANDWIDTH,
    MSTURN_ATTR_DESTINATION_ADDRESS,
    MSTURN_ATTR_REMOTE_ADDRESS,
    MSTURN_ATTR_DATA,
    MSTURN_ATTR_NONCE,
    MSTURN_ATTR_REALM,
    MSTURN_ATTR_REQUESTED_ADDRESS_FAMILY,
};

uint16_t msturn_unknown_required(const MsturnMsg *msg)
{
    for (guint i = 0; i < msg->n_attrs; i++) {
        uint16_t t = msg->attrs[i].type;
        if (t >= 0x8000)
            continue;
        gboolean known = FALSE;
        for (gsize k = 0; k < G_N_ELEMENTS(known_required); k++)
            known = known || known_required[k] == t;
        if (!known)
            return t;
    }
    return 0;
}

typedef struct {
    uint16_t value;
    const char *name;
} Name;

static const Name type_names[] = {
    {MSTURN_ALLOCATE_REQUEST, "Allocate request"},
    {MSTURN_ALLOCATE_RESPONSE, "Allocate response"},
    {MSTURN_ALLOCATE_ERROR, "Allocate error response"},
    {MSTURN_SEND_REQUEST, "Send request"},
    {MSTURN_DATA_INDICATION, "Data Indication"},
    {MSTURN_SAD_REQUEST, "Set Active Destination request"},
    {MSTURN_SAD_RESPONSE, "Set Active Destination response"},
    {MSTURN_SAD_ERROR, "Set Active Destination error response"},
};

static const Name attr_names[] = {
    {MSTURN_ATTR_MAPPED_ADDRESS, "MAPPED-ADDRESS"},
    {MSTURN_ATTR_USERNAME, "USERNAME"},
    {MSTURN_ATTR_MESSAGE_INTEGRITY, "MESSAGE-INTEGRITY"},
    {MSTURN_ATTR_ERROR_CODE, "ERROR-CODE"},
    {MSTURN_ATTR_UNKNOWN_ATTRIBUTES, "UNKNOWN-ATTRIBUTES"},
    {MSTURN_ATTR_LIFETIME, "LIFETIME"},
    {MSTURN_ATTR_ALTERNATE_SERVER, "ALTERNATE-SERVER"},
    {MSTURN_ATTR_MAGIC_COOKIE, "MAGIC-COOKIE"},
    {MSTURN_ATTR_BANDWIDTH, "BANDWIDTH"},
    {MSTURN_ATTR_DESTINATION_ADDRESS, "DESTINATION-ADDRESS"},
    {MSTURN_ATTR_REMOTE_ADDRESS, "REMOTE-ADDRESS"},
    {MSTURN_ATTR_DATA, "DATA"},
    {MSTURN_ATTR_NONCE, "NONCE"},
    {MSTURN_ATTR_REALM, "REALM"},
    {MSTURN_ATTR_REQUESTED_ADDRESS_FAMILY, "REQUESTED-ADDRESS-FAMILY"},
    {MSTURN_ATTR_MS_VERSION, "MS-VERSION"},
    {MSTURN_ATTR_XOR_MAPPED_ADDRESS, "XOR-MAPPED-ADDRESS"},
    {MSTURN_ATTR_MS_SEQUENCE_NUMBER, "MS-SEQUENCE-NUMBER"},
};

/* [MS-TURN] 3.3.5.1's codes and the reason phrases of [IETFDRAFT-STUN-02]/TURN-08. */
static const struct {
    int code;
    const char *reason;
} error_reasons[] = {
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {420, "Unknown Attribute"},
    {431, "Integrity Check Failure"},
    {432, "Missing Username"},
    {434, "Missing Realm"},
    {435, "Missing Nonce"},
    {436, "Unknown User"},
    {437, "No Binding"},
    {438, "Stale Nonce"},
    {486, "Allocation Quota Reached"},
    {500, "Server Error"},
    {508, "Insufficient Capacity"},
};

static const char *lookup(const Name *t, gsize n, uint16_t v)
{
    for (gsize i = 0; i < n; i++)
        if (t[i].value == v)
            return t[i].name;
    return NULL;
}

const char *msturn_type_name(uint16_t type)
{
    const char *n = lookup(type_names, G_N_ELEMENTS(type_names), type);
    return n ? n : "unknown type";
}

const char *msturn_attr_name(uint16_t type)
{
    return lookup(attr_names, G_N_ELEMENTS(attr_names), type);
}

const char *msturn_error_reason(int code)
{
    for (gsize i = 0; i < G_N_ELEMENTS(error_reasons); i++)
        if (error_reasons[i].code == code)
            return error_reasons[i].reason;
    return "Error";
}

static void append_text(GString *s, const uint8_t *v, gsize n)
{
    gsize shown = MIN(n, 48);
    for (gsize i = 0; i < shown; i++)
        g_string_append_c(s, v[i] >= 0x21 && v[i] < 0x7f && v[i] != '"' ? (char)v[i] : '.');
    if (shown < n)
        g_string_append(s, "...");
}

static void append_addr(GString *s, const struct sockaddr_in *a)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    g_string_append_printf(s, "%s:%u", ip, ntohs(a->sin_port));
}

char *msturn_describe(const MsturnMsg *msg)
{
    GString *s = g_string_new(msturn_type_name(msg->type));
    if (!lookup(type_names, G_N_ELEMENTS(type_names), msg->type))
        g_string_append_printf(s, " 0x%04x", msg->type);
    g_string_append(s, " tid=");
    for (int i = 0; i < MSTURN_TID_LEN; i++)
        g_string_append_printf(s, "%02x", msg->tid[i]);
    g_string_append(s, " [");
    for (guint i = 0; i < msg->n_attrs; i++) {
        const MsturnAttr *a = &msg->attrs[i];
        const char *name = msturn_attr_name(a->type);
        if (i)
            g_string_append_c(s, ' ');
        if (name)
            g_string_append(s, name);
        else
            g_string_append_printf(s, "0x%04x", a->type);
        struct sockaddr_in addr;
        switch (a->type) {
        case MSTURN_ATTR_LIFETIME:
        case MSTURN_ATTR_BANDWIDTH:
        case MSTURN_ATTR_MS_VERSION:
            if (a->len == 4)
                g_string_append_printf(s, "=%u", get32(a->value));
            break;
        case MSTURN_ATTR_MAPPED_ADDRESS:
        case MSTURN_ATTR_DESTINATION_ADDRESS:
        case MSTURN_ATTR_REMOTE_ADDRESS:
        case MSTURN_ATTR_ALTERNATE_SERVER:
            if (get_addr(a, &addr)) {
                g_string_append_c(s, '=');
                append_addr(s, &addr);
            }
            break;
        case MSTURN_ATTR_XOR_MAPPED_ADDRESS:
            if (msturn_get_xor_addr(msg, a->type, &addr)) {
                g_string_append_c(s, '=');
                append_addr(s, &addr);
            }
            break;
        case MSTURN_ATTR_ERROR_CODE:
            if (a->len >= 4)
                g_string_append_printf(s, "=%d", (a->value[2] & 7) * 100 + a->value[3]);
            break;
        case MSTURN_ATTR_REALM:
        case MSTURN_ATTR_NONCE:
        case MSTURN_ATTR_USERNAME:
            g_string_append(s, "=\"");
            append_text(s, a->value, a->len);
            g_string_append_c(s, '"');
            break;
        case MSTURN_ATTR_DATA:
            g_string_append_printf(s, "(%u bytes)", a->len);
            break;
        case MSTURN_ATTR_MS_SEQUENCE_NUMBER:
            if (a->len == MSTURN_CONNECTION_ID_LEN + 4)
                g_string_append_printf(s, "=%u", get32(a->value + MSTURN_CONNECTION_ID_LEN));
            break;
        default:
            break;
        }
    }
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

static uint8_t *reserve(MsturnBuilder *b, uint16_t type, gsize len)
{
    if (b->overflow || len > 0xFFFF || b->len + 4 + len > sizeof(b->buf)) {
        b->overflow = TRUE;
        return NULL;
    }
    uint8_t *p = b->buf + b->len;
    put16(p, type);
    put16(p + 2, (uint16_t)len);
    b->len += 4 + len;
    put16(b->buf + 2, (uint16_t)(b->len - MSTURN_HEADER_LEN));
    return p + 4;
}

void msturn_build_init(MsturnBuilder *b, uint16_t type, const uint8_t tid[MSTURN_TID_LEN])
{
    memset(b->buf, 0, MSTURN_HEADER_LEN);
    b->len = MSTURN_HEADER_LEN;
    b->overflow = FALSE;
    put16(b->buf, type);
    memcpy(b->buf + 4, tid, MSTURN_TID_LEN);
    msturn_build_u32(b, MSTURN_ATTR_MAGIC_COOKIE, MSTURN_MAGIC_COOKIE);
}

void msturn_build_bytes(MsturnBuilder *b, uint16_t type, const void *value, gsize len)
{
    uint8_t *p = reserve(b, type, len);
    if (p && len)
        memcpy(p, value, len);
}

void msturn_build_u32(MsturnBuilder *b, uint16_t type, uint32_t value)
{
    uint8_t *p = reserve(b, type, 4);
    if (p)
        put32(p, value);
}

void msturn_build_addr(MsturnBuilder *b, uint16_t type, const struct sockaddr_in *addr)
{
    uint8_t *p = reserve(b, type, 8);
    if (!p)
        return;
    p[0] = 0;
    p[1] = 0x01;
    memcpy(p + 2, &addr->sin_port, 2);
    memcpy(p + 4, &addr->sin_addr, 4);
}

void msturn_build_xor_addr(MsturnBuilder *b, uint16_t type, const struct sockaddr_in *addr)
{
    gsize at = b->len + 4;
    msturn_build_addr(b, type, addr);
    if (b->overflow)
        return;
    for (int i = 0; i < 2; i++)
        b->buf[at + 2 + i] ^= b->buf[4 + i];
    for (int i = 0; i < 4; i++)
        b->buf[at + 4 + i] ^= b->buf[4 + i];
}

void msturn_build_error(MsturnBuilder *b, int code)
{
    const char *reason = msturn_error_reason(code);
    gsize n = strlen(reason);
    uint8_t *p = reserve(b, MSTURN_ATTR_ERROR_CODE, 4 + n);
    if (!p)
        return;
    p[0] = p[1] = 0;
    p[2] = (uint8_t)(code / 100);
    p[3] = (uint8_t)(code % 100);
    memcpy(p + 4, reason, n);
}

void msturn_build_error_response(MsturnBuilder *b, uint16_t request_type,
                                 const uint8_t tid[MSTURN_TID_LEN], int code, const char *realm,
                                 const char *nonce, uint16_t unknown_attr)
{
    msturn_build_init(
        b, request_type == MSTURN_SAD_REQUEST ? MSTURN_SAD_ERROR : MSTURN_ALLOCATE_ERROR, tid);
    msturn_build_error(b, code);
    if (code == 420) {
        uint8_t v[4] = {(uint8_t)(unknown_attr >> 8), (uint8_t)unknown_attr,
                        (uint8_t)(unknown_attr >> 8), (uint8_t)unknown_attr};
        msturn_build_bytes(b, MSTURN_ATTR_UNKNOWN_ATTRIBUTES, v, sizeof(v));
    }
    if (code == 401 || code == 438) {
        msturn_build_bytes(b, MSTURN_ATTR_REALM, realm, strlen(realm));
        msturn_build_bytes(b, MSTURN_ATTR_NONCE, nonce, strlen(nonce));
        msturn_build_u32(b, MSTURN_ATTR_MS_VERSION, MSTURN_SERVER_VERSION);
    }
}

void msturn_build_allocate_response(MsturnBuilder *b, const uint8_t tid[MSTURN_TID_LEN],
                                    const MsturnAllocation *a)
{
    msturn_build_init(b, MSTURN_ALLOCATE_RESPONSE, tid);
    msturn_build_addr(b, MSTURN_ATTR_MAPPED_ADDRESS, &a->relayed);
    msturn_build_xor_addr(b, MSTURN_ATTR_XOR_MAPPED_ADDRESS, &a->reflexive);
    msturn_build_u32(b, MSTURN_ATTR_LIFETIME, a->lifetime);
    if (a->has_bandwidth)
        msturn_build_u32(b, MSTURN_ATTR_BANDWIDTH, a->bandwidth);
    if (a->has_version)
        msturn_build_u32(b, MSTURN_ATTR_MS_VERSION, MIN(a->version, MSTURN_SERVER_VERSION));
    uint8_t seq[MSTURN_CONNECTION_ID_LEN + 4] = {0};
    memcpy(seq, a->connection_id, MSTURN_CONNECTION_ID_LEN);
    msturn_build_bytes(b, MSTURN_ATTR_MS_SEQUENCE_NUMBER, seq, sizeof(seq));
    msturn_build_bytes(b, MSTURN_ATTR_REALM, a->realm, strlen(a->realm));
}

void msturn_build_data_indication(MsturnBuilder *b, const uint8_t tid[MSTURN_TID_LEN],
                                  const struct sockaddr_in *from, const uint8_t *data, gsize len)
{
    msturn_build_init(b, MSTURN_DATA_INDICATION, tid);
    msturn_build_addr(b, MSTURN_ATTR_REMOTE_ADDRESS, from);
    msturn_build_bytes(b, MSTURN_ATTR_DATA, data, len);
}

gsize msturn_build_finish(MsturnBuilder *b, const uint8_t key[MSTURN_KEY_LEN])
{
    if (key) {
        gsize text = b->len;
        uint8_t *p = reserve(b, MSTURN_ATTR_MESSAGE_INTEGRITY, MSTURN_HMAC_LEN);
        if (p)
            msturn_hmac(b->buf, text, key, p);
    }
    return b->overflow ? 0 : b->len;
}

void msturn_key(const void *user, gsize user_len, const void *realm, gsize realm_len,
                const void *pass, gsize pass_len, uint8_t key[MSTURN_KEY_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = MSTURN_KEY_LEN;
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    EVP_DigestUpdate(ctx, user, user_len);
    EVP_DigestUpdate(ctx, ":", 1);
    EVP_DigestUpdate(ctx, realm, realm_len);
    EVP_DigestUpdate(ctx, ":", 1);
    EVP_DigestUpdate(ctx, pass, pass_len);
    EVP_DigestFinal_ex(ctx, key, &n);
    EVP_MD_CTX_free(ctx);
}

void msturn_hmac(const uint8_t *buf, gsize text_len, const uint8_t key[MSTURN_KEY_LEN],
                 uint8_t out[MSTURN_HMAC_LEN])
{
    uint8_t text[MSTURN_MAX_MESSAGE + 64] = {0};
    unsigned int n = MSTURN_HMAC_LEN;
    g_return_if_fail(text_len <= MSTURN_MAX_MESSAGE);
    memcpy(text, buf, text_len);
    HMAC(EVP_sha1(), key, MSTURN_KEY_LEN, text, (text_len + 63) / 64 * 64, out, &n);
}

gboolean msturn_check_integrity(const MsturnMsg *msg, const uint8_t key[MSTURN_KEY_LEN])
{
    if (!msg->integrity_offset)
        return FALSE;
    uint8_t mac[MSTURN_HMAC_LEN];
    msturn_hmac(msg->buf, msg->integrity_offset, key, mac);
    return CRYPTO_memcmp(mac, msg->buf + msg->integrity_offset + 4, MSTURN_HMAC_LEN) == 0;
}

static gboolean find_text(const MsturnMsg *msg, uint16_t type, const uint8_t **v, gsize *n)
{
    const MsturnAttr *a = msturn_find(msg, type);
    if (!a)
        return FALSE;
    *v = a->value;
    *n = a->len;
    return TRUE;
}

int msturn_authenticate(const MsturnAuth *auth, const MsturnMsg *msg, gboolean need_nonce,
                        gint64 now_s, uint8_t key[MSTURN_KEY_LEN], const char **why)
{
    const uint8_t *user, *realm, *nonce;
    gsize user_len, realm_len, nonce_len;
    if (!msg->integrity_offset) {
        *why = "no MESSAGE-INTEGRITY";
        return 401;
    }
    if (!find_text(msg, MSTURN_ATTR_USERNAME, &user, &user_len)) {
        *why = "MESSAGE-INTEGRITY without USERNAME";
        return 432;
    }
    if (user_len != auth->user_len || memcmp(user, auth->user, user_len) != 0) {
        *why = "USERNAME is not the configured user";
        return 436;
    }
    if (!find_text(msg, MSTURN_ATTR_REALM, &realm, &realm_len)) {
        *why = "no REALM";
        return 434;
    }
    if (realm_len != strlen(auth->realm) || memcmp(realm, auth->realm, realm_len) != 0) {
        *why = "REALM is not this relay's";
        return 401;
    }
    if (need_nonce) {
        if (!find_text(msg, MSTURN_ATTR_NONCE, &nonce, &nonce_len)) {
            *why = "no NONCE";
            return 435;
        }
        int fresh =
            msturn_nonce_check(auth->nonce_secret, nonce, nonce_len, now_s, auth->nonce_lifetime_s);
        if (fresh != 0) {
            *why = fresh > 0 ? "NONCE expired" : "NONCE not issued by this relay";
            return 438;
        }
    }
    msturn_key(user, user_len, realm, realm_len, auth->pass, auth->pass_len, key);
    if (!msturn_check_integrity(msg, key)) {
        *why = "MESSAGE-INTEGRITY does not match the user's key";
        return 431;
    }
    *why = NULL;
    return 0;
}

gboolean msturn_frame_header(const uint8_t hdr[MSTURN_FRAME_HEADER_LEN], uint8_t *type,
                             uint16_t *frame_len, GError **error)
{
    if (hdr[0] != MSTURN_FRAME_CONTROL && hdr[0] != MSTURN_FRAME_DATA) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                    "TCP frame type 0x%02x: 0x02 (control) or 0x03 (data) (2.1.4)", hdr[0]);
        return FALSE;
    }
    *type = hdr[0];
    *frame_len = get16(hdr + 2);
    return TRUE;
}

void msturn_frame_write(uint8_t hdr[MSTURN_FRAME_HEADER_LEN], uint8_t type, uint16_t len)
{
    hdr[0] = type;
    hdr[1] = 0;
    put16(hdr + 2, len);
}

/* The ClientHello record of 2.1.1, byte by byte; -1 marks the client's
 * timestamp and random value (offsets 11 to 42), which may be anything. */
static const int client_hello[MSTURN_CLIENT_HELLO_LEN] = {
    0x16, 0x03, 0x01, 0x00, 0x2d,               /* handshake record, TLS 1.0, 45 bytes */
    0x01, 0x00, 0x00, 0x29, 0x03, 0x01,         /* ClientHello, 41 bytes, TLS 1.0 */
    -1,   -1,   -1,   -1,   -1,   -1,   -1, -1, /* time stamp and random value */
    -1,   -1,   -1,   -1,   -1,   -1,   -1, -1, -1, -1, -1, -1,   -1,
    -1,   -1,   -1,   -1,   -1,   -1,   -1, -1, -1, -1, -1, 0x00, /* no session ID */
    0x00, 0x02, 0x00, 0x18,                                       /* one cipher suite: 0x0018 */
    0x01, 0x00,                                                   /* one compression method: null */
};

gboolean msturn_client_hello_check(const uint8_t *buf, gsize len, GError **error)
{
    if (len < MSTURN_CLIENT_HELLO_LEN) {
        g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                    "pseudo-TLS ClientHello of %zu bytes, not %d", len, MSTURN_CLIENT_HELLO_LEN);
        return FALSE;
    }
    for (int i = 0; i < MSTURN_CLIENT_HELLO_LEN; i++) {
        if (client_hello[i] >= 0 && buf[i] != client_hello[i]) {
            g_set_error(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED,
                        "pseudo-TLS ClientHello byte %d is 0x%02x, not 0x%02x (2.1.1)", i, buf[i],
                        client_hello[i]);
            return FALSE;
        }
    }
    return TRUE;
}

void msturn_server_hello(uint8_t out[MSTURN_SERVER_HELLO_LEN], const uint8_t random[64])
{
    static const uint8_t head[] = {
        0x16, 0x03, 0x01, 0x00, 0x4e,       /* handshake record, TLS 1.0, 78 bytes */
        0x02, 0x00, 0x00, 0x46, 0x03, 0x01, /* ServerHello, 70 bytes, TLS 1.0 */
    };
    gsize o = 0;
    memcpy(out, head, sizeof(head));
    o += sizeof(head);
    memcpy(out + o, random, 32); /* time stamp and random value */
    o += 32;
    out[o++] = 0x20; /* a 32-byte session ID */
    memcpy(out + o, random + 32, 32);
    o += 32;
    out[o++] = 0x00; /* cipher suite 0x0018, the client's only one */
    out[o++] = 0x18;
    out[o++] = 0x00; /* compression: null */
    out[o++] = 0x0e; /* ServerHelloDone, empty, in the same record */
    out[o++] = 0x00;
    out[o++] = 0x00;
    out[o++] = 0x00;
    g_assert(o == MSTURN_SERVER_HELLO_LEN);
}

static void nonce_mac(const uint8_t secret[16], const char stamp[9], char hex[25])
{
    uint8_t mac[20];
    unsigned int n = sizeof(mac);
    HMAC(EVP_sha1(), secret, 16, (const uint8_t *)stamp, 8, mac, &n);
    for (int i = 0; i < 12; i++)
        g_snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

void msturn_nonce_make(const uint8_t secret[16], gint64 now_s, char out[33])
{
    char stamp[9], mac[25];
    g_snprintf(stamp, sizeof(stamp), "%08x", (guint32)now_s);
    nonce_mac(secret, stamp, mac);
    g_snprintf(out, 33, "%s%s", stamp, mac);
}

int msturn_nonce_check(const uint8_t secret[16], const uint8_t *nonce, gsize len, gint64 now_s,
                       gint64 lifetime_s)
{
    if (len != 32)
        return -1;
    char stamp[9], mac[25];
    memcpy(stamp, nonce, 8);
    stamp[8] = 0;
    for (int i = 0; i < 8; i++)
        if (!g_ascii_isxdigit(stamp[i]) || g_ascii_isupper(stamp[i]))
            return -1;
    nonce_mac(secret, stamp, mac);
    if (CRYPTO_memcmp(mac, nonce + 8, 24) != 0)
        return -1;
    guint32 issued = (guint32)g_ascii_strtoull(stamp, NULL, 16);
    guint32 age = (guint32)now_s - issued;
    return age > (guint64)lifetime_s ? 1 : 0;
}

gboolean msturn_seq_after(uint32_t a, uint32_t b)
{
    return a != b && (uint32_t)(a - b) < 0x80000000u;
}
