/* The paired run: this agent and its peer on another host, signalled through
 * the controller's mailbox (trickle ICE), run each path of an order against
 * each other and stream SRTP both ways; the report is this side's
 * iceprobe.run/1 document (docs/contract.md, "Paired runs").
 *
 * The messages between the two sides (each a JSON object with a "type"):
 *   hello     {tunnel, version}                        once, after the local checks
 *   session   {path, ufrag, pwd, key}                  ICE credentials, this side's SRTP key
 *   candidate {path, line}                             one local candidate as gathered
 *   gathered  {path}                                   this side's gathering is done
 *   sent      {path, packets}                          this side's stream has ended
 *   stats     {path, in: {packets_sent, ...}}          what this side received
 *   skip      {path, reason}                           this side cannot run the path
 * A message from the peer is outside data: peer_message_parse() checks it. */
#pragma once

#include <signal.h>

#include "iceprobe/metrics.h"
#include "iceprobe/protocol.h"
#include "iceprobe/result.h"
#include "stream.h"

typedef enum {
    PEER_HELLO,
    PEER_SESSION,
    PEER_CANDIDATE,
    PEER_GATHERED,
    PEER_SENT,
    PEER_STATS,
    PEER_SKIP,
} PeerMessageType;

typedef struct {
    PeerMessageType type;
    char *path;
    gboolean tunnel;
    char *version;
    char *ufrag, *pwd;
    guint8 key[STREAM_KEY_LEN];
    char *line;
    guint64 packets;
    MetricsSummary in;
    char *reason;
} PeerMessage;

gboolean peer_message_parse(JsonObject *o, PeerMessage *out, GError **error);
void peer_message_clear(PeerMessage *m);

typedef struct {
    const char *url, *token, *ca_file; /* the controller */
    volatile sig_atomic_t *stop;       /* SIGTERM: end the run cleanly */
} PairedEnv;

/* Carries out one order; never NULL. The document's run_id is the order's. */
RunResult *paired_execute(const Order *order, const PairedEnv *env);
