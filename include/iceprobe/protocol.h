/* The JSON bodies of the controller's API (docs/contract.md, "Controller API"):
 * parsed the same way by the controller and, for the answers, by the agent.
 * Every parser caps the body's size and depth and names the member that was
 * wrong. The API's bodies may carry no member a parser does not know; an order
 * (from the controller, to the agent) may: a newer controller's additions are
 * passed over, so that older agents keep working (protocol_parse_order_text,
 * the fuzz target's door, refuses them at the top level). */
#pragma once

#include <json-glib/json-glib.h>

#include "iceprobe/jsonin.h"
#include "iceprobe/policy.h"

/* Every parser fails in JSONIN_ERROR (jsonin.h): _SIZE over a cap, _SYNTAX not
 * JSON, _FIELD a member missing, unknown or wrong. */

#define PROTOCOL_MAX_BODY       (64 * 1024) /* every body but a report */
#define PROTOCOL_MAX_REPORT     (1024 * 1024)
#define PROTOCOL_MAX_DEPTH      16
#define PROTOCOL_MAX_NAME       64
#define PROTOCOL_MAX_INTERFACES 64
#define PROTOCOL_MAX_ADDRESSES  32 /* per interface */

/* POST /api/v1/runs: {"profile", "a", "b"}. */
typedef struct {
    char *profile;
    char *a, *b; /* an agent's name or group:NAME */
} RunRequest;
void run_request_clear(RunRequest *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RunRequest, run_request_clear)
gboolean protocol_parse_run_request(const char *data, gsize len, RunRequest *out, GError **error);

/* POST /api/v1/agent/heartbeat: {"version", "name"?, "groups"?, "interfaces": [...],
 * "vpn"?: {...}, "network_event"?: {"id", "kind", "at", "changes": [...]}}. */
typedef struct {
    char *version;
    char *name;       /* optional: must then match the token's agent */
    char **groups;    /* optional: likewise */
    char *interfaces; /* JSON array text, re-written from what was parsed */
    char *vpn;        /* the VPN's facts (probes[].vpn's members), re-written; NULL: none */
    /* The agent's newest network event, until a heartbeat carrying it is answered;
     * NULL members: none. */
    char *event_id;      /* the agent's own id of it: the same event sent again has the same */
    char *event_kind;    /* vpn-up, vpn-down or network-change */
    char *event_summary; /* its changes joined with "; " */
    char *event;         /* the object, re-written */
} Heartbeat;
/* The kinds of an agent's network event. */
extern const char *const protocol_network_event_kinds[];
void heartbeat_clear(Heartbeat *h);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Heartbeat, heartbeat_clear)
gboolean protocol_parse_heartbeat(const char *data, gsize len, Heartbeat *out, GError **error);

/* POST /api/v1/runs/{id}/signal: {"message": {...}}; *message gets the object's text. */
gboolean protocol_parse_signal(const char *data, gsize len, char **message, GError **error);

/* The paths of a paired run as an order names them (NULL-terminated), and how
 * the policy judges each (relay-*: as relay; an unknown name: natural). */
extern const char *const protocol_paired_paths[];
PolicyPathKind protocol_paired_path_kind(const char *name);

/* TRUE for a run's state (the "state" member of a run's document or of a signal
 * answer) after which nothing more happens: done or error (NULL: FALSE). */
gboolean protocol_run_state_is_final(const char *state);

/* A name of an agent, group or profile: 1-64 of [A-Za-z0-9._-]. */
gboolean protocol_valid_name(const char *s);

/* An order, as GET /api/v1/agent/orders hands it to an agent (docs/contract.md). */
#define PROTOCOL_MAX_PATHS 8
typedef struct {
    char *run_id;
    gboolean side_b; /* side "b"; FALSE: "a" */
    char *peer;
    gboolean controlling;
    char *profile_name;
    char *profile_text; /* the controller's profile file, at most 64 KiB */
    char *edge_ca_pem;  /* may be NULL */
    char **paths;       /* natural, relay, tunnel-only */
    guint duration_s;
    gint64 deadline; /* Unix seconds */
    char *turn_username, *turn_password;
    gint64 turn_expires_at; /* Unix seconds the credentials lapse (MRAS); 0: not said */
} Order;
void order_clear(Order *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Order, order_clear)
/* From the parsed object (one element of "orders"), every member checked. */
gboolean protocol_parse_order(JsonObject *o, Order *out, GError **error);
/* The same from a JSON text, size and depth capped first (the fuzz target's door). */
gboolean protocol_parse_order_text(const char *data, gsize len, Order *out, GError **error);

/* POST /api/v1/agent/runs: {"profile", "peer"}: an agent asks for a run of its
 * own against a named agent (`iceprobe run --peer`). */
typedef struct {
    char *profile;
    char *peer;
} PeerRunRequest;
void peer_run_request_clear(PeerRunRequest *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PeerRunRequest, peer_run_request_clear)
gboolean protocol_parse_peer_run_request(const char *data, gsize len, PeerRunRequest *out,
                                         GError **error);
