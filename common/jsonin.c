#include "iceprobe/jsonin.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK(iceprobe - jsonin - error - quark, jsonin_error)

/* json-glib 1.6 also takes what JSON does not have: comments and single-quoted
 * strings, either of which would hide brackets from a count that only knows
 * double quotes (and let its recursion go as deep as the text allows). A text
 * with '/' or '\'' outside a string is not JSON: it counts as too deep. */
guint jsonin_depth(const char *data, gsize len)
{
    guint depth = 0, max = 0;
    gboolean in_string = FALSE;
    for (gsize i = 0; i < len; i++) {
        char c = data[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = FALSE;
        } else if (c == '/' || c == '\'') {
            return G_MAXUINT;
        } else if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            depth++;
            max = MAX(max, depth);
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

JsonNode *jsonin_parse(const char *data, gsize len, const JsonInLimits *lim, GError **error)
{
    g_return_val_if_fail(lim && (data || len == 0), NULL);
    if (len > lim->max_bytes) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_SIZE, "%s is over %zu bytes", lim->what,
                    lim->max_bytes);
        return NULL;
    }
    /* json-glib's parser recurses: the depth is checked before it runs. */
    guint depth = jsonin_depth(data, len);
    if (depth == G_MAXUINT) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_SYNTAX,
                    "%s is not JSON: a comment or a single-quoted string", lim->what);
        return NULL;
    }
    if (depth > lim->max_depth) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_SIZE, "%s nests deeper than %u", lim->what,
                    lim->max_depth);
        return NULL;
    }
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    g_autoptr(GError) e = NULL;
    if (len == 0 || !json_parser_load_from_data(p, data, (gssize)len, &e) ||
        !json_parser_get_root(p)) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_SYNTAX, "%s is not JSON: %s", lim->what,
                    e ? e->message : "empty");
        return NULL;
    }
    return json_node_ref(json_parser_get_root(p));
}

JsonObject *jsonin_parse_object(const char *data, gsize len, const JsonInLimits *lim,
                                GError **error)
{
    g_autoptr(JsonNode) root = jsonin_parse(data, len, lim, error);
    if (!root)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_FIELD, "%s is not a JSON object", lim->what);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

char *jsonin_path(const char *at, const char *name)
{
    return at && *at ? g_strdup_printf("%s.%s", at, name) : g_strdup(name);
}

void jsonin_field_error(GError **error, const char *at, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *where = jsonin_path(at, name);
    g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_FIELD, "%s: %s", where, what);
}

gboolean jsonin_only(JsonObject *o, const char *at, const char *const *allowed, GError **error)
{
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    json_object_iter_init(&it, o);
    while (json_object_iter_next(&it, &name, &value)) {
        if (!g_strv_contains(allowed, name)) {
            jsonin_field_error(error, at, name, "unknown member");
            return FALSE;
        }
    }
    return TRUE;
}

JsonNode *jsonin_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

/* The member, or NULL: *ok is FALSE when that is an error (a required one). */
static JsonNode *present(JsonObject *o, const char *at, const char *name, gboolean required,
                         gboolean *ok, GError **error)
{
    JsonNode *n = jsonin_member(o, name);
    *ok = n || !required;
    if (!n && required)
        jsonin_field_error(error, at, name, "missing");
    return n;
}

static gboolean holds(JsonNode *n, GType t)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == t;
}

gboolean jsonin_string(JsonObject *o, const char *at, const char *name, gboolean required,
                       gsize max, char **out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    if (!n)
        return ok;
    if (!holds(n, G_TYPE_STRING)) {
        jsonin_field_error(error, at, name, "not a string");
        return FALSE;
    }
    const char *s = json_node_get_string(n);
    if (strlen(s) > max) {
        jsonin_field_error(error, at, name, "longer than %zu bytes", max);
        return FALSE;
    }
    g_free(*out);
    *out = g_strdup(s);
    return TRUE;
}

gboolean jsonin_bool(JsonObject *o, const char *at, const char *name, gboolean required,
                     gboolean *out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    if (!n)
        return ok;
    if (!holds(n, G_TYPE_BOOLEAN)) {
        jsonin_field_error(error, at, name, "not true or false");
        return FALSE;
    }
    *out = json_node_get_boolean(n);
    return TRUE;
}

gboolean jsonin_int(JsonObject *o, const char *at, const char *name, gboolean required, gint64 min,
                    gint64 max, gint64 *out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    if (!n)
        return ok;
    if (!holds(n, G_TYPE_INT64) || json_node_get_int(n) < min || json_node_get_int(n) > max) {
        jsonin_field_error(error, at, name,
                           "not a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, min,
                           max);
        return FALSE;
    }
    *out = json_node_get_int(n);
    return TRUE;
}

gboolean jsonin_count(JsonObject *o, const char *at, const char *name, gboolean required,
                      guint64 *out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    if (!n)
        return ok;
    if (!holds(n, G_TYPE_INT64) || json_node_get_int(n) < 0) {
        jsonin_field_error(error, at, name, "not a whole number >= 0");
        return FALSE;
    }
    *out = (guint64)json_node_get_int(n);
    return TRUE;
}

gboolean jsonin_double(JsonObject *o, const char *at, const char *name, gboolean required,
                       double min, double max, double *out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    if (!n)
        return ok;
    double v = holds(n, G_TYPE_INT64) || holds(n, G_TYPE_DOUBLE) ? json_node_get_double(n) : NAN;
    if (!(v >= min && v <= max)) {
        jsonin_field_error(error, at, name, "not a number from %g to %g", min, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean jsonin_object(JsonObject *o, const char *at, const char *name, gboolean required,
                       JsonObject **out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    *out = NULL;
    if (!n)
        return ok;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        jsonin_field_error(error, at, name, "not an object");
        return FALSE;
    }
    *out = json_node_get_object(n);
    return TRUE;
}

gboolean jsonin_array(JsonObject *o, const char *at, const char *name, gboolean required,
                      guint max_items, JsonArray **out, GError **error)
{
    gboolean ok;
    JsonNode *n = present(o, at, name, required, &ok, error);
    *out = NULL;
    if (!n)
        return ok;
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        jsonin_field_error(error, at, name, "not an array");
        return FALSE;
    }
    JsonArray *a = json_node_get_array(n);
    if (json_array_get_length(a) > max_items) {
        jsonin_field_error(error, at, name, "more than %u items", max_items);
        return FALSE;
    }
    *out = a;
    return TRUE;
}

gboolean jsonin_strv(JsonObject *o, const char *at, const char *name, gboolean required,
                     guint max_items, gsize max, char ***out, GError **error)
{
    JsonArray *a;
    if (!jsonin_array(o, at, name, required, max_items, &a, error))
        return FALSE;
    if (!a)
        return TRUE;
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        g_autofree char *item = g_strdup_printf("%s[%u]", name, i);
        if (!holds(n, G_TYPE_STRING)) {
            jsonin_field_error(error, at, item, "not a string");
            return FALSE;
        }
        if (strlen(json_node_get_string(n)) > max) {
            jsonin_field_error(error, at, item, "longer than %zu bytes", max);
            return FALSE;
        }
        g_strv_builder_add(b, json_node_get_string(n));
    }
    g_strfreev(*out);
    *out = g_strv_builder_end(b);
    return TRUE;
}

JsonObject *jsonin_item_object(JsonArray *a, const char *at, guint i, GError **error)
{
    JsonNode *n = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_FIELD, "%s[%u]: not an object", at, i);
        return NULL;
    }
    return json_node_get_object(n);
}
