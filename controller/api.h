/* The controller's HTTP server (libsoup 3): a route table (method, path, who may
 * call, body cap, handler), bearer-token auth, JSON errors as docs/contract.md says, and
 * long-polls held as paused messages until there is something to say. */
#pragma once

#include <gio/gio.h>

#include "config.h"
#include "scheduler.h"
#include "store.h"

typedef struct Api Api;

/* The configured certificate and key, read before privileges are dropped (the
 * key is readable by root only). */
GTlsCertificate *api_load_certificate(const ControllerConfig *config, GError **error);
/* cert: for HTTPS (NULL for plain HTTP); clock (may be NULL: the real clock) is
 * handed to the scheduler. */
Api *api_new(const ControllerConfig *config, Store *store, GTlsCertificate *cert, GTimeZone *tz,
             SchedulerClock clock, gpointer clock_data, GError **error);
void api_free(Api *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Api, api_free)

/* A listening socket on host:port (done before privileges are dropped). */
GSocket *api_bind(const char *spec, GError **error);
/* Serves on a bound socket: HTTPS with the configured certificate, or plain HTTP
 * (with a warning off loopback). */
gboolean api_listen_socket(Api *api, GSocket *sock, GError **error);
/* Binds and serves one address (tests: port 0 on loopback); the port in *port. */
gboolean api_listen_address(Api *api, const char *host, guint *port, GError **error);
/* Starts the scheduler (missed schedules, then a tick every second). */
gboolean api_start(Api *api, GError **error);
