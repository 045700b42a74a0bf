/* bench/controller_load: N agents, as real HTTP clients (libcurl multi, one
 * connection each at a time), long-polling a real iceprobe-controller for
 * orders; then rounds of paired runs in which every agent takes its order and
 * uploads a report. Prints one table row: what the controller held, its RSS,
 * how fast it created runs and took reports, and the latencies seen.
 *
 *   controller_load --controller BIN --config FILE [--config FILE...] --agents N
 *                   [--rounds R] [--concurrency C] [--label TEXT]
 *
 * Several --config: as many controllers sharing one store (PostgreSQL), each
 * on its own port; agent i calls controller i % K, and runs are created on
 * each in turn, so that a run's two agents call different controllers.
 *
 * The agents are registered in the store before the controllers start (set-up,
 * not measured). The controllers run as children on 127.0.0.1 (plain HTTP: the
 * figure is the controller's, not TLS's). Everything is bounded: N, R, and a
 * time limit per phase. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
    char *bases[MAX_CONTROLLERS]; /* http://127.0.0.1:PORT */
    pid_t pids[MAX_CONTROLLERS];
    int controllers;
    CURLM *multi;
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

static void pump(Bench *b, int timeout_ms)
{
    int running = 0;
    curl_multi_perform(b->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(b->multi, &left))) {
        if (m->msg == CURLMSG_DONE)
            handle_done(b, m);
    }
    curl_multi_poll(b->multi, NULL, 0, timeout_ms, NULL);
}

/* A blocking request on its own handle (admin calls, /metrics). */
static char *request(const char *url, const char *auth, const char *post, long *code, double *ms)
{
    CURL *e = curl_easy_init();
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
    curl_easy_cleanup(e);
    return g_string_free(body, FALSE);
}

static double metric(const char *base, const char *name)
{
    g_autofree char *url = g_strdup_printf("%s/metrics", base);
    long code;
    g_autofree char *text = request(url, NULL, NULL, &code, NULL);
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
        sum += metric(b->bases[k], name);
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

int main(int argc, char **argv)
{
    g_autofree char *bin = NULL, *label = NULL;
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
    Bench b = {.n = n, .concurrency = concurrency};
    b.controllers = (int)g_strv_length(config_paths);
    g_autoptr(GPtrArray) configs = g_ptr_array_new_with_free_func((GDestroyNotify)config_free);
    for (int k = 0; k < b.controllers; k++) {
        ControllerConfig *c = config_load(config_paths[k], &e);
        if (!c) {
            fprintf(stderr, "controller_load: %s\n", e->message);
            return 2;
        }
        g_ptr_array_add(configs, c);
        b.bases[k] = g_strdup_printf("http://%s", c->listen[0]);
    }
    const ControllerConfig *config = configs->pdata[0];

    /* Set-up: the agents, straight into the store. */
    b.agents = g_new0(Agent, n);
    {
        g_autoptr(Store) st =
            store_open(config->store_url ? config->store_url : config->store_path, &e);
        if (!st) {
            fprintf(stderr, "controller_load: %s\n", e->message);
            return 2;
        }
        for (int i = 0; i < n; i++) {
            Agent *a = &b.agents[i];
            a->b = &b;
            a->index = i;
            a->base = b.bases[i % b.controllers];
            a->name = g_strdup_printf("bench-%05d", i);
            g_autofree char *token = credentials_new_token();
            g_autofree char *hash = credentials_token_hash(token);
            a->auth = g_strconcat("Authorization: Bearer ", token, NULL);
            const char *groups[] = {i % 2 ? "bench-b" : "bench-a", NULL};
            if (!store_agent_add(st, a->name, groups, hash, 1, &e)) {
                fprintf(stderr, "controller_load: %s\n", e->message);
                return 2;
            }
        }
    }

    for (int k = 0; k < b.controllers; k++) {
        g_autofree char *log_path = g_strdup_printf("%s.log", config_paths[k]);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* the load killed: its controllers go too */
            FILE *log = freopen(log_path, "w", stderr);
            (void)log;
            dup2(2, 1);
            execl(bin, bin, "serve", "--config", config_paths[k], (char *)NULL);
            _exit(127);
        }
        b.pids[k] = pid;
        long code = 0;
        for (int i = 0; i < 100 && code != 200; i++) {
            g_usleep(100000);
            g_autofree char *url = g_strdup_printf("%s/metrics", b.bases[k]);
            g_free(request(url, NULL, NULL, &code, NULL));
        }
        if (code != 200) {
            fprintf(stderr, "controller_load: controller %d did not start (see %s)\n", k, log_path);
            stop_all(&b);
            return 2;
        }
    }
    g_autofree char *admin = g_strconcat("Authorization: Bearer ", config->admin_token, NULL);
    long code = 0;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    b.multi = curl_multi_init();
    curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)n + 64);
    b.report_ms = g_array_new(FALSE, FALSE, sizeof(double));
    b.order_ms = g_array_new(FALSE, FALSE, sizeof(double));
    b.run_created_us = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (int i = 0; i < n; i++) {
        Agent *a = &b.agents[i];
        a->body = g_string_new(NULL);
        a->easy = curl_easy_init();
        a->headers = curl_slist_append(NULL, a->auth);
        a->headers = curl_slist_append(a->headers, "Content-Type: application/json");
        curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->headers);
        curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, a->body);
        curl_easy_setopt(a->easy, CURLOPT_PRIVATE, a);
        curl_easy_setopt(a->easy, CURLOPT_TIMEOUT, 330L);
        start_poll(a);
    }

    /* Phase 1: every agent held in a long-poll. */
    gint64 t0 = g_get_monotonic_time();
    double held = 0;
    while ((held = metric_all(&b, "iceprobe_controller_long_polls")) < n &&
           g_get_monotonic_time() - t0 < PHASE_LIMIT_S * G_USEC_PER_SEC) {
        for (int k = 0; k < 20; k++)
            pump(&b, 5);
    }
    double connect_s = (double)(g_get_monotonic_time() - t0) / 1e6;
    long rss_held = rss_max(&b);
    double cpu0 = cpu_all(&b);

    double created_per_s_sum = 0, reports_per_s_sum = 0;
    GArray *create_ms = g_array_new(FALSE, FALSE, sizeof(double));
    long rss_peak = rss_held;
    double resettle_s = 0;
    for (int round = 0; round < rounds; round++) {
        /* Every agent back in its long-poll before the round (after a round they all
         * re-poll at once: the herd is measured, not mixed into run creation). */
        gint64 r0 = g_get_monotonic_time();
        while (metric_all(&b, "iceprobe_controller_long_polls") < n &&
               g_get_monotonic_time() - r0 < PHASE_LIMIT_S * G_USEC_PER_SEC) {
            for (int k = 0; k < 20; k++)
                pump(&b, 5);
        }
        if (round)
            resettle_s = MAX(resettle_s, (double)(g_get_monotonic_time() - r0) / 1e6);
        /* Phase 2a: n/2 runs, each pairing an a-agent with a b-agent (with several
         * controllers, the two call different ones), created on each in turn. */
        gint64 c0 = g_get_monotonic_time();
        for (int i = 0; i < n; i += 2) {
            int j = (i + 2 * round + 1) % n; /* a different partner each round */
            g_autofree char *runs_url =
                g_strdup_printf("%s/api/v1/runs", b.bases[(i / 2) % b.controllers]);
            g_autofree char *post =
                g_strdup_printf("{\"profile\":\"bench\",\"a\":\"%s\",\"b\":\"%s\"}",
                                b.agents[i].name, b.agents[j].name);
            double ms;
            g_autofree char *resp = request(runs_url, admin, post, &code, &ms);
            if (code != 201) {
                fprintf(stderr, "controller_load: POST /api/v1/runs: %ld %s\n", code, resp);
                break;
            }
            g_array_append_val(create_ms, ms);
            g_autoptr(JsonNode) rn = json_from_string(resp, NULL);
            const char *id = json_object_get_string_member(json_node_get_object(rn), "run_id");
            gint64 *when = g_new(gint64, 1);
            *when = g_get_monotonic_time();
            g_hash_table_insert(b.run_created_us, g_strdup(id), when);
            pump(&b, 0);
        }
        created_per_s_sum += (n / 2) / ((double)(g_get_monotonic_time() - c0) / 1e6);
        /* Wait until every agent holds its order. */
        gint64 w0 = g_get_monotonic_time();
        for (;;) {
            int have = 0;
            for (int i = 0; i < n; i++)
                have += b.agents[i].state == HAVE_ORDER;
            if (have == n || g_get_monotonic_time() - w0 > PHASE_LIMIT_S * G_USEC_PER_SEC)
                break;
            pump(&b, 5);
        }
        /* Phase 2b: every agent uploads its report, `concurrency` at a time. */
        b.first_report_us = g_get_monotonic_time();
        int next = 0;
        int before = b.reports_done + b.reports_failed;
        while (b.reports_done + b.reports_failed - before < n &&
               g_get_monotonic_time() - b.first_report_us < PHASE_LIMIT_S * G_USEC_PER_SEC) {
            while (next < n && b.in_flight_reports < b.concurrency) {
                if (b.agents[next].state == HAVE_ORDER)
                    start_report(&b.agents[next]);
                next++;
            }
            pump(&b, 1);
        }
        reports_per_s_sum += (b.reports_done + b.reports_failed - before) /
                             ((double)(b.last_report_us - b.first_report_us) / 1e6);
        rss_peak = MAX(rss_peak, rss_max(&b));
        g_hash_table_remove_all(b.run_created_us);
    }
    double cpu1 = cpu_all(&b);
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    double load_cpu = self.ru_utime.tv_sec + self.ru_stime.tv_sec +
                      (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
    /* The store's count, which every controller reports alike: one is asked. */
    double passed = metric(b.bases[0], "iceprobe_runs_total{verdict=\"pass\"}");

    printf("| %s | %6d | %6.0f | %7.1f | %7.1f | %8.1f | %8.1f | %7.0f | %7.1f | %7.1f | %8.0f | "
           "%7.1f | %7.1f | %6.0f/%d | %5.1f | %5.1f |\n",
           label ? label : "", n, held, connect_s, resettle_s, rss_held / 1024.0, rss_peak / 1024.0,
           created_per_s_sum / rounds, pct(create_ms, 99), pct(b.order_ms, 99),
           reports_per_s_sum / rounds, pct(b.report_ms, 50), pct(b.report_ms, 99), passed,
           n / 2 * rounds, cpu1 - cpu0, load_cpu);
    if (b.reports_failed)
        fprintf(stderr, "controller_load: %d reports failed\n", b.reports_failed);

    stop_all(&b);
    for (int i = 0; i < n; i++) {
        Agent *a = &b.agents[i];
        curl_multi_remove_handle(b.multi, a->easy);
        curl_easy_cleanup(a->easy);
        curl_slist_free_all(a->headers);
        g_string_free(a->body, TRUE);
        g_free(a->name);
        g_free(a->auth);
        g_free(a->run_id);
        g_free(a->report);
    }
    curl_multi_cleanup(b.multi);
    g_free(b.agents);
    g_array_unref(b.report_ms);
    g_array_unref(b.order_ms);
    g_array_unref(create_ms);
    g_hash_table_unref(b.run_created_us);
    for (int k = 0; k < b.controllers; k++)
        g_free(b.bases[k]);
    return b.reports_failed || passed < n / 2 * rounds ? 1 : 0;
}
