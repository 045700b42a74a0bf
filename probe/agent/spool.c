#include "spool.h"

#include "backoff.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "durable.h"

#include "iceprobe/jsonin.h"
#include "iceprobe/protocol.h"
#include "iceprobe/result.h"

G_DEFINE_QUARK(iceprobe - spool - error - quark, spool_error)

/* Uploads: 1 s doubling to 60 s, ±20 %, so agents do not retry in step. */
static const Backoff upload_backoff = {1000, 60000, 0.2};
#define MAX_REPORTS 10000 /* a spool holds at most this many; beyond, the oldest goes */

typedef struct {
    char *run_id;
    char *mem_doc;     /* the report, when the disk would not take it; NULL: on disk */
    gint64 spooled_at; /* Unix seconds */
    guint attempts;
    gint64 next_due; /* monotonic µs */
    char *last_error;
} Entry;

struct Spool {
    char *dir;
    guint ttl_s;
    GPtrArray *entries; /* Entry, oldest first */
    char *last_error;
};

static void entry_free(Entry *e)
{
    g_free(e->run_id);
    g_free(e->mem_doc);
    g_free(e->last_error);
    g_free(e);
}

static char *report_path(const Spool *s, const char *run_id)
{
    g_autofree char *name = g_strconcat(run_id, ".json", NULL);
    return g_build_filename(s->dir, name, NULL);
}

/* Writes path atomically and durably (durable.h). */
static gboolean write_durably(const char *dir, const char *path, const char *data, gsize len,
                              GError **error)
{
    g_autoptr(GError) e = NULL;
    if (!durable_write(dir, path, data, len, &e)) {
        /* The message names the temporary file and the system's reason. */
        g_set_error(error, SPOOL_ERROR, SPOOL_ERROR_IO, "cannot write %s: %s", path, e->message);
        return FALSE;
    }
    return TRUE;
}

static void write_status(Spool *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pending");
    json_builder_begin_array(b);
    gint64 now = g_get_monotonic_time();
    for (guint i = 0; i < s->entries->len; i++) {
        Entry *e = s->entries->pdata[i];
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "run_id");
        json_builder_add_string_value(b, e->run_id);
        json_builder_set_member_name(b, "spooled_at");
        json_builder_add_int_value(b, e->spooled_at);
        json_builder_set_member_name(b, "held");
        json_builder_add_string_value(b, e->mem_doc ? "memory" : "disk");
        json_builder_set_member_name(b, "attempts");
        json_builder_add_int_value(b, e->attempts);
        json_builder_set_member_name(b, "next_attempt_in_s");
        json_builder_add_int_value(b, MAX(0, (e->next_due - now) / G_USEC_PER_SEC));
        json_builder_set_member_name(b, "last_error");
        if (e->last_error)
            json_builder_add_string_value(b, e->last_error);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "written_at");
    json_builder_add_int_value(b, g_get_real_time() / G_USEC_PER_SEC);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);
    g_autofree char *path = g_build_filename(s->dir, "status.json", NULL);
    /* Best effort: a full disk must not stop the uploads. */
    g_autoptr(GError) e = NULL;
    g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &e);
}

static Entry *find(const Spool *s, const char *run_id)
{
    for (guint i = 0; i < s->entries->len; i++) {
        Entry *e = s->entries->pdata[i];
        if (strcmp(e->run_id, run_id) == 0)
            return e;
    }
    return NULL;
}

Spool *spool_open(const char *dir, guint ttl_s, GError **error)
{
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int e = errno;
        g_set_error(error, SPOOL_ERROR, SPOOL_ERROR_IO, "cannot create the spool %s: %s", dir,
                    g_strerror(e));
        return NULL;
    }
    g_autofree char *rejected = g_build_filename(dir, "rejected", NULL);
    g_mkdir_with_parents(rejected, 0700);
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    if (!d) {
        g_prefix_error(error, "the spool: ");
        return NULL;
    }
    Spool *s = g_new0(Spool, 1);
    s->dir = g_strdup(dir);
    s->ttl_s = ttl_s;
    s->entries = g_ptr_array_new_with_free_func((GDestroyNotify)entry_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (!g_str_has_suffix(name, ".json") && strstr(name, ".json.")) {
            /* A write that never completed (GLib's NAME.json.XXXXXX, or an
             * older agent's NAME.json.tmp): its report was kept in memory then. */
            g_unlink(path);
            continue;
        }
        if (!g_str_has_suffix(name, ".json") || strcmp(name, "status.json") == 0)
            continue;
        g_autofree char *run_id = g_strndup(name, strlen(name) - 5);
        if (!protocol_valid_name(run_id))
            continue;
        GStatBuf st;
        Entry *e = g_new0(Entry, 1);
        e->run_id = g_steal_pointer(&run_id);
        e->spooled_at = g_stat(path, &st) == 0 ? (gint64)st.st_mtime : g_get_real_time() / 1000000;
        e->next_due = g_get_monotonic_time();
        g_ptr_array_add(s->entries, e);
    }
    write_status(s);
    return s;
}

void spool_free(Spool *s)
{
    if (!s)
        return;
    g_ptr_array_unref(s->entries);
    g_free(s->dir);
    g_free(s->last_error);
    g_free(s);
}

gboolean spool_has(const Spool *s, const char *run_id)
{
    return find(s, run_id) != NULL;
}

guint spool_pending(const Spool *s)
{
    return s->entries->len;
}

const char *spool_last_error(const Spool *s)
{
    return s->last_error;
}

static void set_last_error(Spool *s, const char *msg)
{
    g_free(s->last_error);
    s->last_error = g_strdup(msg);
}

/* Moves a report out of the way, with the reason beside it. */
static void reject(Spool *s, Entry *e, const char *why)
{
    g_autofree char *from = report_path(s, e->run_id);
    g_autofree char *name = g_strconcat(e->run_id, ".json", NULL);
    g_autofree char *to = g_build_filename(s->dir, "rejected", name, NULL);
    g_autofree char *why_name = g_strconcat(e->run_id, ".why", NULL);
    g_autofree char *why_path = g_build_filename(s->dir, "rejected", why_name, NULL);
    g_autofree char *line = g_strdup_printf("%s after %u attempt(s)\n", why, e->attempts);
    g_file_set_contents(why_path, line, -1, NULL);
    if (e->mem_doc)
        g_file_set_contents(to, e->mem_doc, -1, NULL);
    else if (!durable_move(from, to))
        g_unlink(from);
    durable_sync_dir(s->dir);
}

gboolean spool_put(Spool *s, const char *run_id, const char *doc, GError **error)
{
    g_return_val_if_fail(protocol_valid_name(run_id), FALSE);
    if (find(s, run_id))
        return TRUE;
    while (s->entries->len >= MAX_REPORTS) {
        Entry *old = s->entries->pdata[0];
        reject(s, old, "the spool was full of older reports");
        g_ptr_array_remove_index(s->entries, 0);
    }
    Entry *e = g_new0(Entry, 1);
    e->run_id = g_strdup(run_id);
    e->spooled_at = g_get_real_time() / G_USEC_PER_SEC;
    e->next_due = g_get_monotonic_time();
    g_ptr_array_add(s->entries, e);
    g_autofree char *path = report_path(s, run_id);
    g_autoptr(GError) err = NULL;
    gboolean ok = write_durably(s->dir, path, doc, strlen(doc), &err);
    if (!ok) {
        e->mem_doc = g_strdup(doc);
        g_autofree char *msg =
            g_strdup_printf("%s; the report of run %s is kept in memory", err->message, run_id);
        set_last_error(s, msg);
        g_set_error_literal(error, SPOOL_ERROR, SPOOL_ERROR_IO, msg);
    }
    write_status(s);
    return ok;
}

guint spool_flush(Spool *s, SpoolSendFn send, gpointer data)
{
    gint64 now = g_get_monotonic_time();
    gint64 wall = g_get_real_time() / G_USEC_PER_SEC;
    gboolean changed = FALSE;
    for (guint i = 0; i < s->entries->len;) {
        Entry *e = s->entries->pdata[i];
        if (s->ttl_s && wall - e->spooled_at > (gint64)s->ttl_s) {
            reject(s, e, "older than the spool's time to live");
            g_ptr_array_remove_index(s->entries, i);
            changed = TRUE;
            continue;
        }
        if (e->next_due > now) {
            i++;
            continue;
        }
        g_autofree char *disk_doc = NULL;
        if (!e->mem_doc) {
            g_autofree char *path = report_path(s, e->run_id);
            g_autoptr(GError) err = NULL;
            if (!g_file_get_contents(path, &disk_doc, NULL, &err)) {
                /* Gone from the disk under us: nothing left to send. */
                g_autofree char *msg = g_strdup_printf("report %s vanished from the spool: %s",
                                                       e->run_id, err->message);
                set_last_error(s, msg);
                g_ptr_array_remove_index(s->entries, i);
                changed = TRUE;
                continue;
            }
        }
        g_autofree char *why = NULL;
        e->attempts++;
        SpoolOutcome o = send(e->run_id, e->mem_doc ? e->mem_doc : disk_doc, &why, data);
        changed = TRUE;
        if (o == SPOOL_SENT) {
            if (!e->mem_doc) {
                g_autofree char *path = report_path(s, e->run_id);
                g_unlink(path);
                durable_sync_dir(s->dir);
            }
            g_ptr_array_remove_index(s->entries, i);
            continue;
        }
        g_free(e->last_error);
        e->last_error = g_strdup(why ? why : "?");
        set_last_error(s, e->last_error);
        if (o == SPOOL_REJECTED) {
            reject(s, e, e->last_error);
            g_ptr_array_remove_index(s->entries, i);
            continue;
        }
        e->next_due = now + (gint64)backoff_ms(&upload_backoff, e->attempts) * 1000;
        i++;
    }
    if (changed)
        write_status(s);
    return s->entries->len;
}

void spool_make_due(Spool *s)
{
    gint64 now = g_get_monotonic_time();
    for (guint i = 0; i < s->entries->len; i++)
        ((Entry *)s->entries->pdata[i])->next_due = now;
}

gint spool_next_due_s(const Spool *s)
{
    if (!s->entries->len)
        return G_MAXINT;
    gint64 now = g_get_monotonic_time(), first = G_MAXINT64;
    for (guint i = 0; i < s->entries->len; i++)
        first = MIN(first, ((Entry *)s->entries->pdata[i])->next_due);
    return first <= now ? 0 : (gint)((first - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
}

char *spool_status_text(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "status.json", NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error)) {
        g_prefix_error(error, "no agent status in %s: ", dir);
        return NULL;
    }
    static const JsonInLimits limits = {"the status", 4 * 1024 * 1024, 8};
    g_autoptr(GError) bad = NULL;
    g_autoptr(JsonObject) root = jsonin_parse_object(text, len, &limits, &bad);
    JsonArray *pending = NULL;
    if (!root || !jsonin_array(root, "", "pending", FALSE, G_MAXUINT, &pending, &bad)) {
        g_set_error(error, SPOOL_ERROR, SPOOL_ERROR_FORMAT, "%s is not the agent's status: %s",
                    path, bad->message);
        return NULL;
    }
    GString *out = g_string_new(NULL);
    guint n = pending ? json_array_get_length(pending) : 0;
    g_string_append_printf(out, "spool %s: %u report(s) waiting for the controller\n", dir, n);
    for (guint i = 0; i < n; i++) {
        JsonObject *e = json_array_get_object_element(pending, i);
        if (!e)
            continue;
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(
            json_object_get_int_member_with_default(e, "spooled_at", 0));
        g_autofree char *when = t ? g_date_time_format_iso8601(t) : g_strdup("?");
        g_string_append_printf(
            out, "  %s  spooled %s (%s), %" G_GINT64_FORMAT " attempt(s)%s%s\n",
            json_object_get_string_member_with_default(e, "run_id", "?"), when,
            json_object_get_string_member_with_default(e, "held", "?"),
            json_object_get_int_member_with_default(e, "attempts", 0),
            json_object_get_string_member_with_default(e, "last_error", NULL) ? ", last: " : "",
            json_object_get_string_member_with_default(e, "last_error", NULL)
                ? json_object_get_string_member_with_default(e, "last_error", "")
                : "");
    }
    g_autofree char *rej = g_build_filename(dir, "rejected", NULL);
    g_autoptr(GDir) d = g_dir_open(rej, 0, NULL);
    const char *name;
    guint nrej = 0;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        if (!g_str_has_suffix(name, ".why"))
            continue;
        g_autofree char *wp = g_build_filename(rej, name, NULL);
        g_autofree char *why = NULL;
        g_file_get_contents(wp, &why, NULL, NULL);
        if (nrej++ == 0)
            g_string_append(out, "given up (in rejected/):\n");
        g_string_append_printf(out, "  %.*s  %s", (int)(strlen(name) - 4), name, why ? why : "?\n");
    }
    return g_string_free(out, FALSE);
}
