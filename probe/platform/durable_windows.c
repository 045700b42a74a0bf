/* Durable files, Windows side (durable.h). */
#include "durable.h"

#include <errno.h>
#include <windows.h>

void durable_sync_dir(const char *dir)
{
}

/* MoveFileExW's REPLACE_EXISTING | WRITE_THROUGH, with UTF-8 names. */
static gboolean move_through(const char *from, const char *to, DWORD *err)
{
    g_autofree gunichar2 *wf = g_utf8_to_utf16(from, -1, NULL, NULL, NULL);
    g_autofree gunichar2 *wt = g_utf8_to_utf16(to, -1, NULL, NULL, NULL);
    if (!wf || !wt) {
        *err = ERROR_INVALID_NAME;
        return FALSE;
    }
    if (MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return TRUE;
    *err = GetLastError();
    return FALSE;
}

/* The whole of data into a new file at tmp, flushed to the disk. */
static gboolean write_flushed(const char *tmp, const char *data, gsize len, DWORD *err)
{
    g_autofree gunichar2 *wt = g_utf8_to_utf16(tmp, -1, NULL, NULL, NULL);
    HANDLE h =
        wt ? CreateFileW(wt, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
           : INVALID_HANDLE_VALUE;
    if (h == INVALID_HANDLE_VALUE) {
        *err = wt ? GetLastError() : ERROR_INVALID_NAME;
        return FALSE;
    }
    gboolean ok = TRUE;
    for (gsize done = 0; ok && done < len;) {
        DWORD n = 0;
        ok = WriteFile(h, data + done, (DWORD)MIN(len - done, 1u << 30), &n, NULL) && n > 0;
        done += n;
    }
    ok = ok && FlushFileBuffers(h);
    if (!ok)
        *err = GetLastError();
    CloseHandle(h);
    return ok;
}

gboolean durable_write(const char *dir, const char *path, const char *data, gsize len,
                       GError **error)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    DWORD err = 0;
    if (!write_flushed(tmp, data, len, &err) || !move_through(tmp, path, &err)) {
        g_autofree char *m = g_win32_error_message((gint)err);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", tmp, m);
        DeleteFileA(tmp); /* a UTF-8 name that is not ASCII stays for the spool's next start */
        return FALSE;
    }
    return TRUE;
}

gboolean durable_move(const char *from, const char *to)
{
    DWORD err = 0;
    if (move_through(from, to, &err))
        return TRUE;
    errno = err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND ? ENOENT : EIO;
    return FALSE;
}
