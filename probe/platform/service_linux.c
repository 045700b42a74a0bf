/* The service manager, Linux side (service.h): none to connect to. systemd
 * starts the agent as an ordinary foreground process (Type=exec) and stops it
 * with SIGTERM (stopping.h), so --service would mean nothing here: it is
 * refused, naming what to do instead. */
#include "service.h"

G_DEFINE_QUARK(iceprobe - service - error - quark, service_error)

gboolean service_run(ServiceBody body, gpointer data, int *exit_code, GError **error)
{
    g_set_error(error, SERVICE_ERROR, SERVICE_ERROR_UNAVAILABLE,
                "--service is for Windows' Service Control Manager; on Linux run the agent "
                "without it (systemd: dist/iceprobe-agent.service, docs/agent.md)");
    return FALSE;
}
