/* Who the probe runs as, Windows side (identity.h): the process token's
 * elevation (GetTokenInformation TokenElevation). */
#include "identity.h"

#include <windows.h>

gboolean identity_privileged(void)
{
    HANDLE token = NULL;
    TOKEN_ELEVATION e = {0};
    DWORD len = 0;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return FALSE;
    gboolean ok = GetTokenInformation(token, TokenElevation, &e, sizeof(e), &len);
    CloseHandle(token);
    return ok && e.TokenIsElevated;
}

void identity_to_json(JsonObject *probe, JsonArray *could_not_see)
{
    gboolean elevated = identity_privileged();
    json_object_set_boolean_member(probe, "elevated", elevated);
    if (!elevated)
        json_array_add_string_element(could_not_see,
                                      "the TCP segments of relay-tcp and relay-tls paths "
                                      "(SetPerTcpConnectionEStats needs an elevated process): "
                                      "their connections are counted in bytes (SIO_TCP_INFO)");
}
