/* The service manager, Windows side (service.h): iceprobe.exe as the service
 * iceprobe-agent of the Service Control Manager.
 *
 * The process's main thread gives itself to the SCM (StartServiceCtrlDispatcherW),
 * which starts service_main() on a thread of its own; that thread reports the
 * service starting, opens the log, reports it running and runs the agent. The
 * SCM calls the control handler on the main thread: a stop or the system's
 * shutdown (PRESHUTDOWN, which a shutdown waits for up to the timeout the
 * service sets at start, then SHUTDOWN) is reported as STOP_PENDING and delivered to stopping.h's
 * watch, which the agent waits on, as Ctrl+C is in a console. When the agent has finished,
 * service_main() reports STOPPED with its exit code. The two threads' reports are serialized under
 * one lock, and one that may not follow the last (service_state_may_follow: a STOP_PENDING after
 * STOPPED) is dropped.
 *
 * The log is %ProgramData%\iceprobe\agent.log (servicelog.h): descriptors 2
 * and 1 are sent there (the agent writes its lines to descriptor 2, cli.h's
 * cli_log), and GLib's messages through a writer of its own. The directory,
 * where the token and the spool live too, is refused when it is a reparse
 * point and made Administrators' own and SYSTEM's and their alone. */
#include "service.h"

#include "places.h"
#include "servicelog.h"
#include "stopping.h"
#include "iceprobe/cli.h"

#include <windows.h>

#include <wchar.h>

G_DEFINE_QUARK(iceprobe - service - error - quark, service_error)

#define SERVICE_NAME_W     L"" SERVICE_NAME
#define START_WAIT_HINT_MS 10000
#define STOP_WAIT_HINT_MS  35000 /* the agent's last upload may take 30 s */
/* How long a shutdown waits for the service once it has sent PRESHUTDOWN:
 * the stop's wait and some. Windows' default is 180 s on older systems, less
 * on newer ones; set at each start, so that the service's own holds. */
#define PRESHUTDOWN_TIMEOUT_MS 40000
#define EXIT_ERROR             3 /* cli.h's CLI_EXIT_ERROR: the agent could not start */

/* The one service of the process: the SCM's threads share it. */
static struct {
    ServiceBody body;
    gpointer data;
    gboolean ran;
    int exit_code;
    char *failure; /* why the agent did not start */
    SERVICE_STATUS_HANDLE handle;
    ServiceLog *log;                 /* from the start to service_run()'s return */
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
            st == SERVICE_STATE_RUNNING
                ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_SHUTDOWN
                : 0,
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

/* The log (servicelog.h): the directory made safe, then agent.log, and
 * GLib's messages into it; *notes what the log itself should tell. */
static ServiceLog *open_log(GPtrArray *notes, GError **error)
{
    g_autofree char *dir = places_machine_dir();
    if (!servicelog_prepare_dir(dir, notes, error))
        return NULL;
    ServiceLog *log = servicelog_open(dir, SERVICELOG_CAP_BYTES, error);
    if (log)
        g_log_set_writer_func(log_writer, NULL, NULL);
    return log;
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

/* The shutdown's wait for this service (PRESHUTDOWN_TIMEOUT_MS), for its
 * log: what was set, or why it could not be. */
static char *set_preshutdown_timeout(const wchar_t *name)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE me = scm ? OpenServiceW(scm, name, SERVICE_CHANGE_CONFIG) : NULL;
    SERVICE_PRESHUTDOWN_INFO info = {.dwPreshutdownTimeout = PRESHUTDOWN_TIMEOUT_MS};
    char *said = me && ChangeServiceConfig2W(me, SERVICE_CONFIG_PRESHUTDOWN_INFO, &info)
                     ? g_strdup_printf("a shutdown waits up to %d s for it to stop "
                                       "(SERVICE_CONTROL_PRESHUTDOWN)",
                                       PRESHUTDOWN_TIMEOUT_MS / 1000)
                     : g_strdup_printf("its shutdown wait could not be set (error %lu): "
                                       "Windows' default holds",
                                       (unsigned long)GetLastError());
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
    case SERVICE_CONTROL_PRESHUTDOWN:
    case SERVICE_CONTROL_SHUTDOWN: {
        StopEvent ev = control == SERVICE_CONTROL_STOP          ? STOP_EVENT_SERVICE_STOP
                       : control == SERVICE_CONTROL_PRESHUTDOWN ? STOP_EVENT_SERVICE_PRESHUTDOWN
                                                                : STOP_EVENT_SERVICE_SHUTDOWN;
        /* STOP_PENDING with its wait hint: the SCM (and a shutdown, which
         * waits up to the preshutdown timeout) sees the stop under way. */
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
    g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
    svc.log = open_log(notes, &e);
    if (!svc.log) {
        svc.failure = g_strdup_printf("no log: %s", e->message);
        event_log_error(svc.failure);
        report_stopped(EXIT_ERROR);
        return;
    }
    log_line("started by the Service Control Manager as the service %s (process %lu); log %s",
             SERVICE_NAME, (unsigned long)GetCurrentProcessId(), servicelog_path(svc.log));
    for (guint i = 0; i < notes->len; i++)
        log_line("%s", (const char *)notes->pdata[i]);
    g_autofree char *mended = quote_own_path(name);
    if (mended)
        log_line("%s", mended);
    g_autofree char *preshutdown = set_preshutdown_timeout(name);
    log_line("%s", preshutdown);
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
    /* Lines to descriptor 2 from now on: still the log's file. */
    g_clear_pointer(&svc.log, servicelog_close);
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
