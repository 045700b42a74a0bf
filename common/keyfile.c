#include "iceprobe/keyfile.h"

#include <gio/gio.h>
#include <openssl/crypto.h>

#include <string.h>

char *keyfile_strip_comment(const char *raw)
{
    char *v = g_strdup(raw ? raw : "");
    for (char *c = v; *c; c++) {
        if ((*c == ';' || *c == '#') && c > v && g_ascii_isspace(c[-1])) {
            *c = '\0';
            break;
        }
    }
    return g_strstrip(v);
}

void keyfile_wipe(void *p, gsize n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void keyfile_secret_free(char *s)
{
    if (s)
        keyfile_wipe(s, strlen(s));
    g_free(s);
}

char *keyfile_read_capped(const char *path, gsize max, gsize *len, gint64 *mtime, GError **error)
{
    g_autoptr(GFile) f = g_file_new_for_path(path);
    g_autoptr(GError) e = NULL;
    g_autoptr(GFileInfo) info = g_file_query_info(
        f, G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_TIME_MODIFIED,
        G_FILE_QUERY_INFO_NONE, NULL, &e);
    char *data = NULL;
    if (info && (guint64)g_file_info_get_size(info) > max) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "'%s' is larger than %zu bytes", path,
                    max);
        return NULL;
    }
    if (!info || !g_file_get_contents(path, &data, len, &e)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read '%s': %s", path,
                    e->message);
        return NULL;
    }
    if (mtime)
        *mtime = (gint64)g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_TIME_MODIFIED);
    return data;
}

gboolean keyfile_error_is_unreadable(const GError *e)
{
    return g_error_matches(e, G_IO_ERROR, G_IO_ERROR_FAILED);
}

/* The secret in data (len bytes, NUL-terminated, stripped in place), copied. */
static char *secret_of(const char *path, char *data, gsize len, gsize min_len, gsize max_len,
                       GError **error)
{
    gboolean control = memchr(data, '\0', len) != NULL;
    char *s = g_strstrip(data);
    gsize n = strlen(s);
    for (const char *c = s; !control && *c; c++)
        control = (guchar)*c < 0x20 || *c == 0x7f;
    if (control)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "'%s' holds a control character: not a secret", path);
    else if (n > max_len)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                    "'%s' holds more than %zu bytes: too long to be a secret", path, max_len);
    else if (n == 0)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' is empty", path);
    else if (n < min_len)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "'%s' holds fewer than %zu characters: too short to be a secret", path,
                    min_len);
    else
        return g_strdup(s);
    return NULL;
}

char *keyfile_read_secret(const char *path, gsize min_len, gsize max_len, GError **error)
{
    g_return_val_if_fail(path && min_len <= max_len, NULL);
    g_autoptr(GError) e = NULL;
    gsize len = 0;
    char *data = keyfile_read_capped(path, max_len + KEYFILE_SECRET_SPACE, &len, NULL, &e);
    if (!data) {
        if (keyfile_error_is_unreadable(e))
            g_propagate_error(error, g_steal_pointer(&e));
        else
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        "'%s' holds more than %zu bytes: too long to be a secret", path, max_len);
        return NULL;
    }
    char *secret = secret_of(path, data, len, min_len, max_len, error);
    keyfile_wipe(data, len);
    g_free(data);
    return secret;
}
