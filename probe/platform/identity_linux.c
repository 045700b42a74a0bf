/* Who the probe runs as, Linux side (identity.h). */
#include "identity.h"

#include <unistd.h>

gboolean identity_privileged(void)
{
    return getuid() == 0;
}

void identity_to_json(JsonObject *probe, JsonArray *could_not_see)
{
    json_object_set_int_member(probe, "uid", (gint64)getuid());
}
