/* An MRAS credentialsResponse, read with GMarkup. The elements that matter:
 *
 *   credentialsResponse [credentialsRequestID]
 *     credentials: username, password (base64), duration (minutes)
 *     mediaRelayList: mediaRelay*: location, hostName, udpPort, tcpPort
 *
 * Element names are matched without their namespace prefix; elements this
 * reader does not know are passed over (a newer server may add some). */
#include "iceprobe/mras.h"

#include "iceprobe/keyfile.h"

#include <string.h>

G_DEFINE_QUARK(iceprobe - mras - error - quark, mras_error)

void mras_answer_free(MrasAnswer *a)
{
    if (!a)
        return;
    g_free(a->username);
    keyfile_secret_free(a->password);
    g_ptr_array_unref(a->relays);
    g_free(a->request_id);
    g_free(a);
}

static void relay_free(gpointer p)
{
    MrasRelay *r = p;
    g_free(r->location);
    g_free(r->host_name);
    g_free(r);
}

typedef struct {
    MrasAnswer *a;
    const char *stack[MRAS_MAX_DEPTH + 1]; /* local names, interned */
    int depth;
    guint elements;
    int response_depth; /* depth of credentialsResponse, or 0 */
    gboolean seen_response;
    GString *text;
    gboolean duration_seen;
} Reader;

static const char *local_name(const char *qname)
{
    const char *colon = strrchr(qname, ':');
    return colon ? colon + 1 : qname;
}

static const char *parent(const Reader *r)
{
    return r->depth >= 2 ? r->stack[r->depth - 2] : "";
}

static void on_start(GMarkupParseContext *ctx, const char *element, const char **names,
                     const char **values, gpointer data, GError **error)
{
    Reader *r = data;
    if (++r->elements > MRAS_MAX_ELEMENTS) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_SIZE, "more than %d elements",
                    MRAS_MAX_ELEMENTS);
        return;
    }
    if (r->depth >= MRAS_MAX_DEPTH) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_SIZE, "nested deeper than %d elements",
                    MRAS_MAX_DEPTH);
        return;
    }
    const char *name = g_intern_string(local_name(element));
    r->stack[r->depth++] = name;
    g_string_truncate(r->text, 0);
    if (strcmp(name, "credentialsResponse") == 0) {
        if (r->seen_response) {
            g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD, "two credentialsResponse elements");
            return;
        }
        r->seen_response = TRUE;
        r->response_depth = r->depth;
        for (int i = 0; names[i]; i++) {
            if (!r->a->request_id && strcmp(local_name(names[i]), "credentialsRequestID") == 0 &&
                strlen(values[i]) <= MRAS_MAX_VALUE)
                r->a->request_id = g_strdup(values[i]);
        }
        return;
    }
    if (r->response_depth && strcmp(name, "mediaRelay") == 0 &&
        strcmp(parent(r), "mediaRelayList") == 0) {
        if (r->a->relays->len >= MRAS_MAX_RELAYS) {
            g_set_error(error, MRAS_ERROR, MRAS_ERROR_SIZE, "more than %d mediaRelay elements",
                        MRAS_MAX_RELAYS);
            return;
        }
        g_ptr_array_add(r->a->relays, g_new0(MrasRelay, 1));
    }
}

static void on_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
                    GError **error)
{
    Reader *r = data;
    if (r->text->len + len > MRAS_MAX_VALUE) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_SIZE, "<%s>: longer than %d characters",
                    r->depth ? r->stack[r->depth - 1] : "?", MRAS_MAX_VALUE);
        return;
    }
    g_string_append_len(r->text, text, (gssize)len);
}

gboolean mras_is_base64(const char *s)
{
    gsize n = strlen(s);
    if (n == 0)
        return FALSE;
    for (gsize i = 0; i < n; i++) {
        char c = s[i];
        if (!g_ascii_isalnum(c) && c != '+' && c != '/' && !(c == '=' && i + 2 >= n))
            return FALSE;
    }
    return TRUE;
}

static gboolean set_once(char **field, const char *value, const char *what, GError **error)
{
    if (*field) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD, "two <%s> elements", what);
        return FALSE;
    }
    *field = g_strdup(value);
    return TRUE;
}

static gboolean parse_number(const char *value, const char *what, guint64 min, guint64 max,
                             guint *out, GError **error)
{
    guint64 v = 0;
    if (!g_ascii_string_to_unsigned(value, 10, min, max, &v, NULL)) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD,
                    "<%s>: '%.32s' is not a whole number from %" G_GUINT64_FORMAT
                    " to %" G_GUINT64_FORMAT,
                    what, value, min, max);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

static gboolean valid_host(const char *s)
{
    gsize n = strlen(s);
    if (n == 0 || n > 253)
        return FALSE;
    for (const char *c = s; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '-' && *c != '.' && *c != '_' && *c != ':')
            return FALSE;
    }
    return TRUE;
}

static void on_end(GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
    Reader *r = data;
    const char *name = r->stack[r->depth - 1];
    const char *up = parent(r);
    g_autofree char *value = g_strstrip(g_strdup(r->text->str));
    keyfile_wipe(r->text->str, r->text->allocated_len); /* a password passes through here */
    g_string_truncate(r->text, 0);
    gboolean inside = r->response_depth && r->depth > r->response_depth;
    if (r->depth == r->response_depth)
        r->response_depth = 0;
    r->depth--;
    if (!inside)
        return;
    MrasAnswer *a = r->a;
    if (strcmp(up, "credentials") == 0) {
        if (strcmp(name, "username") == 0 || strcmp(name, "password") == 0) {
            if (!mras_is_base64(value)) {
                g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD,
                            "<%s>: not a base64 string (the MRAS answer carries them so)", name);
                return;
            }
            set_once(strcmp(name, "username") == 0 ? &a->username : &a->password, value, name,
                     error);
            keyfile_wipe(value, strlen(value));
        } else if (strcmp(name, "duration") == 0) {
            if (r->duration_seen) {
                g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD, "two <duration> elements");
                return;
            }
            r->duration_seen = TRUE;
            parse_number(value, "duration", 1, 366 * 24 * 60, &a->duration_min, error);
        }
        return;
    }
    if (strcmp(up, "mediaRelay") == 0 && a->relays->len) {
        MrasRelay *m = a->relays->pdata[a->relays->len - 1];
        if (strcmp(name, "location") == 0) {
            set_once(&m->location, value, name, error);
        } else if (strcmp(name, "hostName") == 0) {
            if (!valid_host(value)) {
                g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD,
                            "<hostName>: '%.64s' is not a host name", value);
                return;
            }
            set_once(&m->host_name, value, name, error);
        } else if (strcmp(name, "udpPort") == 0) {
            parse_number(value, "udpPort", 1, 65535, &m->udp_port, error);
        } else if (strcmp(name, "tcpPort") == 0) {
            parse_number(value, "tcpPort", 1, 65535, &m->tcp_port, error);
        }
    }
}

/* Where the document starts and ends in data: the last element named response
 * or credentialsResponse (any prefix), to its closing tag. A client's log holds
 * one answer per sign-in or refresh: the last is the newest. */
static gboolean find_document(const char *data, gsize len, gsize *start, gsize *end)
{
    gboolean found = FALSE;
    for (gsize i = 0; i < len; i++) {
        if (data[i] != '<')
            continue;
        gsize j = i + 1;
        while (j < len && j - i < 128 &&
               (g_ascii_isalnum(data[j]) || data[j] == ':' || data[j] == '_' || data[j] == '-'))
            j++;
        if (j == i + 1 || j >= len || !(g_ascii_isspace(data[j]) || data[j] == '>'))
            continue;
        g_autofree char *qname = g_strndup(data + i + 1, j - i - 1);
        const char *lname = local_name(qname);
        if (strcmp(lname, "response") != 0 && strcmp(lname, "credentialsResponse") != 0)
            continue;
        *start = i;
        *end = len;
        found = TRUE;
        g_autofree char *close = g_strdup_printf("</%s>", qname);
        gsize cl = strlen(close);
        for (gsize k = j; k + cl <= len; k++) {
            if (memcmp(data + k, close, cl) == 0) {
                *end = k + cl;
                break;
            }
        }
        i = *end > i ? *end - 1 : i; /* the next answer starts after this one */
    }
    return found;
}

MrasAnswer *mras_parse(const char *data, gsize len, GError **error)
{
    g_return_val_if_fail(data || len == 0, NULL);
    if (len > MRAS_MAX_BYTES) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_SIZE, "larger than %d bytes", MRAS_MAX_BYTES);
        return NULL;
    }
    gsize start = 0, end = 0;
    if (!find_document(data, len, &start, &end)) {
        g_set_error(error, MRAS_ERROR, MRAS_ERROR_SYNTAX,
                    "no <response> or <credentialsResponse> element: not an MRAS answer");
        return NULL;
    }
    static const GMarkupParser parser = {on_start, on_end, on_text, NULL, NULL};
    MrasAnswer *a = g_new0(MrasAnswer, 1);
    a->relays = g_ptr_array_new_with_free_func(relay_free);
    Reader r = {.a = a, .text = g_string_new(NULL)};
    GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, G_MARKUP_PREFIX_ERROR_POSITION,
                                                          &r, NULL);
    GError *e = NULL;
    gboolean ok = g_markup_parse_context_parse(ctx, data + start, (gssize)(end - start), &e) &&
                  g_markup_parse_context_end_parse(ctx, &e);
    g_markup_parse_context_free(ctx);
    keyfile_wipe(r.text->str, r.text->allocated_len);
    g_string_free(r.text, TRUE);
    if (!ok) {
        if (e->domain == MRAS_ERROR)
            g_propagate_error(error, e);
        else {
            g_set_error(error, MRAS_ERROR, MRAS_ERROR_SYNTAX, "not XML: %s", e->message);
            g_error_free(e);
        }
        mras_answer_free(a);
        return NULL;
    }
    const char *missing = !r.seen_response ? "credentialsResponse"
                          : !a->username   ? "credentials/username"
                          : !a->password   ? "credentials/password"
                          : !r.duration_seen ? "credentials/duration"
                                             : NULL;
    if (missing) {
        g_set_error(error, MRAS_ERROR, r.seen_response ? MRAS_ERROR_FIELD : MRAS_ERROR_SYNTAX,
                    "no <%s> element%s", missing,
                    r.seen_response ? "" : " (the MRAS server refused the request?)");
        mras_answer_free(a);
        return NULL;
    }
    for (guint i = 0; i < a->relays->len; i++) {
        MrasRelay *m = a->relays->pdata[i];
        if (!m->host_name || (!m->udp_port && !m->tcp_port)) {
            g_set_error(error, MRAS_ERROR, MRAS_ERROR_FIELD,
                        "mediaRelay %u: needs a <hostName> and a <udpPort> or <tcpPort>", i + 1);
            mras_answer_free(a);
            return NULL;
        }
    }
    return a;
}

gint64 mras_expires_at(const MrasAnswer *a, gint64 issued_unix)
{
    return issued_unix + (gint64)a->duration_min * 60;
}

char *mras_format_time(gint64 when_unix)
{
    g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when_unix);
    return t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

gboolean mras_check_fresh(gint64 expires_unix, gint64 now_unix, const char *from,
                          GError **error)
{
    if (now_unix < expires_unix)
        return TRUE;
    g_autofree char *when = mras_format_time(expires_unix);
    gint64 ago = now_unix - expires_unix;
    g_set_error(error, MRAS_ERROR, MRAS_ERROR_EXPIRED,
                "the MRAS credentials expired at %s (%" G_GINT64_FORMAT " min ago; %s): take a "
                "fresh MRAS answer from a client's log (docs/sfb.md)",
                when, ago / 60, from);
    return FALSE;
}
