/* TCP counts, Windows side (tcpstats.h). First the connection's extended
 * statistics (TcpConnectionEstatsData: SegsOut, SegsIn), switched on with
 * SetPerTcpConnectionEStats, which needs an elevated process (its
 * documentation: "requires ... administrative privileges"); IPv4 only:
 * mingw-w64 10 does not declare SetPerTcp6ConnectionEStats. Else SIO_TCP_INFO
 * (TCP_INFO_v0: BytesOut, BytesIn), which any process may ask of its own
 * socket, in either family, from Windows 10 1703 on: bytes, not segments.
 * Where neither can be had the counts are reported missing, never as zero. */
#define NTDDI_VERSION 0x0A000003 /* NTDDI_WIN10_RS2 (1703): SIO_TCP_INFO, TCP_INFO_v0 */
#include "tcpstats.h"

#include <iphlpapi.h>
#include <mstcpip.h>
#include <tcpestats.h>

/* Wine (8) exports the EStats calls as stubs that end the process when called. */
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

/* Switches the extended statistics on; NULL, else why they cannot be had. */
static char *estats_start(PSock s)
{
    MIB_TCPROW row;
    if (under_wine())
        return g_strdup("Wine does not implement the extended TCP statistics");
    if (!row_of(s, &row))
        return g_strdup("extended TCP statistics: IPv4 connections only");
    TCP_ESTATS_DATA_RW_v0 rw = {.EnableCollection = TRUE};
    ULONG rc =
        SetPerTcpConnectionEStats(&row, TcpConnectionEstatsData, (PUCHAR)&rw, 0, sizeof(rw), 0);
    if (rc == NO_ERROR)
        return NULL;
    g_autofree char *m = g_win32_error_message((gint)rc);
    return g_strdup_printf("SetPerTcpConnectionEStats: %s%s", m,
                           rc == ERROR_ACCESS_DENIED ? " (it needs an elevated process)" : "");
}

/* The socket's TCP_INFO_v0; FALSE with the error where it is not given. */
static gboolean sio_tcp_info(PSock s, TCP_INFO_v0 *ti, int *err)
{
    DWORD version = 0, got = 0;
    memset(ti, 0, sizeof(*ti));
    if (WSAIoctl(s, SIO_TCP_INFO, &version, sizeof(version), ti, sizeof(*ti), &got, NULL, NULL) ==
            0 &&
        got >= sizeof(*ti))
        return TRUE;
    *err = WSAGetLastError();
    return FALSE;
}

gboolean tcpstats_start(PSock s, ConnCounter *by, char **why)
{
    g_autofree char *no_estats = estats_start(s);
    if (!no_estats) {
        *by = CONN_COUNTER_ESTATS;
        return TRUE;
    }
    TCP_INFO_v0 ti;
    int err = 0;
    if (sio_tcp_info(s, &ti, &err)) {
        *by = CONN_COUNTER_SIO_TCP_INFO;
        return TRUE;
    }
    /* Wine has no words for Winsock's errors: the number is always said. */
    g_autofree char *m = g_win32_error_message(err);
    *why = g_strdup_printf("%s; SIO_TCP_INFO: Winsock error %d%s%s%s", no_estats, err,
                           *m ? ", " : "", m,
                           err == WSAEOPNOTSUPP || err == WSAEINVAL
                               ? " (Windows 10 1703 or later gives it)"
                               : "");
    return FALSE;
}

gboolean tcpstats_count(PSock s, ConnCounter by, guint64 *out, guint64 *in)
{
    if (by == CONN_COUNTER_SIO_TCP_INFO) {
        TCP_INFO_v0 ti;
        int err;
        if (!sio_tcp_info(s, &ti, &err))
            return FALSE;
        *out += ti.BytesOut;
        *in += ti.BytesIn;
        return TRUE;
    }
    MIB_TCPROW row;
    TCP_ESTATS_DATA_ROD_v0 rod;
    memset(&rod, 0, sizeof(rod));
    if (by != CONN_COUNTER_ESTATS || under_wine() || !row_of(s, &row) ||
        GetPerTcpConnectionEStats(&row, TcpConnectionEstatsData, NULL, 0, 0, NULL, 0, 0,
                                  (PUCHAR)&rod, 0, sizeof(rod)) != NO_ERROR)
        return FALSE;
    *out += rod.SegsOut;
    *in += rod.SegsIn;
    return TRUE;
}
