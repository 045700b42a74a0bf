/* The JSON bodies of the controller's API (docs/contract.md, "Controller API"):
 * parsed the same way by the controller and, for the answers, by the agent.
 * Every parser caps the body's size and depth, refuses members it does not know,
 * and names the member that was wrong. */
#pragma once

#include <json-glib/json-glib.h>

#define PROTOCOL_ERROR (protocol_error_quark())
GQuark protocol_error_quark(void);
typedef enum {
    PROTOCOL_ERROR_SIZE,
    PROTOCOL_ERROR_SYNTAX,
    PROTOCOL_ERROR_FIELD,
} ProtocolError;

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
gboolean protocol_parse_run_request(const char *data, gsize len, RunRequest *out, GError **error);

/* POST /api/v1/agent/heartbeat: {"version", "name"?, "groups"?, "interfaces": [...]}. */
typedef struct {
    char *version;
    char *name;       /* optional: must then match the token's agent */
    char **groups;    /* optional: likewise */
    char *interfaces; /* JSON array text, re-written from what was parsed */
} Heartbeat;
void heartbeat_clear(Heartbeat *h);
gboolean protocol_parse_heartbeat(const char *data, gsize len, Heartbeat *out, GError **error);

/* POST /api/v1/runs/{id}/signal: {"message": {...}}; *message gets the object's text. */
gboolean protocol_parse_signal(const char *data, gsize len, char **message, GError **error);

/* A name of an agent, group or profile: 1-64 of [A-Za-z0-9._-]. */
gboolean protocol_valid_name(const char *s);
