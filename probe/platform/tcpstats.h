/* TCP segments sent and received on one connection, as the system counts them
 * (a relay-tcp or relay-tls path's own connection to the edge): Linux's
 * TCP_INFO; Windows' extended TCP statistics (GetPerTcpConnectionEStats), which
 * must be switched on for the connection first and need an elevated process. */
#pragma once

#include "sock.h"

/* Starts the count for a new connection where the system needs that
 * (Windows); FALSE, with the reason, when it cannot be had for it. */
gboolean tcpstats_start(PSock s, char **why);
/* Adds the connection's segments so far to *out and *in; FALSE (nothing
 * added) when the system does not tell. */
gboolean tcpstats_segments(PSock s, guint64 *out, guint64 *in);
/* Where the counts come from, for the result ("TCP_INFO", ...). */
const char *tcpstats_source(void);
