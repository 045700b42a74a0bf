/* Running under the platform's service manager: `iceprobe agent --service`.
 * Windows: the Service Control Manager starts iceprobe.exe (the MSI registers
 * it as the service iceprobe-agent, docs/windows.md); service_run() connects
 * to it (StartServiceCtrlDispatcherW), registers the control handler
 * (RegisterServiceCtrlHandlerExW), writes the log to
 * %ProgramData%\iceprobe\agent.log, and runs the agent. SERVICE_CONTROL_STOP,
 * PRESHUTDOWN and SHUTDOWN go through stopping.h's watch, as Ctrl+C does, and the
 * console's events are ignored (stopping_decide). Linux: systemd runs the
 * agent as it is, in the foreground (dist/iceprobe-agent.service); --service
 * is refused there with the usage exit code, rather than accepted and meaning
 * nothing. */
#pragma once

#include <glib.h>

#define SERVICE_ERROR (service_error_quark())
GQuark service_error_quark(void);
typedef enum {
    SERVICE_ERROR_UNAVAILABLE, /* no such service manager here (Linux) */
    SERVICE_ERROR_NOT_STARTED, /* not started by the service manager */
    SERVICE_ERROR_FAILED,
} ServiceError;

/* The service's name, as the MSI registers it. */
#define SERVICE_NAME "iceprobe-agent"

/* The agent, started once the service manager has the process. Its return is
 * the process's exit code (cli.h), which the service manager is told. */
typedef int (*ServiceBody)(gpointer data);

/* Runs body(data) as the service; FALSE with error when the process cannot
 * be one (then nothing ran). *exit_code is body's. Returns once the service
 * has stopped. */
gboolean service_run(ServiceBody body, gpointer data, int *exit_code, GError **error);
