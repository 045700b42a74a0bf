/* The lab MS-TURN relay's reading of outside bytes (tests/lab/tools/msturn-proto.c):
 * a datagram, a TCP stream of frames after a pseudo-TLS ClientHello. Any input
 * gives an answer, never a crash; whatever parses is described, authenticated
 * and answered, and every answer the relay builds parses back. */
#include <stdint.h>
#include <string.h>

#include "msturn-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const MsturnMsg *m)
{
    static const uint8_t user[] = "user", pass[] = "pass";
    MsturnAuth auth = {user, 4, pass, 4, "edge.lab", {1, 2, 3}, 600};
    uint8_t key[MSTURN_KEY_LEN];
    const char *why;
    /* Send and Set Active Destination are authenticated without a nonce: the
     * integrity check then runs on whatever the message says (a fixed
     * secret's nonce is out of the fuzzer's reach). */
    int plain = msturn_authenticate(&auth, m, FALSE, 1700000000, key, &why);
    g_assert(plain == 0 || why != NULL);
    uint8_t any_key[MSTURN_KEY_LEN] = {7};
    (void)msturn_check_integrity(m, any_key);
    int code = msturn_authenticate(&auth, m, TRUE, 1700000000, key, &why);
    g_assert(code == 0 || why != NULL);
    MsturnBuilder b;
    msturn_build_init(&b, m->type | 0x0110, m->tid);
    msturn_build_error(&b, code ? code : 400);
    struct sockaddr_in a;
    if (msturn_get_addr(m, MSTURN_ATTR_DESTINATION_ADDRESS, &a))
        msturn_build_xor_addr(&b, MSTURN_ATTR_XOR_MAPPED_ADDRESS, &a);
    const MsturnAttr *d = msturn_find(m, MSTURN_ATTR_DATA);
    if (d)
        msturn_build_bytes(&b, MSTURN_ATTR_DATA, d->value, d->len);
    /* What a TCP allocation would hand back of it: a Data Indication of at
     * most MSTURN_DATA_INDICATION_ROOM bytes, which always fits and parses. */
    if (d && msturn_get_addr(m, MSTURN_ATTR_DESTINATION_ADDRESS, &a)) {
        MsturnBuilder di;
        msturn_build_data_indication(&di, m->tid, &a, d->value,
                                     MIN(d->len, MSTURN_DATA_INDICATION_ROOM));
        gsize dlen = msturn_build_finish(&di, NULL);
        MsturnMsg dback;
        g_assert(dlen && msturn_parse(di.buf, dlen, &dback, NULL) &&
                 msturn_find(&dback, MSTURN_ATTR_DATA)->len ==
                     MIN(d->len, MSTURN_DATA_INDICATION_ROOM));
    }
    gsize len = msturn_build_finish(&b, code ? NULL : key);
    MsturnMsg back;
    if (len)
        g_assert(msturn_parse(b.buf, len, &back, NULL) && back.n_attrs >= 2);
    else
        g_assert(b.overflow);
}

static void datagram(const uint8_t *data, size_t size)
{
    MsturnMsg m;
    if (!msturn_parse(data, size, &m, NULL))
        return;
    g_assert(msturn_is_turn(data, size));
    g_free(msturn_describe(&m));
    (void)msturn_unknown_required(&m);
    answer(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    datagram(data, size);
    uint8_t secret[16] = {0};
    (void)msturn_nonce_check(secret, data, size, 1700000000, 600);
    /* As a TCP stream: an optional ClientHello, then frames. */
    size_t off = 0;
    if (msturn_client_hello_check(data, size, NULL))
        off = MSTURN_CLIENT_HELLO_LEN;
    while (size - off >= MSTURN_FRAME_HEADER_LEN) {
        uint8_t type;
        uint16_t len;
        if (!msturn_frame_header(data + off, &type, &len, NULL))
            break;
        off += MSTURN_FRAME_HEADER_LEN;
        if (len > size - off)
            break;
        if (type == MSTURN_FRAME_CONTROL)
            datagram(data + off, len);
        off += len;
    }
    return 0;
}
