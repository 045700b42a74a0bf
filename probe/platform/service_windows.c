/* The service manager, Windows side (service.h): iceprobe.exe as the service
 * iceprobe-agent of the Service Control Manager.
 *
 * The process's main thread gives itself to the SCM (StartServiceCtrlDispatcherW),
 * which starts service_main() on a thread of its own; that thread reports the
 * service starting, opens the log, reports it running and runs the agent. The
 * SCM calls the control handler on the main thread: a stop or the system's
 * shutdown is reported as STOP_PENDING and delivered to stopping.h's watch,
 * which the agent waits on, as Ctrl+C is in a console. When the agent has
 * finished, service_main() reports STOPPED with its exit code. The two threads'
 * reports are serialized under one lock, and one that may not follow the last
 * (service_state_may_follow: a STOP_PENDING after STOPPED) is dropped.
 *
 * The log is %ProgramData%\iceprobe\agent.log: descriptors 2 and 1 are sent
 * there (the agent writes its lines to descriptor 2, cli.h's cli_log), and
 * GLib's messages through a writer of its own; moved to agent.log.1 at start
 * once over 8 MiB. The directory is made SYSTEM's and
 * the Administrators' alone (a protected DACL, inherited by what is in it):
 * ProgramData lets every user create files in its subdirectories and read
 * them, and the token and the spool live there. */
#include "service.h"

#include "places.h"
#include "stopping.h"
#include "iceprobe/cli.h"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <sys/stat.h>
#include <wchar.h>
#include <glib/gstdio.h>

G_DEFINE_QUARK(iceprobe - service - error - quark, service_error)

#define SERVICE_NAME_W     L"" SERVICE_NAME
#define LOG_ROTATE_BYTES   (8 * 1024 * 1024)
#define START_WAIT_HINT_MS 10000
#define STOP_WAIT_HINT_MS  35000 /* the agent's last upload may take 30 s */
#define EXIT_ERROR         3     /* cli.h's CLI_EXIT_ERROR: the agent could not start */
/* SYSTEM and the built-in Administrators: full control, for the directory and
 * what is made in it; nothing inherited from ProgramData. */
#define PROTECTED_DIR_SDDL L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

/* The one service of the process: the SCM's threads share it. */
static struct {
    ServiceBody body;
    gpointer data;
    gboolean ran;
    int exit_code;
    char *failure; /* why the agent did not start */
    SERVICE_STATUS_HANDLE handle;
    ServiceReporter reporter;        /* the reports, serialized */
    DWORD win32_exit, specific_exit; /* what STOPPED says */
} svc;

static DWORD win_state(ServiceState s)
{
    switch (s) {
    case SERVICE_STATE_START_PENDING:
        return SERVICE_START_PENDING;
    case SERVICE_STATE_RUNNING:
        return SERVICE_RUNNING;
    case SERVICE_STATE_STOP_PENDING:
        return SERVICE_STOP_PENDING;
    default:
        return SERVICE_STOPPED;
    }
}

/* The reporter's sink: SetServiceStatus (under the reporter's lock). */
static gboolean set_status(ServiceState st, guint checkpoint, gpointer data)
{
    gboolean stopped = st == SERVICE_STATE_STOPPED;
    SERVICE_STATUS s = {
        .dwServiceType = SERVICE_WIN32_OWN_PROCESS,
        .dwCurrentState = win_state(st),
        .dwControlsAccepted =
            st == SERVICE_STATE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0,
        .dwWin32ExitCode = stopped ? svc.win32_exit : NO_ERROR,
        .dwServiceSpecificExitCode = stopped ? svc.specific_exit : 0,
        .dwCheckPoint = checkpoint,
        .dwWaitHint = st == SERVICE_STATE_START_PENDING  ? START_WAIT_HINT_MS
                      : st == SERVICE_STATE_STOP_PENDING ? STOP_WAIT_HINT_MS
                                                         : 0,
    };
    return SetServiceStatus(svc.handle, &s);
}

static void report(ServiceState st)
{
    service_reporter_report(&svc.reporter, st);
}

/* STOPPED, with the exit code: 0, or the agent's as a service-specific code. */
static void report_stopped(int exit_code)
{
    svc.win32_exit = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
    svc.specific_exit = (DWORD)exit_code;
    report(SERVICE_STATE_STOPPED);
}

#define log_line(...) cli_log("iceprobe agent", __VA_ARGS__)

static void set_win32_error(GError **error, const char *what, DWORD rc)
{
    g_autofree char *m = g_win32_error_message((gint)rc);
    g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "%s: %s", what, m);
}

/* dir becomes SYSTEM's and the Administrators' alone. */
static gboolean protect_dir(const char *dir, GError **error)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(PROTECTED_DIR_SDDL, SDDL_REVISION_1,
                                                              &sd, NULL)) {
        set_win32_error(error, "ConvertStringSecurityDescriptorToSecurityDescriptorW",
                        GetLastError());
        return FALSE;
    }
    BOOL present = FALSE, defaulted = FALSE;
    PACL dacl = NULL;
    GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted);
    g_autofree gunichar2 *w = g_utf8_to_utf16(dir, -1, NULL, NULL, NULL);
    DWORD rc =
        w ? SetNamedSecurityInfoW((LPWSTR)w, SE_FILE_OBJECT,
                                  DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                  NULL, NULL, dacl, NULL)
          : ERROR_INVALID_NAME;
    LocalFree(sd);
    if (rc != ERROR_SUCCESS) {
        g_autofree char *what = g_strdup_printf("SetNamedSecurityInfoW on %s", dir);
        set_win32_error(error, what, rc);
        return FALSE;
    }
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

/* Descriptors 2 and 1 (and the process's standard handles) into
 * %ProgramData%\iceprobe\agent.log; *note says
 * what went wrong that the log itself should tell (the directory's DACL). */
static gboolean open_log(char **path_out, char **note, GError **error)
{
    g_autofree char *dir = places_machine_dir();
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int err = errno;
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(err));
        return FALSE;
    }
    g_autoptr(GError) pe = NULL;
    if (!protect_dir(dir, &pe))
        *note = g_strdup_printf("%s is not restricted to SYSTEM and Administrators: %s", dir,
                                pe->message);
    g_autofree char *path = g_build_filename(dir, "agent.log", NULL);
    GStatBuf st;
    if (g_stat(path, &st) == 0 && st.st_size > LOG_ROTATE_BYTES) {
        g_autofree char *old = g_strconcat(path, ".1", NULL);
        g_autofree gunichar2 *wp = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
        g_autofree gunichar2 *wo = g_utf8_to_utf16(old, -1, NULL, NULL, NULL);
        if (wp && wo)
            MoveFileExW(wp, wo, MOVEFILE_REPLACE_EXISTING);
    }
    g_autofree gunichar2 *w = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
    int fd = w ? _wopen((const wchar_t *)w, _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY,
                        _S_IREAD | _S_IWRITE)
               : -1;
    if (fd < 0 || _dup2(fd, 2) != 0 || _dup2(fd, 1) != 0) {
        int err = errno;
        if (fd >= 0)
            _close(fd);
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED, "cannot open %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    _close(fd);
    SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
    SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)_get_osfhandle(1));
    g_log_set_writer_func(log_writer, NULL, NULL);
    *path_out = g_steal_pointer(&path);
    return TRUE;
}

/* The service's program path as the SCM has it, quoted when it holds a space
 * and was not: unquoted, "C:\Program Files\iceprobe\iceprobe.exe agent ..."
 * lets Windows try C:\Program.exe first. Wine 8's msiexec registers it so
 * (whether Windows Installer does could not be checked here); the service
 * mends it for its next start and says so. NULL: nothing to mend, else what
 * was done, or why it could not be. */
static char *quote_own_path(const wchar_t *name)
{
    wchar_t exe[MAX_PATH];
    DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
    if (!n || n >= MAX_PATH || !wcschr(exe, L' '))
        return NULL;
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE me =
        scm ? OpenServiceW(scm, name, SERVICE_QUERY_CONFIG | SERVICE_CHANGE_CONFIG) : NULL;
    char *said = NULL;
    DWORD need = 0;
    QUERY_SERVICE_CONFIGW *cfg = NULL;
    if (me && !QueryServiceConfigW(me, NULL, 0, &need) &&
        GetLastError() == ERROR_INSUFFICIENT_BUFFER && need < 65536) {
        cfg = g_malloc(need);
        if (!QueryServiceConfigW(me, cfg, need, &need))
            g_clear_pointer(&cfg, g_free);
    }
    const wchar_t *path = cfg ? cfg->lpBinaryPathName : NULL;
    size_t len = wcslen(exe);
    if (path && path[0] != L'"' && _wcsnicmp(path, exe, len) == 0 &&
        (path[len] == L'\0' || path[len] == L' ')) {
        g_autofree wchar_t *quoted = g_new(wchar_t, wcslen(path) + 3);
        quoted[0] = L'"';
        wcsncpy(quoted + 1, path, len);
        quoted[len + 1] = L'"';
        wcscpy(quoted + len + 2, path + len);
        g_autofree char *utf8 = g_utf16_to_utf8((gunichar2 *)quoted, -1, NULL, NULL, NULL);
        if (ChangeServiceConfigW(me, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE,
                                 quoted, NULL, NULL, NULL, NULL, NULL, NULL))
            said = g_strdup_printf("the service's program path had a space and no quotes: "
                                   "now %s",
                                   utf8);
        else
            said = g_strdup_printf("the service's program path has a space and no quotes, and "
                                   "could not be quoted (error %lu)",
                                   (unsigned long)GetLastError());
    }
    g_free(cfg);
    if (me)
        CloseServiceHandle(me);
    if (scm)
        CloseServiceHandle(scm);
    return said;
}

/* Why the service stopped before its log existed, in the Windows event log
 * (Application, source iceprobe-agent, no message file: Event Viewer shows
 * the text as the event's insertion string). */
static void event_log_error(const char *text)
{
    HANDLE src = RegisterEventSourceW(NULL, SERVICE_NAME_W);
    g_autofree gunichar2 *w = g_utf8_to_utf16(text, -1, NULL, NULL, NULL);
    if (!src || !w) {
        if (src)
            DeregisterEventSource(src);
        return;
    }
    LPCWSTR strings[] = {(LPCWSTR)w};
    ReportEventW(src, EVENTLOG_ERROR_TYPE, 0, 1, NULL, 1, 0, strings, NULL);
    DeregisterEventSource(src);
}

static DWORD WINAPI on_control(DWORD control, DWORD type, LPVOID event_data, LPVOID context)
{
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN: {
        StopEvent ev =
            control == SERVICE_CONTROL_STOP ? STOP_EVENT_SERVICE_STOP : STOP_EVENT_SERVICE_SHUTDOWN;
        report(SERVICE_STATE_STOP_PENDING);
        log_line("the Service Control Manager asks it to stop (%s)", stopping_event_name(ev));
        stop_signals_deliver(ev);
        return NO_ERROR;
    }
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    }
    return ERROR_CALL_NOT_IMPLEMENTED;
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    service_reporter_init(&svc.reporter, set_status, NULL);
    /* The SCM names the service it started first (an own-process service's
     * table entry's name is not checked against it). */
    const wchar_t *name = argc > 0 && argv && argv[0] ? argv[0] : SERVICE_NAME_W;
    svc.handle = RegisterServiceCtrlHandlerExW(name, on_control, NULL);
    if (!svc.handle) {
        g_autoptr(GError) e = NULL;
        set_win32_error(&e, "RegisterServiceCtrlHandlerExW", GetLastError());
        svc.failure = g_strdup(e->message);
        return;
    }
    report(SERVICE_STATE_START_PENDING);
    g_autoptr(GError) e = NULL;
    g_autofree char *log = NULL, *note = NULL;
    if (!open_log(&log, &note, &e)) {
        svc.failure = g_strdup_printf("no log: %s", e->message);
        event_log_error(svc.failure);
        report_stopped(EXIT_ERROR);
        return;
    }
    log_line("started by the Service Control Manager as the service %s (process %lu); log %s",
             SERVICE_NAME, (unsigned long)GetCurrentProcessId(), log);
    if (note)
        log_line("%s", note);
    g_autofree char *mended = quote_own_path(name);
    if (mended)
        log_line("%s", mended);
    report(SERVICE_STATE_RUNNING);
    svc.exit_code = svc.body(svc.data);
    svc.ran = TRUE;
    log_line("the service stops (exit code %d)", svc.exit_code);
    report_stopped(svc.exit_code);
}

gboolean service_run(ServiceBody body, gpointer data, int *exit_code, GError **error)
{
    g_return_val_if_fail(body && exit_code, FALSE);
    stopping_set_mode(STOP_MODE_SERVICE);
    stop_signals_prepare(); /* a user's log-off is ignored from now on */
    svc.body = body;
    svc.data = data;
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME_W, service_main}, {NULL, NULL}};
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD rc = GetLastError();
        stopping_set_mode(STOP_MODE_CONSOLE);
        if (rc == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
            g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_NOT_STARTED,
                        "--service: this process was not started by the Service Control "
                        "Manager (start the service: sc start %s; to run the agent in this "
                        "console, leave --service out)",
                        SERVICE_NAME);
        else
            set_win32_error(error, "StartServiceCtrlDispatcherW", rc);
        return FALSE;
    }
    if (!svc.ran) {
        g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_FAILED,
                    "the service stopped before the agent started: %s",
                    svc.failure ? svc.failure : "?");
        g_clear_pointer(&svc.failure, g_free);
        return FALSE;
    }
    *exit_code = svc.exit_code;
    return TRUE;
}
