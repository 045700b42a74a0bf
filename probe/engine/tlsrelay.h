/* The probe's own TCP and TLS connections to the edge.
 *
 * libnice's TURN-TLS sends plain TCP, and for TURN over TCP it does not know the
 * real local end of its connection. So libnice is given TURN-over-TCP servers on
 * loopback that are forwarders owned here: each accepted connection is carried
 * to the edge over a connection this module makes (plain TCP, or TLS verified
 * against the profile's CA and/or pin), whose local address is recorded. */
#pragma once

#include <gio/gio.h>

#include "iceprobe/result.h"

#define TLSRELAY_ERROR (tlsrelay_error_quark())
GQuark tlsrelay_error_quark(void);
typedef enum {
    TLSRELAY_ERROR_CONNECT,
    TLSRELAY_ERROR_TLS,    /* handshake failed */
    TLSRELAY_ERROR_VERIFY, /* certificate not trusted, wrong name, or pin mismatch */
} TlsRelayError;

typedef struct {
    char *edge_ip; /* numeric address */
    guint port;
    gboolean tls;
    char *ca_file;    /* may be NULL: system CAs, unless only a pin is given */
    char *pin_sha256; /* lower-case hex of the leaf certificate's SHA-256, may be NULL */
    char *server_name;
    guint timeout_ms;
    /* An MS-TURN edge (docs/sfb.md): the forwarder carries libnice's MS-TURN
     * framing (and, with pseudo_tls, its pseudo-TLS hello first) as plain TCP,
     * and counts media in that framing. */
    gboolean ms_turn;
    gboolean pseudo_tls;
} TlsRelayConfig;

/* What a TLS handshake showed of the other end. */
typedef struct {
    char *local_address; /* ip:port of our end */
    gboolean handshake_done;
    char *leaf_sha256; /* hex */
    char *subject;
    char *issuer;
    char *protocol;
    gboolean chain_ok; /* verified against the CA (or system CAs) and name */
    char *verify_error;
    gboolean pin_checked;
    gboolean pin_ok;
} TlsPeerInfo;

void tls_peer_info_clear(TlsPeerInfo *i);

/* An open connection to the edge (plain or TLS, verified). */
typedef struct TlsRelayConn TlsRelayConn;
TlsRelayConn *tlsrelay_connect(const TlsRelayConfig *cfg, TlsPeerInfo *info, GError **error);
gboolean tlsrelay_conn_send(TlsRelayConn *c, const guint8 *buf, gsize len, GError **error);
/* Reads what is there (at most len), waiting up to timeout_ms; 0 on timeout,
 * -1 with error on failure or close. */
gssize tlsrelay_conn_recv(TlsRelayConn *c, guint8 *buf, gsize len, guint timeout_ms,
                          GError **error);
void tlsrelay_conn_close(TlsRelayConn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TlsRelayConn, tlsrelay_conn_close)

/* [MS-TURN] 2.1.1: an SfB edge's TCP 443 takes a fixed TLS-looking hello and
 * answers with a fixed reply (a ServerHello and ServerHelloDone in one record;
 * no certificate, no keys): the "pseudo-TLS" handshake. What the other end
 * did with the hello: */
typedef enum {
    PSEUDO_TLS_OK,            /* the edge's fixed reply */
    PSEUDO_TLS_TLS_HANDSHAKE, /* a TLS handshake that is not the fixed reply: a TLS endpoint */
    PSEUDO_TLS_ALERT,         /* a TLS alert: a TLS endpoint refusing the hello */
    PSEUDO_TLS_RESET,         /* the connection was reset */
    PSEUDO_TLS_CLOSED,        /* the connection was closed */
    PSEUDO_TLS_SILENT,        /* no answer in the time given */
    PSEUDO_TLS_OTHER,         /* bytes that are not TLS */
} PseudoTlsAnswer;
const char *pseudo_tls_answer_name(PseudoTlsAnswer a);
#define PSEUDO_TLS_HELLO_LEN 50
#define PSEUDO_TLS_REPLY_LEN 83
/* Sends the client's hello on a plain connection and judges the answer; detail
 * (may be NULL) gets one line on what came back. */
PseudoTlsAnswer tlsrelay_pseudo_tls(TlsRelayConn *c, guint timeout_ms, char **detail);
/* Whether buf (len bytes) is the edge's fixed reply (its two random fields may
 * hold anything). */
gboolean pseudo_tls_reply_ok(const guint8 *buf, gsize len);

/* A forwarder listening on 127.0.0.1. */
typedef struct TlsRelay TlsRelay;
TlsRelay *tlsrelay_start(const TlsRelayConfig *cfg, GError **error);
guint tlsrelay_port(const TlsRelay *r);
/* Local ends of the connections made to the edge so far (GInetSocketAddress),
 * and the last error if one failed. */
GPtrArray *tlsrelay_local_addresses(TlsRelay *r);
char *tlsrelay_last_error(TlsRelay *r);
/* What was sent to and received from the edge over all the forwarder's
 * connections so far (the system's count for those sockets alone, tcpstats.h:
 * TCP_INFO's segments on Linux; on Windows segments where elevated, else
 * bytes): a path's own traffic, whatever else crosses the same interface. *by
 * says what counted them, and so their unit. FALSE when the system did not
 * count some connection's, or counted two in different units: the figures
 * are then not the connections'. */
gboolean tlsrelay_counts(TlsRelay *r, guint64 *out, guint64 *in, ConnCounter *by);
/* Media messages (RTP in ChannelData or Send indications) carried to the edge
 * over all the forwarder's connections so far. */
guint64 tlsrelay_media_out(TlsRelay *r);
void tlsrelay_stop(TlsRelay *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TlsRelay, tlsrelay_stop)
