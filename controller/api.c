#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "api-private.h"
#include "credentials.h"
#include "iceprobe/protocol.h"

#define MAX_TOKEN 256

static const ApiRoute routes[] = {
    {"POST", "/api/v1/runs", WHO_ADMIN, PROTOCOL_MAX_BODY, api_admin_runs_create},
    {"GET", "/api/v1/runs", WHO_ADMIN, 0, api_admin_runs_list},
    {"GET", "/api/v1/runs/*", WHO_ADMIN, 0, api_admin_runs_get},
    {"GET", "/api/v1/agents", WHO_ADMIN, 0, api_admin_agents_list},
    {"GET", "/api/v1/analysis", WHO_ADMIN, 0, api_admin_analysis},
    {"POST", "/api/v1/agent/heartbeat", WHO_AGENT, PROTOCOL_MAX_BODY, api_agent_heartbeat},
    {"GET", "/api/v1/agent/orders", WHO_AGENT, 0, api_agent_orders},
    {"POST", "/api/v1/runs/*/signal", WHO_AGENT, PROTOCOL_MAX_BODY, api_agent_signal_post},
    {"GET", "/api/v1/runs/*/signal", WHO_AGENT, 0, api_agent_signal_get},
    {"POST", "/api/v1/runs/*/report", WHO_AGENT, PROTOCOL_MAX_REPORT, api_agent_report},
    {"POST", "/api/v1/agent/runs", WHO_AGENT, PROTOCOL_MAX_BODY, api_agent_runs_create},
    {"GET", "/api/v1/agent/runs/*", WHO_AGENT, 0, api_agent_runs_get},
    {"GET", "/metrics", WHO_METRICS, 0, export_metrics},
    {"GET", "/", WHO_STATUS, 0, status_page},
    {"GET", "/runs/*.json", WHO_STATUS, 0, status_run_json},
    {"GET", "/runs/*", WHO_STATUS, 0, status_run_page},
};

/* ---- replies ---- */

void api_reply_text(ApiRequest *req, guint status, const char *content_type, char *text)
{
    SoupServerMessage *msg = req->msg;
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_server_message_set_status(msg, status, NULL);
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    /* 503 is the store out of reach (or a moment's overload): come back soon. */
    if (status == 503)
        soup_message_headers_replace(h, "Retry-After", "5");
    /* Without api_conn.c's watch (libsoup before 3.2, where stealing a connection
     * leaves it in the server's list), an idle connection its client closes would
     * leak: the server closes each connection after its answer. */
    if (!req->api->conns)
        soup_message_headers_replace(h, "Connection", "close");
    soup_server_message_set_response(msg, content_type, SOUP_MEMORY_TAKE, text, strlen(text));
    if (status >= 500)
        API_COUNTER_ADD(req->api->errors_5xx, 1);
}

void api_reply_json(ApiRequest *req, guint status, JsonNode *node)
{
    char *text = json_to_string(node, FALSE);
    json_node_unref(node);
    api_reply_text(req, status, "application/json", text);
}

/* Every error the handlers pass on, by (domain, code): its HTTP status and the
 * API's error code (docs/contract.md, "Controller API"). Anything else is the
 * store failing: 503. */
static const struct {
    GQuark (*domain)(void);
    gint code;
    guint status;
    const char *name;
} error_statuses[] = {
    {jsonin_error_quark, JSONIN_ERROR_SIZE, 413, "too_large"},
    {jsonin_error_quark, JSONIN_ERROR_SYNTAX, 400, "bad_request"},
    {jsonin_error_quark, JSONIN_ERROR_FIELD, 400, "bad_request"},
    {scheduler_error_quark, SCHEDULER_ERROR_FIELD, 400, "bad_request"},
    {scheduler_error_quark, SCHEDULER_ERROR_FORBIDDEN, 403, "forbidden"},
    {scheduler_error_quark, SCHEDULER_ERROR_NOT_FOUND, 404, "not_found"},
    {scheduler_error_quark, SCHEDULER_ERROR_CONFLICT, 409, "run_ended"},
    {store_error_quark, STORE_ERROR_NOT_FOUND, 404, "not_found"},
    {store_error_quark, STORE_ERROR_STATE, 409, "run_ended"},
    {store_error_quark, STORE_ERROR_FULL, 409, "inbox_full"},
};

void api_reply_gerror(ApiRequest *req, const GError *e)
{
    for (gsize i = 0; i < G_N_ELEMENTS(error_statuses); i++) {
        if (e->domain == error_statuses[i].domain() && e->code == error_statuses[i].code) {
            api_reply_error(req, error_statuses[i].status, error_statuses[i].name, "%s",
                            e->message);
            return;
        }
    }
    api_reply_error(req, 503, "store", "%s", e->message);
}

void api_reply_error(ApiRequest *req, guint status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, code);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    json_builder_end_object(b);
    if (status >= 500)
        g_warning("%s %s: %u %s", soup_server_message_get_method(req->msg),
                  g_uri_get_path(soup_server_message_get_uri(req->msg)), status, message);
    api_reply_json(req, status, json_builder_get_root(b));
}

const char *api_query(ApiRequest *req, const char *name)
{
    return req->query ? g_hash_table_lookup(req->query, name) : NULL;
}

/* ---- routing ---- */

/* Whether path matches pattern; the '*' segments go to params (to be freed). */
static gboolean route_match(const char *pattern, const char *path, char *params[2])
{
    g_auto(GStrv) ps = g_strsplit(pattern, "/", -1);
    g_auto(GStrv) xs = g_strsplit(path, "/", -1);
    if (g_strv_length(ps) != g_strv_length(xs))
        return FALSE;
    int n = 0;
    for (int i = 0; ps[i]; i++) {
        if (strcmp(ps[i], "*") == 0 || strcmp(ps[i], "*.json") == 0) {
            gboolean json = ps[i][1] != '\0';
            gsize len = strlen(xs[i]);
            if (json && !(len > 5 && g_str_has_suffix(xs[i], ".json")))
                goto nomatch;
            if (len == 0 || len > 128 || n >= 2)
                goto nomatch;
            params[n++] = g_strndup(xs[i], json ? len - 5 : len);
        } else if (strcmp(ps[i], xs[i]) != 0) {
            goto nomatch;
        }
    }
    return TRUE;
nomatch:
    for (int i = 0; i < n; i++)
        g_clear_pointer(&params[i], g_free);
    return FALSE;
}

static const ApiRoute *find_route(const char *method, const char *path, char *params[2],
                                  GString *allowed)
{
    for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
        char *p[2] = {NULL, NULL};
        if (!route_match(routes[i].pattern, path, p))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            params[0] = p[0];
            params[1] = p[1];
            return &routes[i];
        }
        g_free(p[0]);
        g_free(p[1]);
        if (allowed && !strstr(allowed->str, routes[i].method))
            g_string_append_printf(allowed, "%s%s", allowed->len ? ", " : "", routes[i].method);
    }
    return NULL;
}

/* ---- auth ---- */

static const char *bearer(SoupServerMessage *msg)
{
    const char *h =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    if (!h || g_ascii_strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    return *t && strlen(t) <= MAX_TOKEN ? t : NULL;
}

static gboolean route_is_public(const Api *api, ApiWho who)
{
    return (who == WHO_METRICS && api->config->metrics_public) ||
           (who == WHO_STATUS && api->config->status_public);
}

/* Who the caller is; FALSE (and the reply set) when it may not call this route. */
static gboolean authorize(ApiRequest *req, const ApiRoute *route)
{
    Api *api = req->api;
    if (route_is_public(api, route->who))
        return TRUE;
    const char *token = bearer(req->msg);
    if (!token) {
        soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                     "WWW-Authenticate", "Bearer realm=\"iceprobe\"");
        api_reply_error(req, 401, "unauthorized",
                        "this needs a token: Authorization: Bearer TOKEN");
        return FALSE;
    }
    gboolean admin = credentials_token_equal(token, api->config->admin_token);
    if (!admin) {
        g_autofree char *hash = credentials_token_hash(token);
        g_autoptr(GError) e = NULL;
        req->agent = store_agent_by_token_hash(api->store, hash, &e);
        /* A store that cannot answer says nothing about the token: 503, and the
         * agent comes back, where a 401 would have it doubt its token. */
        if (!req->agent && !g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND)) {
            api_reply_error(req, 503, "store", "%s", e ? e->message : "the store failed");
            return FALSE;
        }
    }
    if (!admin && !req->agent) {
        soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                     "WWW-Authenticate",
                                     "Bearer realm=\"iceprobe\", error=\"invalid_token\"");
        api_reply_error(req, 401, "unauthorized", "the token is not known (revoked, or mistyped)");
        return FALSE;
    }
    gboolean wants_agent = route->who == WHO_AGENT;
    if (wants_agent != !admin) {
        api_reply_error(req, 403, "forbidden", "%s",
                        wants_agent ? "this is for agents; the admin token cannot act as one"
                                    : "an agent's token cannot call this");
        return FALSE;
    }
    return TRUE;
}

/* Before the body is read: a body over the route's cap is refused unread. */
static void early_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer data)
{
    const char *method = soup_server_message_get_method(msg);
    char *params[2] = {NULL, NULL};
    const ApiRoute *route = find_route(method, path, params, NULL);
    g_free(params[0]);
    g_free(params[1]);
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    goffset len = soup_message_headers_get_content_length(h);
    gsize cap = route ? route->max_body : 0;
    ApiRequest req = {.api = data, .msg = msg};
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CHUNKED && cap) {
        api_reply_error(&req, 411, "length_required", "send the body with a Content-Length");
    } else if (len > 0 && (gsize)len > MAX(cap, 1024)) {
        api_reply_error(&req, 413, "too_large",
                        "the body of %" G_GOFFSET_FORMAT
                        " bytes is over this request's cap of %zu bytes",
                        len, MAX(cap, 1024));
    }
}

static void handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer data)
{
    Api *api = data;
    API_COUNTER_ADD(api->requests, 1);
    if (soup_server_message_get_status(msg) != 0)
        return; /* refused by the early handler */
    const char *method = soup_server_message_get_method(msg);
    ApiRequest req = {.api = api, .msg = msg, .query = query};
    char *params[2] = {NULL, NULL};
    g_autoptr(GString) allowed = g_string_new(NULL);
    const ApiRoute *route = find_route(method, path, params, allowed);
    if (!route) {
        if (allowed->len) {
            soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                         allowed->str);
            api_reply_error(&req, 405, "method_not_allowed", "%s %s: allowed: %s", method, path,
                            allowed->str);
        } else {
            api_reply_error(&req, 404, "not_found", "no such resource: %s", path);
        }
        return;
    }
    req.params[0] = params[0];
    req.params[1] = params[1];
    if (authorize(&req, route)) {
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        req.body = body && body->data ? body->data : "";
        req.body_len = body ? (gsize)body->length : 0;
        gsize cap = MAX(route->max_body, 1024);
        if (req.body_len > cap)
            api_reply_error(&req, 413, "too_large",
                            "the body is over this request's cap of %zu bytes", cap);
        else
            route->handler(&req);
    }
    store_agent_free(req.agent);
    g_free(params[0]);
    g_free(params[1]);
}

/* ---- last seen ---- */

#define SEEN_FLUSH_S 2

static gboolean on_seen_flush(gpointer data)
{
    Api *api = data;
    g_autoptr(GError) e = NULL;
    if (!store_agents_seen(api->store, api->seen, &e))
        g_warning("agents' last-seen times: %s", e->message);
    g_hash_table_remove_all(api->seen);
    return G_SOURCE_CONTINUE;
}

void api_agent_seen(Api *api, const char *agent, gint64 now)
{
    gint64 *when = g_new(gint64, 1);
    *when = now;
    g_hash_table_replace(api->seen, g_strdup(agent), when);
    if (!api->seen_flush) {
        api->seen_flush = g_timeout_source_new_seconds(SEEN_FLUSH_S);
        g_source_set_callback(api->seen_flush, on_seen_flush, api, NULL);
        g_source_attach(api->seen_flush, g_main_context_get_thread_default());
    }
}

/* ---- wiring ---- */

static void on_agent_work(const char *agent, gpointer data)
{
    g_autofree char *key = api_orders_key(agent);
    api_announce(data, key);
}

static void on_signal(const char *run_id, int side, gpointer data)
{
    g_autofree char *key = api_signal_key(run_id, side);
    api_announce(data, key);
}

static gint64 real_clock(gpointer data)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

GTlsCertificate *api_load_certificate(const ControllerConfig *config, GError **error)
{
    GTlsCertificate *cert =
        g_tls_certificate_new_from_files(config->tls_cert_file, config->tls_key_file, error);
    if (!cert)
        g_prefix_error(error, "%s: [server] tls_cert_file/tls_key_file: ", config->path);
    return cert;
}

Api *api_new(const ControllerConfig *config, Store *store, ApiHub *hub, GTlsCertificate *cert,
             GTimeZone *tz, SchedulerClock clock, gpointer clock_data, GError **error)
{
    g_return_val_if_fail(config && store, NULL);
    Api *api = g_new0(Api, 1);
    api->config = config;
    api->store = store;
    api->waiters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, api_waiter_queue_free);
    api->reading = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    api->expiring = g_queue_new();
    api->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    api->board = signal_board_new(store, on_signal, api);
    gboolean first = TRUE;
    if (hub && !api_hub_join(hub, api, &first, error)) {
        api_free(api);
        return NULL;
    }
    api->hub = hub;
    /* One listener per controller: its first thread's, which wakes the others. */
    if (store_is_shared(store) && first) {
        api->listener = store_listen(store, api_on_notify, api, error);
        if (!api->listener) {
            api_free(api);
            return NULL;
        }
    }
    SchedulerHooks hooks = {on_agent_work, NULL, api};
    api->scheduler = scheduler_new(config, store, api->board, tz, clock ? clock : real_clock,
                                   clock_data, &hooks);
    if (hub)
        scheduler_share(api->scheduler, api_hub_scheduler_shared(hub));
    api->started = g_get_real_time() / G_USEC_PER_SEC;
    api->server = soup_server_new("server-header", "iceprobe-controller", NULL);
    if (config_uses_tls(config)) {
        if (!cert) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "%s: HTTPS is configured but no certificate was loaded", config->path);
            api_free(api);
            return NULL;
        }
        g_object_set(api->server, "tls-certificate", cert, NULL);
    }
    if (soup_check_version(3, 2, 0) &&
        !(api->conns = api_conns_new(api->server, config_uses_tls(config), error))) {
        api_free(api);
        return NULL;
    }
    soup_server_add_early_handler(api->server, NULL, early_handler, api, NULL);
    soup_server_add_handler(api->server, NULL, handler, api, NULL);
    return api;
}

void api_free(Api *api)
{
    if (!api)
        return;
    if (api->hub)
        api_hub_leave(api->hub, api);
    api_conns_free(api->conns);
    if (api->server) {
        soup_server_disconnect(api->server);
        g_object_unref(api->server);
    }
    store_listener_free(api->listener);
    g_hash_table_unref(api->waiters);
    g_hash_table_unref(api->reading);
    g_queue_free(api->expiring);
    if (api->seen_flush) {
        g_source_destroy(api->seen_flush);
        g_source_unref(api->seen_flush);
    }
    on_seen_flush(api); /* what was seen is not lost at a clean stop */
    g_hash_table_unref(api->seen);
    if (api->sweeper) {
        g_source_destroy(api->sweeper);
        g_source_unref(api->sweeper);
    }
    scheduler_free(api->scheduler);
    signal_board_free(api->board);
    g_free(api);
}

static GSocketAddress *parse_listen(const char *spec, GError **error)
{
    g_autoptr(GSocketConnectable) c = g_network_address_parse(spec, 0, error);
    if (!c)
        return NULL;
    const char *host = g_network_address_get_hostname(G_NETWORK_ADDRESS(c));
    guint16 port = g_network_address_get_port(G_NETWORK_ADDRESS(c));
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(host);
    if (!ia) {
        g_autoptr(GResolver) r = g_resolver_get_default();
        GList *l = g_resolver_lookup_by_name(r, host, NULL, error);
        if (!l)
            return NULL;
        ia = g_object_ref(l->data);
        g_resolver_free_addresses(l);
    }
    return g_inet_socket_address_new(ia, port);
}

static guint port_of(GSocketAddress *addr)
{
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(addr));
}

/* A bind's failure; an address in use said so plainly. */
static void bind_error(GError **error, GError *e, GSocketAddress *addr)
{
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                    "port %u is in use (another controller, or another program, listens on it)",
                    port_of(addr));
        g_error_free(e);
    } else {
        g_propagate_error(error, e);
    }
}

static GSocket *bind_one(GSocketAddress *addr, gboolean reuse_port, GError **error)
{
    g_autoptr(GSocket) sock = g_socket_new(g_socket_address_get_family(addr), G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, error);
    if (!sock)
        return NULL;
    /* GLib's default backlog is 10: a fleet of agents reconnecting at once (a
     * controller restart) would be refused. The kernel caps it at somaxconn. */
    g_socket_set_listen_backlog(sock, 4096);
    GError *e = NULL;
    if (!reuse_port) {
        if (!g_socket_bind(sock, addr, TRUE, &e)) {
            bind_error(error, e, addr);
            return NULL;
        }
    } else {
        /* Several server threads: a socket each on one address, the kernel
         * spreading the connections (SO_REUSEPORT). g_socket_bind() turns
         * SO_REUSEPORT off for TCP, so the socket is bound here. */
        struct sockaddr_storage native;
        gsize len = g_socket_address_get_native_size(addr);
        if (!g_socket_set_option(sock, SOL_SOCKET, SO_REUSEADDR, 1, error) ||
            !g_socket_set_option(sock, SOL_SOCKET, SO_REUSEPORT, 1, error) ||
            !g_socket_address_to_native(addr, &native, sizeof native, error))
            return NULL;
        if (bind(g_socket_get_fd(sock), (struct sockaddr *)&native, (socklen_t)len) != 0) {
            int err = errno;
            g_set_error(&e, G_IO_ERROR, g_io_error_from_errno(err), "bind: %s", g_strerror(err));
            bind_error(error, e, addr);
            return NULL;
        }
    }
    if (!g_socket_listen(sock, error))
        return NULL;
    return g_steal_pointer(&sock);
}

/* SO_REUSEPORT would let a second controller (of the same user) bind the
 * port its first listens on, and both would serve, splitting the agents. So a
 * socket without it binds the address first, alone: a port taken is refused.
 * The address with the port that socket was given (port 0: one free now). */
static GSocketAddress *probe_port(GSocketAddress *addr, GError **error)
{
    g_autoptr(GSocket) probe = g_socket_new(g_socket_address_get_family(addr), G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, error);
    GError *e = NULL;
    if (!probe)
        return NULL;
    if (!g_socket_bind(probe, addr, TRUE, &e)) {
        bind_error(error, e, addr);
        return NULL;
    }
    return g_socket_get_local_address(probe, error);
}

gboolean api_bind(const char *spec, guint n, GPtrArray *sockets, GError **error)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GSocketAddress) addr = parse_listen(spec, &e);
    if (addr && n > 1) {
        GSocketAddress *probed = probe_port(addr, &e);
        g_clear_object(&addr);
        addr = probed;
    }
    for (guint i = 0; addr && i < n; i++) {
        GSocket *sock = bind_one(addr, n > 1, &e);
        if (!sock)
            break;
        g_ptr_array_add(sockets, sock);
        if (i == 0 && port_of(addr) == 0) {
            /* Port 0: the others on the port the first was given. */
            g_clear_object(&addr);
            addr = g_socket_get_local_address(sock, &e);
        }
    }
    if (e) {
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "listen '%s': ", spec);
        return FALSE;
    }
    return TRUE;
}

gboolean api_listen_socket(Api *api, GSocket *sock, GError **error)
{
    if (!config_uses_tls(api->config)) {
        g_autoptr(GSocketAddress) a = g_socket_get_local_address(sock, NULL);
        GInetAddress *ia = a ? g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)) : NULL;
        if (!ia || !g_inet_address_get_is_loopback(ia))
            g_warning("serving plain HTTP off loopback (allow_plain_http): tokens and TURN "
                      "credentials cross the network unencrypted; give [server] tls_cert_file "
                      "and tls_key_file");
    }
    SoupServerListenOptions opts = config_uses_tls(api->config) ? SOUP_SERVER_LISTEN_HTTPS : 0;
    return soup_server_listen_socket(api->server, sock, opts, error);
}

gboolean api_listen_address(Api *api, const char *spec, guint *port, GError **error)
{
    g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func(g_object_unref);
    if (!api_bind(spec, 1, one, error) || !api_listen_socket(api, one->pdata[0], error))
        return FALSE;
    if (port) {
        g_autoptr(GSocketAddress) a = g_socket_get_local_address(one->pdata[0], error);
        if (!a)
            return FALSE;
        *port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a));
    }
    return TRUE;
}

gboolean api_start(Api *api, GError **error)
{
    return scheduler_start(api->scheduler, error);
}
