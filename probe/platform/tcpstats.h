/* What the system counts of one TCP connection (a relay-tcp or relay-tls
 * path's own connection to the edge): Linux's TCP_INFO (segments, any
 * process); Windows' extended TCP statistics (GetPerTcpConnectionEStats:
 * segments, switched on per connection, for an elevated process), else
 * SIO_TCP_INFO (bytes, any process, Windows 10 1703 and later). */
#pragma once

#include "iceprobe/result.h"
#include "sock.h"

/* Starts the count for a new connection: *by says what will count it, and so
 * its unit (conn_counter_bytes). FALSE, with the reason, when nothing can. */
gboolean tcpstats_start(PSock s, ConnCounter *by, char **why);
/* Adds the connection's count so far, as `by` counts it, to *out and *in;
 * FALSE (nothing added) when the system does not tell. */
gboolean tcpstats_count(PSock s, ConnCounter by, guint64 *out, guint64 *in);
