/* The Windows service's log and its directory (servicelog.h).
 *
 * Reparse points are refused by their attribute (GetFileAttributesW), before
 * anything follows them: SetNamedSecurityInfoW on a junction would set the
 * DACL of where it leads. The log itself is then opened with
 * FILE_FLAG_OPEN_REPARSE_POINT, and the handle's own attributes checked, so
 * that one made between the check and the open is not written through
 * either. */
#include "servicelog.h"

#include "service.h"
#include "iceprobe/cli.h"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <glib/gstdio.h>

/* SYSTEM and the built-in Administrators: full control, for the directory and
 * what is made in it; nothing inherited from ProgramData. */
#define PROTECTED_DIR_SDDL L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

#define log_line(...) cli_log("iceprobe agent", __VA_ARGS__)

static void set_win32_error(GError **error, DWORD rc, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void set_win32_error(GError **error, DWORD rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *m = g_win32_error_message((gint)rc);
    g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "%s: %s", what, m);
}

/* FALSE, with error, when path is a reparse point (or cannot be looked at,
 * unless it is only missing and absent_ok). */
static gboolean refuse_reparse_point(const wchar_t *w, const char *path, gboolean absent_ok,
                                     GError **error)
{
    DWORD a = GetFileAttributesW(w);
    if (a == INVALID_FILE_ATTRIBUTES) {
        DWORD rc = GetLastError();
        if (absent_ok && (rc == ERROR_FILE_NOT_FOUND || rc == ERROR_PATH_NOT_FOUND))
            return TRUE;
        set_win32_error(error, rc, "GetFileAttributesW on %s", path);
        return FALSE;
    }
    if (a & FILE_ATTRIBUTE_REPARSE_POINT) {
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED,
                    "%s is a reparse point (a junction or a symbolic link): refused, since the "
                    "service's writes would go where it leads; remove it and start the service "
                    "again",
                    path);
        return FALSE;
    }
    return TRUE;
}

static char *sid_text(PSID sid)
{
    LPWSTR s = NULL;
    if (!ConvertSidToStringSidW(sid, &s))
        return g_strdup("?");
    char *t = g_utf16_to_utf8((gunichar2 *)s, -1, NULL, NULL, NULL);
    LocalFree(s);
    return t ? t : g_strdup("?");
}

/* The owner's SID as text; TRUE with *ok when it is SYSTEM or Administrators. */
static gboolean read_owner(const wchar_t *w, const char *dir, gboolean *ok, char **text,
                           GError **error)
{
    PSID owner = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    DWORD rc = GetNamedSecurityInfoW(w, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &owner, NULL,
                                     NULL, NULL, &sd);
    if (rc != ERROR_SUCCESS) {
        set_win32_error(error, rc, "GetNamedSecurityInfoW (owner) on %s", dir);
        return FALSE;
    }
    *ok = owner && (IsWellKnownSid(owner, WinBuiltinAdministratorsSid) ||
                    IsWellKnownSid(owner, WinLocalSystemSid));
    *text = owner ? sid_text(owner) : g_strdup("none");
    LocalFree(sd);
    return TRUE;
}

/* One privilege of the process's token enabled (LocalSystem holds those
 * asked for here, disabled). */
static void enable_privilege(const wchar_t *name)
{
    HANDLE token;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token))
        return;
    TOKEN_PRIVILEGES tp = {.PrivilegeCount = 1};
    tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    if (LookupPrivilegeValueW(NULL, name, &tp.Privileges[0].Luid))
        AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL);
    CloseHandle(token);
}

/* Administrators made dir's owner unless SYSTEM or they are: a user who made
 * the directory first, to read the log, would otherwise keep the right to
 * rewrite its DACL. Taking a directory whose DACL shuts SYSTEM out needs
 * SeTakeOwnershipPrivilege, enabled for a second try. */
static gboolean own_dir(const wchar_t *w, const char *dir, GPtrArray *notes, GError **error)
{
    gboolean ok = FALSE;
    g_autofree char *was = NULL;
    if (!read_owner(w, dir, &ok, &was, error))
        return FALSE;
    if (ok)
        return TRUE;
    BYTE ba[SECURITY_MAX_SID_SIZE];
    DWORD n = sizeof ba;
    if (!CreateWellKnownSid(WinBuiltinAdministratorsSid, NULL, ba, &n)) {
        set_win32_error(error, GetLastError(), "CreateWellKnownSid (Administrators)");
        return FALSE;
    }
    DWORD rc = SetNamedSecurityInfoW((LPWSTR)w, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, ba,
                                     NULL, NULL, NULL);
    if (rc == ERROR_ACCESS_DENIED || rc == ERROR_INVALID_OWNER || rc == ERROR_PRIVILEGE_NOT_HELD) {
        enable_privilege(L"SeTakeOwnershipPrivilege");
        enable_privilege(L"SeRestorePrivilege");
        rc = SetNamedSecurityInfoW((LPWSTR)w, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, ba, NULL,
                                   NULL, NULL);
    }
    if (rc != ERROR_SUCCESS) {
        set_win32_error(error, rc,
                        "%s is owned by %s, who could rewrite its permissions, and the service "
                        "cannot make Administrators its owner (SetNamedSecurityInfoW)",
                        dir, was);
        return FALSE;
    }
    /* Read back: Wine 8 takes the call and keeps its own owner (docs/windows.md). */
    g_autofree char *now = NULL;
    if (read_owner(w, dir, &ok, &now, NULL) && !ok)
        g_ptr_array_add(notes, g_strdup_printf("%s was owned by %s; Administrators were made its "
                                               "owner, but it still reads as owned by %s",
                                               dir, was, now));
    else
        g_ptr_array_add(notes,
                        g_strdup_printf("%s was owned by %s: now by Administrators", dir, was));
    return TRUE;
}

/* dir becomes SYSTEM's and the Administrators' alone. */
static gboolean protect_dir(const wchar_t *w, const char *dir, GError **error)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(PROTECTED_DIR_SDDL, SDDL_REVISION_1,
                                                              &sd, NULL)) {
        set_win32_error(error, GetLastError(),
                        "ConvertStringSecurityDescriptorToSecurityDescriptorW");
        return FALSE;
    }
    BOOL present = FALSE, defaulted = FALSE;
    PACL dacl = NULL;
    GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted);
    DWORD rc = SetNamedSecurityInfoW(
        (LPWSTR)w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
        NULL, NULL, dacl, NULL);
    LocalFree(sd);
    if (rc != ERROR_SUCCESS) {
        set_win32_error(error, rc, "SetNamedSecurityInfoW on %s", dir);
        return FALSE;
    }
    return TRUE;
}

gboolean servicelog_prepare_dir(const char *dir, GPtrArray *notes, GError **error)
{
    g_return_val_if_fail(dir && notes, FALSE);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int err = errno;
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(err));
        return FALSE;
    }
    g_autofree gunichar2 *w = g_utf8_to_utf16(dir, -1, NULL, NULL, NULL);
    if (!w) {
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "%s: not valid UTF-8", dir);
        return FALSE;
    }
    /* The reparse point first: the owner and the DACL would be set where it leads. */
    if (!refuse_reparse_point((wchar_t *)w, dir, FALSE, error) ||
        !own_dir((wchar_t *)w, dir, notes, error))
        return FALSE;
    g_autoptr(GError) pe = NULL;
    if (!protect_dir((wchar_t *)w, dir, &pe))
        g_ptr_array_add(notes,
                        g_strdup_printf("%s is not restricted to SYSTEM and Administrators: %s",
                                        dir, pe->message));
    return TRUE;
}

/* GLib's messages (and libnice's) as log lines: its default writer uses the
 * C library's stderr stream, which a process without a console never has. */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (!g_log_writer_default_would_drop(level, NULL)) {
        g_autofree char *text = g_log_writer_format_fields(level, fields, n, FALSE);
        log_line("%s", text);
    }
    return G_LOG_WRITER_HANDLED;
}

/* path opened for appending, a reparse point neither followed nor taken; a
 * descriptor of the C library's, or -1 with error. Deletion shared, so that
 * the file can be renamed while open. */
static int open_append(const wchar_t *w, const char *path, GError **error)
{
    if (!refuse_reparse_point(w, path, TRUE, error))
        return -1;
    HANDLE h = CreateFileW(w, FILE_APPEND_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        set_win32_error(error, GetLastError(), "cannot open %s (CreateFileW)", path);
        return -1;
    }
    BY_HANDLE_FILE_INFORMATION info;
    if (!GetFileInformationByHandle(h, &info) ||
        (info.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY))) {
        CloseHandle(h);
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED,
                    "%s is a reparse point or a directory: refused", path);
        return -1;
    }
    int fd = _open_osfhandle((intptr_t)h, _O_APPEND | _O_WRONLY | _O_BINARY);
    if (fd < 0) {
        CloseHandle(h);
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "cannot open %s: %s", path,
                    g_strerror(errno));
    }
    return fd;
}

/* fd as descriptors 2 and 1 and the process's standard handles; fd closed. */
static gboolean take_std(int fd, const char *path, GError **error)
{
    if (_dup2(fd, 2) != 0 || _dup2(fd, 1) != 0) {
        int err = errno;
        _close(fd);
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "cannot open %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    _close(fd);
    SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
    SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)_get_osfhandle(1));
    return TRUE;
}

gboolean servicelog_open(const char *dir, gsize cap_bytes, char **path_out, GError **error)
{
    g_return_val_if_fail(dir && path_out, FALSE);
    g_autofree char *path = g_build_filename(dir, "agent.log", NULL);
    g_autofree char *old = g_strconcat(path, ".1", NULL);
    g_autofree gunichar2 *w = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
    g_autofree gunichar2 *wo = g_utf8_to_utf16(old, -1, NULL, NULL, NULL);
    if (!w || !wo) {
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "%s: not valid UTF-8", path);
        return FALSE;
    }
    if (!refuse_reparse_point((wchar_t *)w, path, TRUE, error))
        return FALSE;
    WIN32_FILE_ATTRIBUTE_DATA fa;
    if (GetFileAttributesExW((wchar_t *)w, GetFileExInfoStandard, &fa) &&
        (((guint64)fa.nFileSizeHigh << 32) | fa.nFileSizeLow) > cap_bytes)
        MoveFileExW((wchar_t *)w, (wchar_t *)wo, MOVEFILE_REPLACE_EXISTING);
    int fd = open_append((wchar_t *)w, path, error);
    if (fd < 0 || !take_std(fd, path, error))
        return FALSE;
    g_log_set_writer_func(log_writer, NULL, NULL);
    *path_out = g_steal_pointer(&path);
    return TRUE;
}
