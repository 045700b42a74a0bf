/* The messages between the two agents of a paired run (paired.h lists them),
 * as this side reads the peer's: outside data, relayed by the controller. Each
 * member is checked and capped; an error names the member. */
#pragma once

#include <json-glib/json-glib.h>

#include "iceprobe/metrics.h"
#include "stream.h"

typedef enum {
    PEER_HELLO,
    PEER_SESSION,
    PEER_CANDIDATE,
    PEER_GATHERED,
    PEER_SENT,
    PEER_STATS,
    PEER_SKIP,
    PEER_CLOSING,
    PEER_RERUNS,
    PEER_CONNECTED,
} PeerMessageType;

typedef struct {
    PeerMessageType type;
    char *path;
    gboolean tunnel;
    gboolean closes;  /* hello: this agent posts `closing` and waits for the peer's */
    gboolean at_once; /* hello: this agent can run the paths at the same time */
    gboolean starts;  /* hello: it posts `connected`, and streams once the peer did too */
    guint64 ptime_ms; /* hello: its stream's ptime, its RTP timestamps' grid (0: not said) */
    char *version;
    char *ufrag, *pwd;
    guint8 key[STREAM_KEY_LEN];
    char *line;
    guint64 packets;
    MetricsSummary in;
    char *reason;
    char **paths; /* reruns: the paths to run again, one after another */
} PeerMessage;

/* Errors are JSONIN_ERROR's, naming the member; *out holds nothing on failure. */
gboolean peer_message_parse(JsonObject *o, PeerMessage *out, GError **error);
void peer_message_clear(PeerMessage *m);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PeerMessage, peer_message_clear)
/* A parsed message on the heap, or NULL with error set. */
PeerMessage *peer_message_new(JsonObject *o, GError **error);
void peer_message_free(PeerMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PeerMessage, peer_message_free)
