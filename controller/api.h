/* The controller's HTTP server (libsoup 3): a route table (method, path, who may
 * call, body cap, handler), bearer-token auth, JSON errors as docs/contract.md says, and
 * long-polls held as paused messages until there is something to say. */
#pragma once

#include <gio/gio.h>

#include "config.h"
#include "scheduler.h"
#include "store.h"

typedef struct Api Api;

/* The server threads of one controller ([server] threads): each has its Api on
 * its own main context; the hub they share carries wakes between them (a run
 * offered in one thread answers its agent's long-poll held in another) and sums
 * their counters for /metrics. With PostgreSQL, the first to join listens for
 * the other controllers' wakes for all. Freed after every member's api_free. */
typedef struct ApiHub ApiHub;
ApiHub *api_hub_new(void);
void api_hub_free(ApiHub *hub);

/* The configured certificate and key, read before privileges are dropped (the
 * key is readable by root only). */
GTlsCertificate *api_load_certificate(const ControllerConfig *config, GError **error);
/* On the thread-default main context, with a store connection of its own. hub:
 * NULL for a controller of one thread. cert: for HTTPS (NULL for plain HTTP);
 * clock (may be NULL: the real clock) is handed to the scheduler. */
Api *api_new(const ControllerConfig *config, Store *store, ApiHub *hub, GTlsCertificate *cert,
             GTimeZone *tz, SchedulerClock clock, gpointer clock_data, GError **error);
void api_free(Api *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Api, api_free)

/* n listening sockets on host:port, added to sockets (GSocket): one for each
 * server thread, SO_REUSEPORT when there are several (done before privileges
 * are dropped). */
gboolean api_bind(const char *spec, guint n, GPtrArray *sockets, GError **error);
/* Serves on a bound socket: HTTPS with the configured certificate, or plain HTTP
 * (with a warning off loopback). */
gboolean api_listen_socket(Api *api, GSocket *sock, GError **error);
/* Binds and serves one address (tests: port 0 on loopback); the port in *port. */
gboolean api_listen_address(Api *api, const char *host, guint *port, GError **error);
/* Starts the scheduler (missed schedules, then a tick every second). */
gboolean api_start(Api *api, GError **error);
