/* One reader for every JSON document that comes from outside: a report, an API
 * body, the controller's answer, a peer's message, the agent's status file.
 * The byte count and nesting depth are checked before json-glib sees the text
 * (its parser recurses), and every member read names its path in an error
 * ("paths[1].metrics.jitter_ms: not a number from 0 to 1e+07"). The limits are
 * the caller's: each document has its own (docs/contract.md). */
#pragma once

#include <json-glib/json-glib.h>

#define JSONIN_ERROR (jsonin_error_quark())
GQuark jsonin_error_quark(void);
typedef enum {
    JSONIN_ERROR_SIZE,   /* the document over its cap: bytes or depth (HTTP 413) */
    JSONIN_ERROR_SYNTAX, /* not JSON */
    JSONIN_ERROR_FIELD,  /* a member missing, unknown, of the wrong type, too long or too many,
                          * or with a wrong value */
} JsonInError;

typedef struct {
    const char *what; /* the document, in errors: "the body", "the report" */
    gsize max_bytes;
    guint max_depth;
} JsonInLimits;

/* The nesting depth of a JSON text (brackets outside strings), without parsing
 * it; G_MAXUINT for a text with a comment or a single-quoted string, which
 * json-glib would take and JSON does not have. */
guint jsonin_depth(const char *data, gsize len);
/* The document's root, within the limits: any JSON value. */
JsonNode *jsonin_parse(const char *data, gsize len, const JsonInLimits *lim, GError **error);
/* The document's root object (a reference, for json_object_unref). */
JsonObject *jsonin_parse_object(const char *data, gsize len, const JsonInLimits *lim,
                                GError **error);

/* Members of an object found at path AT ("" for the root). An absent member and
 * a null one are the same: absent. Each reader sets *out only when the member is
 * there and right, and fails (JSONIN_ERROR_FIELD, a member's cap included) with
 * a message naming AT.NAME; an absent member fails only when required. */
char *jsonin_path(const char *at, const char *name);
void jsonin_field_error(GError **error, const char *at, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* Every member of O is one of ALLOWED (a NULL-terminated list). */
gboolean jsonin_only(JsonObject *o, const char *at, const char *const *allowed, GError **error);
JsonNode *jsonin_member(JsonObject *o, const char *name);
/* A string of at most MAX bytes, copied into *out (what was there is freed). */
gboolean jsonin_string(JsonObject *o, const char *at, const char *name, gboolean required,
                       gsize max, char **out, GError **error);
gboolean jsonin_bool(JsonObject *o, const char *at, const char *name, gboolean required,
                     gboolean *out, GError **error);
/* A whole number from MIN to MAX. */
gboolean jsonin_int(JsonObject *o, const char *at, const char *name, gboolean required, gint64 min,
                    gint64 max, gint64 *out, GError **error);
/* A whole number from 0 (as a count). */
gboolean jsonin_count(JsonObject *o, const char *at, const char *name, gboolean required,
                      guint64 *out, GError **error);
/* Any number (a whole one too) from MIN to MAX. */
gboolean jsonin_double(JsonObject *o, const char *at, const char *name, gboolean required,
                       double min, double max, double *out, GError **error);
/* An object member; *out is borrowed from O (NULL when absent). */
gboolean jsonin_object(JsonObject *o, const char *at, const char *name, gboolean required,
                       JsonObject **out, GError **error);
/* An array member of at most MAX_ITEMS items; *out borrowed (NULL when absent). */
gboolean jsonin_array(JsonObject *o, const char *at, const char *name, gboolean required,
                      guint max_items, JsonArray **out, GError **error);
/* An array of at most MAX_ITEMS strings of at most MAX bytes each, as a strv. */
gboolean jsonin_strv(JsonObject *o, const char *at, const char *name, gboolean required,
                     guint max_items, gsize max, char ***out, GError **error);
/* Item I of A as an object, or an error naming AT[I]. */
JsonObject *jsonin_item_object(JsonArray *a, const char *at, guint i, GError **error);
