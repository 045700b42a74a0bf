/* The spool's default place, Windows side (places.h): ProgramData\iceprobe\spool
 * for an elevated process (the service: ProgramData's own permissions let
 * only SYSTEM and Administrators change what they did not create, and the
 * service locks its directory, service_windows.c), else
 * %LOCALAPPDATA%\iceprobe\spool (GLib's user state directory there).
 * ProgramData is the known folder (SHGetFolderPathW, CSIDL_COMMON_APPDATA), as
 * the MSI's CommonAppDataFolder is: the environment's %ProgramData% is not
 * always it (Wine gives services C:\users\Public). */
#include "places.h"

#include "identity.h"

#include <windows.h>
#include <shlobj.h>

char *places_machine_dir(void)
{
    wchar_t dir[MAX_PATH];
    if (SUCCEEDED(SHGetFolderPathW(NULL, CSIDL_COMMON_APPDATA, NULL, SHGFP_TYPE_CURRENT, dir))) {
        g_autofree char *utf8 = g_utf16_to_utf8((const gunichar2 *)dir, -1, NULL, NULL, NULL);
        if (utf8)
            return g_build_filename(utf8, "iceprobe", NULL);
    }
    const char *data = g_getenv("ProgramData");
    return g_build_filename(data && *data ? data : "C:\\ProgramData", "iceprobe", NULL);
}

char *places_default_spool(void)
{
    if (identity_privileged()) {
        g_autofree char *dir = places_machine_dir();
        return g_build_filename(dir, "spool", NULL);
    }
    return g_build_filename(g_get_user_state_dir(), "iceprobe", "spool", NULL);
}

const char *places_default_spool_help(void)
{
    return "%ProgramData%\\iceprobe\\spool when elevated, else %LOCALAPPDATA%\\iceprobe\\spool";
}
