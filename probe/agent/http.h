/* The agent's HTTP client for the controller's API: libcurl, one easy handle a
 * channel so that its connection is kept alive, TLS always verified (against
 * --ca-file or the system's CAs), a bearer token, JSON in and out. */
#pragma once

#include <gio/gio.h>

#include <json-glib/json-glib.h>

#define HTTP_ERROR (http_error_quark())
GQuark http_error_quark(void);
typedef enum {
    HTTP_ERROR_TRANSPORT, /* no answer: connection refused, reset, TLS, timeout */
    HTTP_ERROR_STATUS,    /* an answer other than 2xx */
    HTTP_ERROR_BODY,      /* a 2xx whose body is not the JSON object expected */
    HTTP_ERROR_STOPPED,   /* the stop flag was raised */
} HttpError;

/* Cap on an answer's body: a run's document is capped at 1 MiB, signals at 64 KiB. */
#define HTTP_MAX_ANSWER (2 * 1024 * 1024)
#define HTTP_MAX_DEPTH  64

typedef struct Http Http;

/* url: the controller's base, "https://host:port" (no path), or several
 * controllers sharing one store, separated by commas: a request that gets no
 * answer from one (refused, reset, timed out) goes to the next at once, and the
 * handle stays with the one that answered. A name with several addresses is
 * tried address by address by libcurl. stop (may be NULL; held): cancelled by
 * a signal (stop.h), it aborts a request in flight at libcurl's next progress
 * call. */
Http *http_new(const char *url, const char *token, const char *ca_file, GCancellable *stop);
void http_free(Http *h);
/* A second flag that aborts requests in flight (a channel being closed). */
void http_set_cancel(Http *h, volatile gint *cancel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Http, http_free)

/* One request to url + path. body may be NULL. On a 2xx answer with a JSON
 * object body returns it; otherwise NULL and an error naming what went wrong,
 * with *status (if given) the HTTP status (0 when there was no answer). The
 * controller's error message, if any, is in the error's text. */
JsonObject *http_call(Http *h, const char *method, const char *path, const char *body,
                      long timeout_s, long *status, GError **error);

/* The last answer's Retry-After in seconds (a 503 or 429 from a controller whose
 * store is down), 0 if it had none. */
long http_retry_after_s(const Http *h);
/* The controller the handle uses now (for messages). */
const char *http_current_url(const Http *h);
/* How many times a request moved on to another controller. */
guint http_failovers(const Http *h);

/* Whether a failure is worth retrying (transport errors, 5xx, 429). */
gboolean http_error_retryable(const GError *error, long status);
