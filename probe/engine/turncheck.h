/* One TURN allocation on the edge over UDP, TCP or TLS, made with libnice's STUN
 * library, so that a failure can be named: no answer, 401 with the realm, 403,
 * 437, a TLS certificate that is not the edge's. The allocation is released. */
#pragma once

#include "tlsrelay.h"
#include "iceprobe/turncred.h"

typedef enum {
    TURNCHECK_UDP,
    TURNCHECK_TCP,
    TURNCHECK_TLS,
} TurnCheckTransport;

const char *turncheck_transport_name(TurnCheckTransport t);

typedef struct {
    gboolean ok;
    char *relayed_address; /* ip:port the edge allocated */
    char *mapped_address;  /* our address as the edge saw it */
    char *local_address;   /* our end of the socket or connection */
    guint error_code;      /* STUN error code of the final answer, 0 if none */
    char *error_reason;    /* its reason phrase */
    char *realm;
    char *failure; /* one line: what failed, with which value */
    double duration_ms;
    TlsPeerInfo tls; /* TLS only */
    /* MS-TURN over TLS: what the edge did with the pseudo-TLS hello, whether a
     * plain TCP connection to the port was made first, and (when a TLS
     * endpoint answered) the certificate it showed a real TLS handshake, in tls. */
    gboolean pseudo_tls_tried;
    PseudoTlsAnswer pseudo_tls;
    char *pseudo_tls_detail;
    gboolean tcp_connected;
} TurnCheckResult;

void turncheck_result_clear(TurnCheckResult *r);

/* Blocking; at most about timeout_ms. tls_cfg gives the TLS settings for
 * TURNCHECK_TLS (its edge_ip and port are replaced by these). ms_turn: the
 * edge's dialect is [MS-TURN] (docs/sfb.md): the credentials are the MRAS
 * base64 strings, TCP carries MS-TURN's framing, and TLS is the pseudo-TLS
 * handshake. */
void turncheck_run(const char *edge_ip, guint port, TurnCheckTransport transport, gboolean ms_turn,
                   const TurnCredentials *cred, const TlsRelayConfig *tls_cfg, guint timeout_ms,
                   TurnCheckResult *out);

/* Frames one STUN message from a TCP byte stream (libnice's
 * stun_message_validate_buffer_length): its length when buf holds a whole one,
 * 0 when more is needed, -1 when it is not STUN or not whole within
 * TURNCHECK_MAX_MESSAGE bytes. */
gssize turncheck_stun_frame_length(const guint8 *buf, gsize len);
/* The same for MS-TURN's framing ([MS-TURN] 2.1.4: type 2 control or 3 data,
 * a zero byte, the length of what follows): the whole frame's length. */
gssize turncheck_ms_frame_length(const guint8 *buf, gsize len);
#define TURNCHECK_MAX_MESSAGE 2048
