/* Where the agent keeps its spool when --spool does not say: Linux's
 * systemd state directory, /var/lib for root, else the user's state
 * directory; Windows' %ProgramData% for an elevated process (the service),
 * else the user's local application data. */
#pragma once

#include <glib.h>

char *places_default_spool(void);
/* The machine-wide agent's own directory: Windows' ProgramData\iceprobe (the
 * known folder, as the MSI's CommonAppDataFolder: the service's token, spool
 * and log), Linux's /var/lib/iceprobe-agent. */
char *places_machine_dir(void);
/* The same rule in words, for --help. */
const char *places_default_spool_help(void);
