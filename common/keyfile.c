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
