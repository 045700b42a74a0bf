/* Prefixes that must leave a laptop by its physical interface: Microsoft 365's
 * "Optimize" endpoints (Teams and Skype for Business Online media, Exchange and
 * SharePoint Online's heaviest), as Microsoft's endpoints web service publishes
 * them, or the profile's own list ([routes], profiles/README.md). */
#pragma once

#include <gio/gio.h>

#define M365_ERROR (m365_error_quark())
GQuark m365_error_quark(void);
typedef enum {
    M365_ERROR_SIZE,   /* over a cap */
    M365_ERROR_SYNTAX, /* not JSON, or not the endpoints document */
    M365_ERROR_FIELD,  /* an entry or a value malformed */
} M365Error;

#define M365_MAX_BYTES    (1024 * 1024)
#define M365_MAX_ENTRIES  1024
#define M365_MAX_PREFIXES 256 /* Optimize prefixes kept (Microsoft's: about 20) */

typedef struct {
    GInetAddressMask *prefix;
    char *cidr;       /* as written: "52.112.0.0/14" */
    char *udp_ports;  /* "3478-3481" or "3478,3479", NULL: none given */
    char *tcp_ports;
    guint16 udp_port; /* the first UDP port, asked with the route (a policy rule may match it) */
    guint16 tcp_port; /* the first TCP port, when no UDP one */
    char *service;    /* the endpoint set's serviceAreaDisplayName, or "the profile" */
} RoutePrefix;

void route_prefix_free(gpointer p);
/* The prefix as must_bypass takes it: "CIDR [udp:PORTS] [tcp:PORTS]". */
char *route_prefix_spec(const RoutePrefix *r);
/* Its ports for people: "udp 3478-3481, tcp 443"; NULL when none were given. */
char *route_prefix_ports(const RoutePrefix *r);
/* The addresses that speak for a prefix (GInetAddress): its first, middle and
 * last host, as Microsoft's connectivity test samples one. */
GPtrArray *route_prefix_samples(GInetAddressMask *m);
/* "CIDR [udp:PORTS] [tcp:PORTS]", PORTS a ',' list of ports and ranges. */
RoutePrefix *route_prefix_parse(const char *spec, GError **error);
/* The Optimize prefixes of Microsoft's endpoints document (the JSON array the
 * web service at endpoints.office.com answers: id, serviceArea,
 * serviceAreaDisplayName, ips, tcpPorts, udpPorts, category, ...), each with its
 * entry's ports. Sizes capped; an error names the entry and member. */
GPtrArray *m365_endpoints_parse(const char *data, gsize len, GError **error);
