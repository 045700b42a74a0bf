#include "http.h"

#include "iceprobe-config.h"
#include "iceprobe/jsonin.h"
#include "iceprobe/keyfile.h"

#include "ca.h"

#include <curl/curl.h>
#include <string.h>

G_DEFINE_QUARK(iceprobe - http - error - quark, http_error)

struct Http {
    CURL *curl;
    char **urls;   /* the controllers, without a trailing '/' */
    guint current; /* the one in use */
    guint failovers;
    long retry_after;
    char *auth_header;
    char *ca_file;
    GCancellable *stop;
    volatile gint *cancel;
    char errbuf[CURL_ERROR_SIZE];
};

static gsize curl_once;

Http *http_new(const char *url, const char *token, const char *ca_file, GCancellable *stop)
{
    if (g_once_init_enter(&curl_once)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        g_once_init_leave(&curl_once, 1);
    }
    Http *h = g_new0(Http, 1);
    h->curl = curl_easy_init();
    h->urls = g_strsplit(url, ",", 16);
    for (char **u = h->urls; *u; u++) {
        g_strstrip(*u);
        while (g_str_has_suffix(*u, "/"))
            (*u)[strlen(*u) - 1] = '\0';
    }
    h->auth_header = g_strdup_printf("Authorization: Bearer %s", token);
    h->ca_file = g_strdup(ca_file);
    h->stop = stop ? g_object_ref(stop) : NULL;
    return h;
}

void http_free(Http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    g_clear_object(&h->stop);
    g_strfreev(h->urls);
    keyfile_secret_free(h->auth_header);
    g_free(h->ca_file);
    g_free(h);
}

typedef struct {
    GString *body;
    gboolean too_big;
} Answer;

static size_t on_data(char *ptr, size_t size, size_t n, void *data)
{
    Answer *a = data;
    if (a->body->len + size * n > HTTP_MAX_ANSWER) {
        a->too_big = TRUE;
        return 0;
    }
    g_string_append_len(a->body, ptr, (gssize)(size * n));
    return size * n;
}

static gboolean stopped(const Http *h)
{
    return (h->stop && g_cancellable_is_cancelled(h->stop)) ||
           (h->cancel && g_atomic_int_get(h->cancel));
}

static int on_progress(void *data, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    Http *h = data;
    return stopped(h) ? 1 : 0;
}

void http_set_cancel(Http *h, volatile gint *cancel)
{
    h->cancel = cancel;
}

static const JsonInLimits answer_limits = {"the answer", HTTP_MAX_ANSWER, HTTP_MAX_DEPTH};

/* The controller's {"error": {"code", "message"}}, if the body is one. */
static char *error_message(const GString *body)
{
    g_autoptr(JsonObject) o = jsonin_parse_object(body->str, body->len, &answer_limits, NULL);
    JsonObject *e = NULL;
    char *m = NULL;
    if (o && jsonin_object(o, "", "error", TRUE, &e, NULL))
        jsonin_string(e, "error", "message", TRUE, 1024, &m, NULL);
    return m;
}

/* The transfer failed on its connection (sending, or no answer at all) before
 * any answer came: a kept-alive connection the controller had closed, or one
 * a controller accepted as it stopped. libcurl says such a request again
 * itself only when it fails before its body is under way. */
static gboolean stale_connection(CURL *c, CURLcode rc)
{
    if (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR && rc != CURLE_GOT_NOTHING)
        return FALSE;
    long code = -1;
    return curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 0;
}

/* What went wrong, in libcurl's words. Its error buffer keeps the first
 * message of a transfer: when libcurl said the request again on a new
 * connection (a kept-alive one the controller had closed), that message is the
 * old connection's ("Send failure: Broken pipe") while the transfer failed for
 * another reason (the new connection was refused): the result's own words
 * come first then. */
static char *transport_why(CURLcode rc, const char *errbuf)
{
    if (!errbuf[0])
        return g_strdup(curl_easy_strerror(rc));
    gboolean io = g_str_has_prefix(errbuf, "Send failure") || g_str_has_prefix(errbuf, "Recv failure");
    if (io && rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR)
        return g_strdup_printf("%s (after a kept-alive connection failed: %s)",
                               curl_easy_strerror(rc), errbuf);
    return g_strdup(errbuf);
}

static JsonObject *call_once(Http *h, const char *base, const char *method, const char *path,
                             const char *body, long timeout_s, long *status, GError **error)
{
    if (status)
        *status = 0;
    h->retry_after = 0;
    if (stopped(h)) {
        g_set_error(error, HTTP_ERROR, HTTP_ERROR_STOPPED, "stopping");
        return NULL;
    }
    g_autofree char *url = g_strconcat(base, path, NULL);
    Answer a = {g_string_new(NULL), FALSE};
    struct curl_slist *headers = curl_slist_append(NULL, h->auth_header);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "iceprobe-agent/" ICEPROBE_VERSION);
    /* Verification is never switched off: a CA file, or the system's CAs. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    else
        ca_curl_default(c); /* the system's CAs (ca.h) */
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    h->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    if (stale_connection(c, rc) && !stopped(h)) {
        /* A kept-alive connection the controller had closed (it restarted,
         * stopped, or closed it idle as the request went): said again once on
         * a new connection, whose failure is the one that tells (a controller
         * that is gone says it cannot be connected to). A request said twice
         * is one the controller takes twice already: reports and heartbeats
         * are idempotent, signals are retried by their mailbox. */
        g_string_truncate(a.body, 0);
        a.too_big = FALSE;
        h->errbuf[0] = '\0';
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        rc = curl_easy_perform(c);
    }
    curl_slist_free_all(headers);
    JsonObject *result = NULL;
    long code = 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        g_set_error(error, HTTP_ERROR, HTTP_ERROR_STOPPED, "stopping");
    } else if (a.too_big) {
        g_set_error(error, HTTP_ERROR, HTTP_ERROR_BODY, "%s %s: the answer is larger than %d bytes",
                    method, path, HTTP_MAX_ANSWER);
    } else if (rc != CURLE_OK) {
        g_autofree char *why = transport_why(rc, h->errbuf);
        g_set_error(error, HTTP_ERROR, HTTP_ERROR_TRANSPORT, "%s %s: %s", method, path, why);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_off_t after = 0;
        if ((code == 503 || code == 429) &&
            curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            h->retry_after = (long)MIN(after, (curl_off_t)3600);
        if (code < 200 || code > 299) {
            g_autofree char *m = error_message(a.body);
            g_set_error(error, HTTP_ERROR, HTTP_ERROR_STATUS, "%s %s: HTTP %ld%s%s", method, path,
                        code, m ? ": " : "", m ? m : "");
        } else {
            g_autoptr(GError) e = NULL;
            result = jsonin_parse_object(a.body->str, a.body->len, &answer_limits, &e);
            if (!result)
                g_set_error(error, HTTP_ERROR, HTTP_ERROR_BODY, "%s %s: %s", method, path,
                            e->message);
        }
    }
    if (status)
        *status = code;
    g_string_free(a.body, TRUE);
    return result;
}

JsonObject *http_call(Http *h, const char *method, const char *path, const char *body,
                      long timeout_s, long *status, GError **error)
{
    guint n = g_strv_length(h->urls);
    if (n == 0) {
        g_set_error(error, HTTP_ERROR, HTTP_ERROR_TRANSPORT, "%s %s: no controller URL", method,
                    path);
        return NULL;
    }
    for (guint tried = 1;; tried++) {
        g_autoptr(GError) e = NULL;
        const char *base = h->urls[h->current];
        long code = 0;
        JsonObject *o = call_once(h, base, method, path, body, timeout_s, &code, &e);
        if (status)
            *status = code;
        if (o)
            return o;
        gboolean unanswered = g_error_matches(e, HTTP_ERROR, HTTP_ERROR_TRANSPORT);
        gboolean unwell = code == 503;
        if (n > 1 && (unanswered || unwell))
            h->current = (h->current + 1) % n;
        /* No answer: the next controller at once. A 503 (its store is down, or
         * its connection to it): the next request goes to the next one. */
        if (!unanswered || tried >= n || n == 1) {
            if (n > 1)
                g_prefix_error(&e, "%s: ", base);
            g_propagate_error(error, g_steal_pointer(&e));
            return NULL;
        }
        h->failovers++;
    }
}

long http_retry_after_s(const Http *h)
{
    return h->retry_after;
}

const char *http_current_url(const Http *h)
{
    return h->urls[h->current];
}

guint http_failovers(const Http *h)
{
    return h->failovers;
}

gboolean http_error_retryable(const GError *error, long status)
{
    if (!error)
        return FALSE;
    if (g_error_matches(error, HTTP_ERROR, HTTP_ERROR_TRANSPORT))
        return TRUE;
    return g_error_matches(error, HTTP_ERROR, HTTP_ERROR_STATUS) &&
           (status >= 500 || status == 429);
}
