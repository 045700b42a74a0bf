/* TCP segment counts, Windows side (tcpstats.h): the connection's extended
 * statistics (TcpConnectionEstatsData: SegsOut, SegsIn), switched on with
 * SetPerTcpConnectionEStats, which needs an elevated process (its
 * documentation: "requires ... administrative privileges"); IPv4 only here:
 * mingw-w64 10 does not declare SetPerTcp6ConnectionEStats. Where it cannot be
 * had the counts are reported missing, never as zero. */
#include "tcpstats.h"

#include <iphlpapi.h>
#include <tcpestats.h>

/* Wine (8) exports the two calls as stubs that end the process when called. */
static gboolean under_wine(void)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* The connection's row (IPv4): its two ends, as the TCP table names them. */
static gboolean row_of(PSock s, MIB_TCPROW *row)
{
    struct sockaddr_in l, r;
    int ll = sizeof(l), rl = sizeof(r);
    if (getsockname(s, (struct sockaddr *)&l, &ll) != 0 ||
        getpeername(s, (struct sockaddr *)&r, &rl) != 0 || l.sin_family != AF_INET ||
        r.sin_family != AF_INET)
        return FALSE;
    memset(row, 0, sizeof(*row));
    row->dwState = MIB_TCP_STATE_ESTAB;
    row->dwLocalAddr = l.sin_addr.s_addr;
    row->dwLocalPort = l.sin_port;
    row->dwRemoteAddr = r.sin_addr.s_addr;
    row->dwRemotePort = r.sin_port;
    return TRUE;
}

gboolean tcpstats_start(PSock s, char **why)
{
    MIB_TCPROW row;
    if (under_wine()) {
        *why = g_strdup("Wine does not implement the extended TCP statistics");
        return FALSE;
    }
    if (!row_of(s, &row)) {
        *why = g_strdup("per-connection TCP statistics: IPv4 connections only");
        return FALSE;
    }
    TCP_ESTATS_DATA_RW_v0 rw = {.EnableCollection = TRUE};
    ULONG rc =
        SetPerTcpConnectionEStats(&row, TcpConnectionEstatsData, (PUCHAR)&rw, 0, sizeof(rw), 0);
    if (rc != NO_ERROR) {
        g_autofree char *m = g_win32_error_message((gint)rc);
        *why = g_strdup_printf("SetPerTcpConnectionEStats: %s%s", m,
                               rc == ERROR_ACCESS_DENIED ? " (it needs an elevated process)" : "");
        return FALSE;
    }
    return TRUE;
}

gboolean tcpstats_segments(PSock s, guint64 *out, guint64 *in)
{
    MIB_TCPROW row;
    TCP_ESTATS_DATA_ROD_v0 rod;
    memset(&rod, 0, sizeof(rod));
    if (under_wine() || !row_of(s, &row) ||
        GetPerTcpConnectionEStats(&row, TcpConnectionEstatsData, NULL, 0, 0, NULL, 0, 0,
                                  (PUCHAR)&rod, 0, sizeof(rod)) != NO_ERROR)
        return FALSE;
    *out += rod.SegsOut;
    *in += rod.SegsIn;
    return TRUE;
}

const char *tcpstats_source(void)
{
    return "GetPerTcpConnectionEStats";
}
