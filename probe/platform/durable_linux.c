/* Durable files, Linux side (durable.h). */
#include "durable.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

void durable_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

gboolean durable_write(const char *dir, const char *path, const char *data, gsize len,
                       GError **error)
{
    if (!g_file_set_contents_full(path, data, (gssize)len,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0600, error))
        return FALSE;
    durable_sync_dir(dir);
    return TRUE;
}

gboolean durable_move(const char *from, const char *to)
{
    return g_rename(from, to) == 0;
}
