/* The controller's server threads ([server] threads): each runs its own main
 * context with its Api (a SoupServer on its own SO_REUSEPORT sockets, a store
 * connection of its own, its long-polls and idle connections), joined by one
 * ApiHub (wakes across threads, /metrics summed). The first thread also runs
 * the scheduler's tick and, on PostgreSQL, listens for the other controllers.
 * One thread is the controller as it always was. */
#pragma once

#include <gio/gio.h>

#include "config.h"

typedef struct Workers Workers;

/* sockets: for each [server] listen address in order, config->threads bound
 * sockets (api_bind); thread t serves the t-th of each. Returns once every
 * thread serves, or NULL with the first failure (the threads started stopped). */
Workers *workers_start(const ControllerConfig *config, GTlsCertificate *cert, GPtrArray *sockets,
                       GError **error);
/* What the store is (store_describe), for the log. */
const char *workers_store(const Workers *w);
/* Stops every thread (each frees its Api and store) and waits for them. */
void workers_stop(Workers *w);
