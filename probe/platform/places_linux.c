/* The spool's default place, Linux side (places.h). */
#include "places.h"

#include <unistd.h>

char *places_default_spool(void)
{
    const char *state = g_getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (state && *state) {
        g_auto(GStrv) dirs = g_strsplit(state, ":", 2);
        return g_build_filename(dirs[0], "spool", NULL);
    }
    if (getuid() == 0) {
        g_autofree char *dir = places_machine_dir();
        return g_build_filename(dir, "spool", NULL);
    }
    return g_build_filename(g_get_user_state_dir(), "iceprobe", "spool", NULL);
}

const char *places_default_spool_help(void)
{
    return "$STATE_DIRECTORY/spool, /var/lib/iceprobe-agent/spool as root, else "
           "~/.local/state/iceprobe/spool";
}

char *places_machine_dir(void)
{
    return g_strdup("/var/lib/iceprobe-agent");
}
