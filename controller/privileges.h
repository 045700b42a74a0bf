/* Started as root, the controller binds its sockets and then becomes [server]
 * user for good (supplementary groups, gid, uid), before it opens its store or
 * reads a byte from the network. */
#pragma once

#include <glib.h>

/* Becomes user when running as root; when not root, does nothing. FALSE if the
 * user is unknown or the switch fails (or could be undone). */
gboolean privileges_drop(const char *user, GError **error);
