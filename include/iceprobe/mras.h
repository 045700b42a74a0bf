/* The credentials a Skype for Business pool's MRAS hands out for its A/V Edge
 * ([MS-AVEDGEA]): the credentialsResponse document a client receives in the
 * 200 OK to its SERVICE request, as the client's log shows it. Read with
 * GMarkup, every size capped (docs/sfb.md). */
#pragma once

#include <glib.h>

#define MRAS_ERROR (mras_error_quark())
GQuark mras_error_quark(void);
typedef enum {
    MRAS_ERROR_SIZE,    /* over a cap: bytes, depth, elements, relays, a value's length */
    MRAS_ERROR_SYNTAX,  /* not XML, or no credentialsResponse in it */
    MRAS_ERROR_FIELD,   /* an element missing or its value malformed */
    MRAS_ERROR_EXPIRED, /* the credentials' lifetime is over */
} MrasError;

#define MRAS_MAX_BYTES  (64 * 1024)
#define MRAS_MAX_DEPTH  16
#define MRAS_MAX_VALUE  1024 /* characters of one element's text */
#define MRAS_MAX_RELAYS 16
#define MRAS_MAX_ELEMENTS 512

typedef struct {
    char *location;  /* "internet" or "intranet" */
    char *host_name; /* the edge's name (or address) for that location */
    guint udp_port;  /* 0: none given */
    guint tcp_port;
} MrasRelay;

typedef struct {
    char *username;       /* base64, as the answer carries it */
    char *password;       /* base64 */
    guint duration_min;   /* the credentials' lifetime in minutes */
    GPtrArray *relays;    /* MrasRelay, in the answer's order */
    char *request_id;     /* credentialsRequestID, if given */
} MrasAnswer;

/* Reads a credentialsResponse: the XML alone, or a log excerpt or SIP message
 * that holds it (the parser starts at the first <response or
 * <credentialsResponse element and stops at its end). */
MrasAnswer *mras_parse(const char *data, gsize len, GError **error);
void mras_answer_free(MrasAnswer *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrasAnswer, mras_answer_free)

/* Whether s is a base64 string, as MRAS credentials are (libnice decodes them:
 * bad base64 would silently become other bytes). */
gboolean mras_is_base64(const char *s);
/* When credentials issued at issued_unix with the answer's duration lapse. */
gint64 mras_expires_at(const MrasAnswer *a, gint64 issued_unix);
/* FALSE with MRAS_ERROR_EXPIRED naming when they lapsed (ISO 8601, UTC), how
 * they were dated (from), and what to do, when now_unix is past it. */
gboolean mras_check_fresh(gint64 expires_unix, gint64 now_unix, const char *from,
                          GError **error);
/* "2026-12-06T08:00:00Z" */
char *mras_format_time(gint64 when_unix);
