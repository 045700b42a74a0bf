/* bench/controller_load: N agents, as real HTTP clients (libcurl multi, one
 * connection each at a time, kept alive as an agent's libcurl keeps it),
 * long-polling a real iceprobe-controller for orders; then rounds of paired runs
 * in which every agent takes its order and uploads a report. Prints one table
 * row: what the controller held, its RSS, how fast it created runs and took
 * reports, the latencies seen, and the TLS handshakes made.
 *
 *   controller_load --controller BIN --config FILE [--config FILE...] --agents N
 *                   [--rounds R] [--concurrency C] [--label TEXT] [--ca-file PEM]
 *                   [--controller-cpus LIST]
 *
 * Several --config: as many controllers sharing one store (PostgreSQL); agent i
 * calls controller i % K, and runs are created on each in turn, so that a run's
 * two agents call different controllers. Controllers on one address (port,
 * SO_REUSEPORT) are started alike; the kernel spreads the agents.
 *
 * The agents are registered in the store before the controllers start (set-up,
 * not measured). The controllers run as children on 127.0.0.1: HTTPS (TLS 1.3,
 * verified against --ca-file) when their configuration has a certificate, as
 * agents talk to them, else plain HTTP. Handshakes are counted on both sides:
 * the connections libcurl made for the agents, and the controllers'
 * iceprobe_controller_connections_total (the admin's connection included).
 * libcurl's socket interface on epoll: a pass costs what is active, not what is
 * held. Everything is bounded: N, R, and a time limit per phase. */
#include <curl/curl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "credentials.h"
#include "store.h"

#define PHASE_LIMIT_S 120

typedef enum { IDLE, POLLING, HAVE_ORDER, REPORTING } AgentState;

typedef struct Bench Bench;

typedef struct {
    Bench *b;
    int index;
    const char *base; /* the controller it calls */
    char *name;
    char *auth; /* "Authorization: Bearer ..." */
    struct curl_slist *headers;
    CURL *easy;
    AgentState state;
    GString *body;
    char *run_id;
    char side;
    char *report;
    gint64 started_us;
} Agent;

static int errors_shown;
#define SHOW_ERROR(...)                                                                            \
    do {                                                                                           \
        if (errors_shown++ < 5)                                                                    \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

#define MAX_CONTROLLERS 4

struct Bench {
    char *bases[MAX_CONTROLLERS]; /* http(s)://127.0.0.1:PORT */
    pid_t pids[MAX_CONTROLLERS];
    int controllers;
    const char *ca_file;
    CURL *admin; /* the admin's and /metrics' requests, on one kept-alive connection */
    CURLM *multi;
    int epfd;
    long timer_ms; /* libcurl's: -1 none */
    long agent_connects;
    Agent *agents;
    int n;
    int in_flight_reports;
    int concurrency;
    GArray *report_ms;
    GArray *order_ms;
    gint64 first_report_us, last_report_us;
    int reports_done, reports_failed;
    GHashTable *run_created_us; /* run id -> creation time */
};

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    g_string_append_len(user, data, (gssize)(size * n));
    return size * n;
}

static gint cmp_double(gconstpointer x, gconstpointer y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double pct(GArray *a, double p)
{
    if (a->len == 0)
        return 0;
    g_array_sort(a, cmp_double);
    gsize i = (gsize)(p / 100.0 * (a->len - 1) + 0.5);
    return g_array_index(a, double, MIN(i, a->len - 1));
}

/* As an agent's libcurl: TLS 1.3, the controller's certificate verified. */
static void tls_options(CURL *e, const char *ca_file)
{
    if (!ca_file)
        return;
    curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
}

static void start_poll(Agent *a)
{
    g_autofree char *url = g_strdup_printf("%s/api/v1/agent/orders?wait=300", a->base);
    g_string_truncate(a->body, 0);
    curl_easy_setopt(a->easy, CURLOPT_URL, url);
    curl_easy_setopt(a->easy, CURLOPT_HTTPGET, 1L);
    a->state = POLLING;
    curl_multi_add_handle(a->b->multi, a->easy);
}

static void start_report(Agent *a)
{
    g_autofree char *url = g_strdup_printf("%s/api/v1/runs/%s/report", a->base, a->run_id);
    g_string_truncate(a->body, 0);
    curl_easy_setopt(a->easy, CURLOPT_URL, url);
    curl_easy_setopt(a->easy, CURLOPT_POSTFIELDS, a->report);
    curl_easy_setopt(a->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(a->report));
    a->state = REPORTING;
    a->started_us = g_get_monotonic_time();
    a->b->in_flight_reports++;
    curl_multi_add_handle(a->b->multi, a->easy);
}

/* A report like an agent's: three paths of a paired run, this side's view. */
static char *make_report(const char *run_id, char side)
{
    g_autoptr(RunResult) r = run_result_new("bench");
    g_free(r->run_id);
    r->run_id = g_strdup(run_id);
    static const char *const paths[] = {"natural", "relay", "tunnel-only"};
    for (int i = 0; i < 3; i++) {
        PathRecord *p = run_result_add_path(r, paths[i]);
        if (i == 2)
            continue;
        p->have_pair = TRUE;
        p->local.type = g_strdup(i ? "relay" : "host");
        p->local.transport = g_strdup("udp");
        p->local.address = g_strdup(side == 'a' ? "198.51.100.2:50000" : "10.1.0.10:50000");
        p->local.base_address = g_strdup("10.254.1.10:50000");
        p->local.interface = g_strdup("eth0");
        p->local.interface_class = g_strdup("physical");
        p->local.egress_interface = g_strdup("eth0");
        p->local.egress_class = g_strdup("physical");
        p->remote.type = g_strdup("relay");
        p->remote.transport = g_strdup("udp");
        p->remote.address = g_strdup("203.0.113.10:49200");
        p->have_counters = TRUE;
        p->tunnel_interface = g_strdup("gpd0");
        p->have_metrics = TRUE;
        MetricsSummary m = {.packets_sent = 500,
                            .packets_received = 499,
                            .loss_ratio = 0.002,
                            .jitter_ms = 0.4,
                            .rtt_samples = 490,
                            .rtt_min_ms = 0.5,
                            .rtt_median_ms = 0.7,
                            .rtt_p95_ms = 1.1,
                            .rtt_max_ms = 3,
                            .mos = 4.4};
        p->metrics = p->out = p->in = m;
    }
    run_result_conclude(r);
    return run_result_to_string(r, FALSE);
}

static void handle_done(Bench *b, CURLMsg *msg)
{
    Agent *a = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
    curl_multi_remove_handle(b->multi, msg->easy_handle);
    long code = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
    gint64 now = g_get_monotonic_time();
    if (a->state == POLLING) {
        g_autoptr(JsonNode) n = json_from_string(a->body->str, NULL);
        JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonArray *orders = o && json_object_has_member(o, "orders")
                                ? json_object_get_array_member(o, "orders")
                                : NULL;
        if (msg->data.result != CURLE_OK || code != 200 || !orders) {
            SHOW_ERROR("agent %s: orders: curl %d, HTTP %ld: %.200s\n", a->name, msg->data.result,
                       code, a->body->str);
            a->state = IDLE;
            return;
        }
        if (json_array_get_length(orders) == 0) {
            start_poll(a);
            return;
        }
        JsonObject *order = json_array_get_object_element(orders, 0);
        g_free(a->run_id);
        a->run_id = g_strdup(json_object_get_string_member(order, "run_id"));
        a->side = json_object_get_string_member(order, "side")[0];
        gpointer created = g_hash_table_lookup(b->run_created_us, a->run_id);
        if (created) {
            double ms = (double)(now - *(gint64 *)created) / 1000.0;
            g_array_append_val(b->order_ms, ms);
        }
        g_free(a->report);
        a->report = make_report(a->run_id, a->side);
        a->state = HAVE_ORDER;
        return;
    }
    if (a->state == REPORTING) {
        b->in_flight_reports--;
        double ms = (double)(now - a->started_us) / 1000.0;
        g_array_append_val(b->report_ms, ms);
        b->last_report_us = now;
        if (msg->data.result == CURLE_OK && code == 200) {
            b->reports_done++;
        } else {
            b->reports_failed++;
            SHOW_ERROR("agent %s: report: curl %d, HTTP %ld: %.200s\n", a->name, msg->data.result,
                       code, a->body->str);
        }
        start_poll(a);
    }
}

/* A new connection of an agent's (over HTTPS, one TLS handshake). */
static int on_sockopt(void *data, curl_socket_t fd, curlsocktype purpose)
{
    if (purpose == CURLSOCKTYPE_IPCXN)
        ((Bench *)data)->agent_connects++;
    return CURL_SOCKOPT_OK;
}

/* libcurl's sockets in the epoll set, each with what libcurl waits for. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *data, void *socketp)
{
    Bench *b = data;
    struct epoll_event ev = {.data.fd = fd};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *data)
{
    ((Bench *)data)->timer_ms = timeout_ms;
    return 0;
}

/* One pass: what is ready (at most timeout_ms of waiting), then what finished. */
static void pump(Bench *b, int timeout_ms)
{
    int running = 0;
    if (b->timer_ms == 0) {
        b->timer_ms = -1;
        curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    int wait = b->timer_ms < 0 ? timeout_ms : (int)MIN(b->timer_ms, (long)timeout_ms);
    gint64 t0 = g_get_monotonic_time();
    struct epoll_event ev[256];
    int n = epoll_wait(b->epfd, ev, G_N_ELEMENTS(ev), wait);
    for (int i = 0; i < n; i++) {
        int flags = (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? CURL_CSELECT_IN : 0) |
                    (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (ev[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(b->multi, ev[i].data.fd, flags, &running);
    }
    if (b->timer_ms >= 0) {
        b->timer_ms = MAX(0, b->timer_ms - (g_get_monotonic_time() - t0) / 1000);
        if (b->timer_ms == 0) {
            b->timer_ms = -1;
            curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(b->multi, &left))) {
        if (m->msg == CURLMSG_DONE)
            handle_done(b, m);
    }
}

/* A blocking request on the admin's handle (admin calls, /metrics). */
static char *request(Bench *b, const char *url, const char *auth, const char *post, long *code,
                     double *ms)
{
    CURL *e = b->admin;
    curl_easy_reset(e);
    GString *body = g_string_new(NULL);
    struct curl_slist *h = NULL;
    if (auth)
        h = curl_slist_append(h, auth);
    if (post)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    tls_options(e, b->ca_file);
    if (post)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    gint64 t0 = g_get_monotonic_time();
    CURLcode rc = curl_easy_perform(e);
    if (ms)
        *ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    *code = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(h);
    return g_string_free(body, FALSE);
}

static double metric(Bench *b, const char *base, const char *name)
{
    g_autofree char *url = g_strdup_printf("%s/metrics", base);
    long code;
    g_autofree char *text = request(b, url, NULL, NULL, &code, NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, name) && (*l)[strlen(name)] == ' ')
            return g_ascii_strtod(*l + strlen(name) + 1, NULL);
    }
    return -1;
}

static long rss_kib(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return -1;
    const char *p = strstr(text, "VmRSS:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

static double cpu_s(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return -1;
    const char *p = strrchr(text, ')');
    g_auto(GStrv) f = g_strsplit(p + 2, " ", 20);
    return (g_ascii_strtod(f[11], NULL) + g_ascii_strtod(f[12], NULL)) / sysconf(_SC_CLK_TCK);
}

/* Summed over the controllers. */
static double metric_all(Bench *b, const char *name)
{
    double sum = 0;
    for (int k = 0; k < b->controllers; k++)
        sum += metric(b, b->bases[k], name);
    return sum;
}

static long rss_max(Bench *b)
{
    long m = 0;
    for (int k = 0; k < b->controllers; k++)
        m = MAX(m, rss_kib(b->pids[k]));
    return m;
}

static double cpu_all(Bench *b)
{
    double sum = 0;
    for (int k = 0; k < b->controllers; k++)
        sum += cpu_s(b->pids[k]);
    return sum;
}

static void stop_all(Bench *b)
{
    for (int k = 0; k < b->controllers; k++) {
        if (b->pids[k] > 0) {
            kill(b->pids[k], SIGTERM);
            int status;
            waitpid(b->pids[k], &status, 0);
        }
    }
}

/* Set-up: the agents, straight into the store, and their libcurl handles. */
static gboolean add_agents(Bench *b, const ControllerConfig *config, GError **e)
{
    g_autoptr(Store) st = store_open(config->store_url ? config->store_url : config->store_path, e);
    if (!st)
        return FALSE;
    b->agents = g_new0(Agent, b->n);
    for (int i = 0; i < b->n; i++) {
        Agent *a = &b->agents[i];
        a->b = b;
        a->index = i;
        a->base = b->bases[i % b->controllers];
        a->name = g_strdup_printf("bench-%05d", i);
        g_autofree char *token = credentials_new_token();
        g_autofree char *hash = credentials_token_hash(token);
        a->auth = g_strconcat("Authorization: Bearer ", token, NULL);
        const char *groups[] = {i % 2 ? "bench-b" : "bench-a", NULL};
        if (!store_agent_add(st, a->name, groups, hash, 1, e))
            return FALSE;
        a->body = g_string_new(NULL);
        a->easy = curl_easy_init();
        a->headers = curl_slist_append(NULL, a->auth);
        a->headers = curl_slist_append(a->headers, "Content-Type: application/json");
        curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->headers);
        curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, a->body);
        curl_easy_setopt(a->easy, CURLOPT_PRIVATE, a);
        curl_easy_setopt(a->easy, CURLOPT_TIMEOUT, 330L);
        curl_easy_setopt(a->easy, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        curl_easy_setopt(a->easy, CURLOPT_SOCKOPTDATA, b);
        tls_options(a->easy, b->ca_file);
    }
    return TRUE;
}

/* The controllers, as children (on the given CPUs), each answering /metrics. */
static gboolean start_controllers(Bench *b, const char *bin, char **config_paths,
                                  const char *cpus)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    g_auto(GStrv) cpu = g_strsplit(cpus ? cpus : "", ",", -1);
    for (char **c = cpu; *c && **c; c++)
        CPU_SET(atoi(*c), &set);
    for (int k = 0; k < b->controllers; k++) {
        g_autofree char *log_path = g_strdup_printf("%s.log", config_paths[k]);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* the load killed: its controllers go too */
            if (CPU_COUNT(&set) && sched_setaffinity(0, sizeof set, &set) != 0)
                _exit(126);
            FILE *log = freopen(log_path, "w", stderr);
            (void)log;
            dup2(2, 1);
            execl(bin, bin, "serve", "--config", config_paths[k], (char *)NULL);
            _exit(127);
        }
        b->pids[k] = pid;
        long code = 0;
        for (int i = 0; i < 100 && code != 200; i++) {
            g_usleep(100000);
            g_autofree char *url = g_strdup_printf("%s/metrics", b->bases[k]);
            g_free(request(b, url, NULL, NULL, &code, NULL));
        }
        if (code != 200) {
            fprintf(stderr, "controller_load: controller %d did not start (see %s)\n", k, log_path);
            return FALSE;
        }
    }
    return TRUE;
}

/* Pumps until every agent is held in its long-poll (or the phase's time is up). */
static double await_held(Bench *b)
{
    gint64 t0 = g_get_monotonic_time();
    double held;
    while ((held = metric_all(b, "iceprobe_controller_long_polls")) < b->n &&
           g_get_monotonic_time() - t0 < PHASE_LIMIT_S * G_USEC_PER_SEC) {
        for (int k = 0; k < 20; k++)
            pump(b, 5);
    }
    return held;
}

/* n/2 runs, each pairing an a-agent with a b-agent (with several controllers,
 * the two call different ones), created on each in turn; runs/s. */
static double create_runs(Bench *b, int round, const char *admin, GArray *create_ms)
{
    gint64 c0 = g_get_monotonic_time();
    for (int i = 0; i < b->n; i += 2) {
        int j = (i + 2 * round + 1) % b->n; /* a different partner each round */
        g_autofree char *runs_url =
            g_strdup_printf("%s/api/v1/runs", b->bases[(i / 2) % b->controllers]);
        g_autofree char *post = g_strdup_printf("{\"profile\":\"bench\",\"a\":\"%s\",\"b\":\"%s\"}",
                                                b->agents[i].name, b->agents[j].name);
        double ms;
        long code;
        g_autofree char *resp = request(b, runs_url, admin, post, &code, &ms);
        if (code != 201) {
            fprintf(stderr, "controller_load: POST /api/v1/runs: %ld %s\n", code, resp);
            break;
        }
        g_array_append_val(create_ms, ms);
        g_autoptr(JsonNode) rn = json_from_string(resp, NULL);
        const char *id = json_object_get_string_member(json_node_get_object(rn), "run_id");
        gint64 *when = g_new(gint64, 1);
        *when = g_get_monotonic_time();
        g_hash_table_insert(b->run_created_us, g_strdup(id), when);
        pump(b, 0);
    }
    return (b->n / 2) / ((double)(g_get_monotonic_time() - c0) / 1e6);
}

/* Every agent takes its order, then uploads its report, `concurrency` at a
 * time; reports/s. */
static double upload_reports(Bench *b)
{
    gint64 w0 = g_get_monotonic_time();
    for (;;) {
        int have = 0;
        for (int i = 0; i < b->n; i++)
            have += b->agents[i].state == HAVE_ORDER;
        if (have == b->n || g_get_monotonic_time() - w0 > PHASE_LIMIT_S * G_USEC_PER_SEC)
            break;
        pump(b, 5);
    }
    b->first_report_us = g_get_monotonic_time();
    int next = 0;
    int before = b->reports_done + b->reports_failed;
    while (b->reports_done + b->reports_failed - before < b->n &&
           g_get_monotonic_time() - b->first_report_us < PHASE_LIMIT_S * G_USEC_PER_SEC) {
        while (next < b->n && b->in_flight_reports < b->concurrency) {
            if (b->agents[next].state == HAVE_ORDER)
                start_report(&b->agents[next]);
            next++;
        }
        pump(b, 1);
    }
    return (b->reports_done + b->reports_failed - before) /
           ((double)(b->last_report_us - b->first_report_us) / 1e6);
}

static double cpu_self(void)
{
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    return self.ru_utime.tv_sec + self.ru_stime.tv_sec +
           (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
}

static void free_bench(Bench *b)
{
    for (int i = 0; b->agents && i < b->n; i++) {
        Agent *a = &b->agents[i];
        if (b->multi)
            curl_multi_remove_handle(b->multi, a->easy);
        curl_easy_cleanup(a->easy);
        curl_slist_free_all(a->headers);
        if (a->body)
            g_string_free(a->body, TRUE);
        g_free(a->name);
        g_free(a->auth);
        g_free(a->run_id);
        g_free(a->report);
    }
    if (b->multi)
        curl_multi_cleanup(b->multi);
    if (b->admin)
        curl_easy_cleanup(b->admin);
    if (b->epfd > 0)
        close(b->epfd);
    g_free(b->agents);
    g_array_unref(b->report_ms);
    g_array_unref(b->order_ms);
    g_hash_table_unref(b->run_created_us);
    for (int k = 0; k < b->controllers; k++)
        g_free(b->bases[k]);
}

int main(int argc, char **argv)
{
    g_autofree char *bin = NULL, *label = NULL, *ca_file = NULL, *cpus = NULL;
    g_auto(GStrv) config_paths = NULL;
    int n = 1000, rounds = 2, concurrency = 100;
    const GOptionEntry entries[] = {
        {"controller", 0, 0, G_OPTION_ARG_FILENAME, &bin, "iceprobe-controller", "BIN"},
        {"config", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &config_paths,
         "a controller's configuration (repeat: controllers sharing one store)", "FILE"},
        {"agents", 0, 0, G_OPTION_ARG_INT, &n, "agents (even, at most 20000)", "N"},
        {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "rounds of runs (at most 10)", "R"},
        {"concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency, "reports in flight", "C"},
        {"label", 0, 0, G_OPTION_ARG_STRING, &label, "the row's first column", "TEXT"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "the CA of HTTPS controllers", "PEM"},
        {"controller-cpus", 0, 0, G_OPTION_ARG_STRING, &cpus, "the controllers' CPUs (0,1,...)",
         "LIST"},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- load a controller");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) e = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &e) || !bin || !config_paths || n < 2 ||
        n > 20000 || n % 2 || rounds < 1 || rounds > 10 || concurrency < 1 ||
        g_strv_length(config_paths) > MAX_CONTROLLERS) {
        fprintf(stderr, "controller_load: %s\n", e ? e->message : "bad arguments (see --help)");
        return 2;
    }
    /* One descriptor per agent here and in the controller, and some to spare. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)65536);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)n + 256) {
        fprintf(stderr, "controller_load: %d agents need %d descriptors; the limit is %lu\n", n,
                n + 256, (unsigned long)rl.rlim_cur);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Bench b = {.n = n, .concurrency = concurrency, .timer_ms = -1};
    b.report_ms = g_array_new(FALSE, FALSE, sizeof(double));
    b.order_ms = g_array_new(FALSE, FALSE, sizeof(double));
    b.run_created_us = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    b.admin = curl_easy_init();
    b.controllers = (int)g_strv_length(config_paths);
    g_autoptr(GPtrArray) configs = g_ptr_array_new_with_free_func((GDestroyNotify)config_free);
    for (int k = 0; k < b.controllers; k++) {
        ControllerConfig *c = config_load(config_paths[k], &e);
        if (!c) {
            fprintf(stderr, "controller_load: %s\n", e->message);
            return 2;
        }
        g_ptr_array_add(configs, c);
        b.bases[k] = g_strdup_printf("%s://%s", config_uses_tls(c) ? "https" : "http",
                                     c->listen[0]);
    }
    const ControllerConfig *config = configs->pdata[0];
    b.ca_file = config_uses_tls(config) ? ca_file : NULL;
    if (config_uses_tls(config) && !ca_file) {
        fprintf(stderr, "controller_load: HTTPS controllers need --ca-file\n");
        return 2;
    }
    if (!add_agents(&b, config, &e)) {
        fprintf(stderr, "controller_load: %s\n", e->message);
        return 2;
    }
    if (!start_controllers(&b, bin, config_paths, cpus)) {
        stop_all(&b);
        return 2;
    }
    g_autofree char *admin = g_strconcat("Authorization: Bearer ", config->admin_token, NULL);

    b.epfd = epoll_create1(EPOLL_CLOEXEC);
    b.multi = curl_multi_init();
    curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)n + 64);
    curl_multi_setopt(b.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(b.multi, CURLMOPT_SOCKETDATA, &b);
    curl_multi_setopt(b.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(b.multi, CURLMOPT_TIMERDATA, &b);
    for (int i = 0; i < n; i++)
        start_poll(&b.agents[i]);

    /* Phase 1: every agent held in a long-poll. */
    gint64 t0 = g_get_monotonic_time();
    double held = await_held(&b);
    double connect_s = (double)(g_get_monotonic_time() - t0) / 1e6;
    long rss_held = rss_max(&b);
    double cpu0 = cpu_all(&b), load_cpu0 = cpu_self();
    long connects0 = b.agent_connects;
    double server_connects0 = metric_all(&b, "iceprobe_controller_connections_total");

    double created_per_s_sum = 0, reports_per_s_sum = 0;
    g_autoptr(GArray) create_ms = g_array_new(FALSE, FALSE, sizeof(double));
    long rss_peak = rss_held;
    double resettle_s = 0, report_cpu = 0;
    for (int round = 0; round < rounds; round++) {
        /* Every agent back in its long-poll before the round (after a round they all
         * re-poll at once: the herd is measured, not mixed into run creation). */
        gint64 r0 = g_get_monotonic_time();
        await_held(&b);
        if (round)
            resettle_s = MAX(resettle_s, (double)(g_get_monotonic_time() - r0) / 1e6);
        created_per_s_sum += create_runs(&b, round, admin, create_ms);
        double r0cpu = cpu_all(&b);
        reports_per_s_sum += upload_reports(&b);
        report_cpu += cpu_all(&b) - r0cpu;
        rss_peak = MAX(rss_peak, rss_max(&b));
        g_hash_table_remove_all(b.run_created_us);
    }
    double cpu1 = cpu_all(&b), load_cpu = cpu_self() - load_cpu0;
    double server_connects = metric_all(&b, "iceprobe_controller_connections_total");
    /* The store's count, which every controller reports alike: one is asked. */
    double passed = metric(&b, b.bases[0], "iceprobe_runs_total{verdict=\"pass\"}");

    printf("| %s | %6d | %6.0f | %7.1f | %7.1f | %8.1f | %8.1f | %7.0f | %7.1f | %7.1f | %8.0f | "
           "%7.1f | %7.1f | %6.0f/%d | %ld + %ld | %.0f + %.0f | %5.1f | %5.0f | %5.1f |\n",
           label ? label : "", n, held, connect_s, resettle_s, rss_held / 1024.0, rss_peak / 1024.0,
           created_per_s_sum / rounds, pct(create_ms, 99), pct(b.order_ms, 99),
           reports_per_s_sum / rounds, pct(b.report_ms, 50), pct(b.report_ms, 99), passed,
           n / 2 * rounds, connects0, b.agent_connects - connects0, server_connects0,
           server_connects - server_connects0, cpu1 - cpu0, report_cpu * 1e6 / (n * rounds),
           load_cpu);
    if (b.reports_failed)
        fprintf(stderr, "controller_load: %d reports failed\n", b.reports_failed);
    stop_all(&b);
    free_bench(&b);
    return b.reports_failed || passed < n / 2 * rounds ? 1 : 0;
}
