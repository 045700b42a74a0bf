/* Who the probe runs as, which decides what it may read: Linux's uid (root
 * sees everything it reads; any user sees the interfaces and routes);
 * Windows' token elevation (an unelevated process cannot switch on a TCP
 * connection's extended statistics). */
#pragma once

#include <json-glib/json-glib.h>

/* Root (Linux) or an elevated token (Windows). */
gboolean identity_privileged(void);
/* The result's probes[] members for it (Linux "uid"; Windows "elevated"), and
 * what this identity could not see added to could_not_see. */
void identity_to_json(JsonObject *probe, JsonArray *could_not_see);
