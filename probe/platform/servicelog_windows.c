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

struct ServiceLog {
    GMutex lock; /* each line, and the move to agent.log.1 after it */
    char *path;
    gunichar2 *w, *w_old;
    guint64 cap;
    guint64 limit; /* the size that moves it: the cap, or more after a move failed */
};

static guint64 fd2_size(void)
{
    LARGE_INTEGER size;
    HANDLE h = (HANDLE)_get_osfhandle(2);
    return h != INVALID_HANDLE_VALUE && GetFileSizeEx(h, &size) ? (guint64)size.QuadPart : 0;
}

/* agent.log moved to agent.log.1 and a new one begun as descriptors 2 and 1;
 * under log->lock. Where either fails, the lines go on where they went, the
 * log says why, and the next try is another cap later. */
static void rotate(ServiceLog *log, guint64 size)
{
    g_autoptr(GError) e = NULL;
    if (!MoveFileExW((wchar_t *)log->w, (wchar_t *)log->w_old, MOVEFILE_REPLACE_EXISTING)) {
        set_win32_error(&e, GetLastError(), "cannot move %s to agent.log.1", log->path);
    } else {
        int fd = open_append((wchar_t *)log->w, log->path, &e);
        if (fd >= 0 && take_std(fd, log->path, &e)) {
            log->limit = log->cap;
            g_autofree char *line = cli_log_line(
                "iceprobe agent",
                "the log continues from agent.log.1 (moved at %" G_GUINT64_FORMAT " bytes)", size);
            cli_write_fd2(line, strlen(line));
            return;
        }
    }
    log->limit = size + log->cap;
    g_autofree char *line =
        cli_log_line("iceprobe agent", "%s; the log goes on as it was", e->message);
    cli_write_fd2(line, strlen(line));
}

/* cli.h's log writer: the line, then the move if it passed the cap. */
static void write_line(const char *line, gsize len, gpointer data)
{
    ServiceLog *log = data;
    g_mutex_lock(&log->lock);
    cli_write_fd2(line, len);
    guint64 size = fd2_size();
    if (size > log->limit)
        rotate(log, size);
    g_mutex_unlock(&log->lock);
}

ServiceLog *servicelog_open(const char *dir, gsize cap_bytes, GError **error)
{
    g_return_val_if_fail(dir && cap_bytes > 0, NULL);
    g_autofree char *path = g_build_filename(dir, "agent.log", NULL);
    g_autofree char *old = g_strconcat(path, ".1", NULL);
    g_autofree gunichar2 *w = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
    g_autofree gunichar2 *wo = g_utf8_to_utf16(old, -1, NULL, NULL, NULL);
    if (!w || !wo) {
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "%s: not valid UTF-8", path);
        return NULL;
    }
    if (!refuse_reparse_point((wchar_t *)w, path, TRUE, error))
        return NULL;
    WIN32_FILE_ATTRIBUTE_DATA fa;
    if (GetFileAttributesExW((wchar_t *)w, GetFileExInfoStandard, &fa) &&
        (((guint64)fa.nFileSizeHigh << 32) | fa.nFileSizeLow) > cap_bytes)
        MoveFileExW((wchar_t *)w, (wchar_t *)wo, MOVEFILE_REPLACE_EXISTING);
    int fd = open_append((wchar_t *)w, path, error);
    if (fd < 0 || !take_std(fd, path, error))
        return NULL;
    ServiceLog *log = g_new0(ServiceLog, 1);
    g_mutex_init(&log->lock);
    log->path = g_steal_pointer(&path);
    log->w = g_steal_pointer(&w);
    log->w_old = g_steal_pointer(&wo);
    log->cap = log->limit = cap_bytes;
    cli_set_log_writer(write_line, log);
    return log;
}

const char *servicelog_path(const ServiceLog *log)
{
    g_return_val_if_fail(log, NULL);
    return log->path;
}

void servicelog_close(ServiceLog *log)
{
    if (!log)
        return;
    cli_set_log_writer(NULL, NULL);
    g_mutex_clear(&log->lock);
    g_free(log->path);
    g_free(log->w);
    g_free(log->w_old);
    g_free(log);
}
