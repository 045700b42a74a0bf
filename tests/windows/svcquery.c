/* svcquery NAME: a Windows service as the Service Control Manager has it, one
 * line for the tests under Wine (tests/service-windows.sh, msi-windows.sh), whose
 * sc.exe has no "query": "absent", or
 *   state=RUNNING exit=0 specific=0 start=demand path=C:\...\iceprobe.exe agent ...
 * (state: STOPPED, START_PENDING, STOP_PENDING, RUNNING; exit: the Win32 exit
 * code; specific: the service-specific one; start: auto, demand, disabled).
 * Exit status 0, or 1 when the SCM cannot be asked.
 * svcquery --preshutdown NAME: "preshutdown=MS", the time a shutdown waits for
 * the service once it has sent SERVICE_CONTROL_PRESHUTDOWN.
 * svcquery --hold SECONDS: stays that long. Wine ends a prefix's services
 * once its last ordinary program has exited (a few seconds later), so a test
 * keeps one running while its service should. */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *state_name(DWORD s)
{
    switch (s) {
    case SERVICE_STOPPED:
        return "STOPPED";
    case SERVICE_START_PENDING:
        return "START_PENDING";
    case SERVICE_STOP_PENDING:
        return "STOP_PENDING";
    case SERVICE_RUNNING:
        return "RUNNING";
    }
    return "OTHER";
}

static const char *start_name(DWORD s)
{
    switch (s) {
    case SERVICE_AUTO_START:
        return "auto";
    case SERVICE_DEMAND_START:
        return "demand";
    case SERVICE_DISABLED:
        return "disabled";
    }
    return "other";
}

static int preshutdown(const char *name)
{
    SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE svc = scm ? OpenServiceA(scm, name, SERVICE_QUERY_CONFIG) : NULL;
    SERVICE_PRESHUTDOWN_INFO info;
    DWORD n = 0;
    int rc = 0;
    if (!svc || !QueryServiceConfig2A(svc, SERVICE_CONFIG_PRESHUTDOWN_INFO, (BYTE *)&info,
                                      sizeof info, &n)) {
        fprintf(stderr, "svcquery: %s: error %lu\n", name, (unsigned long)GetLastError());
        rc = 1;
    } else {
        printf("preshutdown=%lu\n", (unsigned long)info.dwPreshutdownTimeout);
    }
    if (svc)
        CloseServiceHandle(svc);
    if (scm)
        CloseServiceHandle(scm);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--hold") == 0) {
        Sleep((DWORD)atoi(argv[2]) * 1000);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--preshutdown") == 0)
        return preshutdown(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: svcquery NAME | --preshutdown NAME | --hold SECONDS\n");
        return 1;
    }
    SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    if (!scm) {
        fprintf(stderr, "svcquery: OpenSCManager: error %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    SC_HANDLE svc = OpenServiceA(scm, argv[1], SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG);
    if (!svc) {
        DWORD rc = GetLastError();
        CloseServiceHandle(scm);
        if (rc == ERROR_SERVICE_DOES_NOT_EXIST) {
            printf("absent\n");
            return 0;
        }
        fprintf(stderr, "svcquery: OpenService: error %lu\n", (unsigned long)rc);
        return 1;
    }
    SERVICE_STATUS_PROCESS st;
    DWORD n = 0;
    static BYTE buf[8192];
    QUERY_SERVICE_CONFIGA *cfg = (QUERY_SERVICE_CONFIGA *)buf;
    int rc = 0;
    if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&st, sizeof(st), &n) ||
        !QueryServiceConfigA(svc, cfg, sizeof(buf), &n)) {
        fprintf(stderr, "svcquery: QueryServiceStatusEx/Config: error %lu\n",
                (unsigned long)GetLastError());
        rc = 1;
    } else {
        printf("state=%s exit=%lu specific=%lu start=%s path=%s\n", state_name(st.dwCurrentState),
               (unsigned long)st.dwWin32ExitCode, (unsigned long)st.dwServiceSpecificExitCode,
               start_name(cfg->dwStartType), cfg->lpBinaryPathName ? cfg->lpBinaryPathName : "");
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return rc;
}
