/* The spool's default place, Windows side (places.h): %ProgramData%\iceprobe\spool
 * for an elevated process (the service: ProgramData's own permissions let
 * only SYSTEM and Administrators change what they did not create), else
 * %LOCALAPPDATA%\iceprobe\spool (GLib's user state directory there). */
#include "places.h"

#include "identity.h"

char *places_default_spool(void)
{
    const char *data = g_getenv("ProgramData");
    if (identity_privileged() && data && *data)
        return g_build_filename(data, "iceprobe", "spool", NULL);
    return g_build_filename(g_get_user_state_dir(), "iceprobe", "spool", NULL);
}

const char *places_default_spool_help(void)
{
    return "%ProgramData%\\iceprobe\\spool when elevated, else %LOCALAPPDATA%\\iceprobe\\spool";
}
