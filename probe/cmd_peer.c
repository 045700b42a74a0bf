/* iceprobe run --profile FILE --controller URL --token-file FILE --peer NAME
 *
 * The paired run, ad hoc from the command line: this host acts as an agent (the
 * token is an agent's, from agent-add), asks the controller for a run against
 * the named agent, carries out its side of it, uploads its report, waits for
 * the controller's verdict and prints the human report of both sides. The exit
 * code is the verdict's (docs/contract.md); 3 when the run could not be had. */
#include <stdio.h>
#include <string.h>

#include "iceprobe/cli.h"
#include "iceprobe/keyfile.h"
#include "iceprobe/protocol.h"
#include "agent-main.h"
#include "commands.h"
#include "http.h"
#include "paired.h"
#include "stop.h"
#include "run.h"
#include "terminal.h"

#define ORDER_WAIT_S  90
#define UPLOAD_TRIES  10
#define VERDICT_SLACK 60

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "iceprobe run: %s\n", m);
    return CLI_EXIT_ERROR;
}

/* Polls for the order of run_id (other orders are left: they are offered again). */
static gboolean take_order(Http *h, GCancellable *stop, const char *run_id, Order *out,
                           GError **error)
{
    gint64 until = g_get_monotonic_time() + ORDER_WAIT_S * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < until && !stop_requested(stop)) {
        g_autoptr(JsonObject) a =
            http_call(h, "GET", "/api/v1/agent/orders?wait=10", NULL, 30, NULL, error);
        if (!a)
            return FALSE;
        JsonNode *on = json_object_get_member(a, "orders");
        JsonArray *orders = on && JSON_NODE_HOLDS_ARRAY(on) ? json_node_get_array(on) : NULL;
        for (guint i = 0; orders && i < json_array_get_length(orders); i++) {
            JsonNode *n = json_array_get_element(orders, i);
            if (!JSON_NODE_HOLDS_OBJECT(n))
                continue;
            JsonObject *o = json_node_get_object(n);
            if (g_strcmp0(json_object_get_string_member_with_default(o, "run_id", ""), run_id))
                continue;
            return protocol_parse_order(o, out, error);
        }
    }
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_STOPPED,
                stop_requested(stop) ? "interrupted"
                                     : "the controller did not hand out the run's order");
    return FALSE;
}

static gboolean upload(Http *h, GCancellable *stop, const char *run_id, const char *doc,
                       GError **error)
{
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/report", run_id);
    for (guint i = 0; i < UPLOAD_TRIES; i++) {
        g_clear_error(error);
        long status = 0;
        g_autoptr(JsonObject) a = http_call(h, "POST", path, doc, 30, &status, error);
        if (a)
            return TRUE;
        if (!http_error_retryable(*error, status))
            return FALSE;
        stop_wait_ms(stop, 1000u << MIN(i, 3));
    }
    return FALSE;
}

/* Waits for the verdict; returns the document's text. */
static char *await_result(Http *h, GCancellable *stop, const char *run_id, gint64 deadline,
                          GError **error)
{
    g_autofree char *path = g_strdup_printf("/api/v1/agent/runs/%s", run_id);
    while (!stop_requested(stop)) {
        g_autoptr(JsonObject) a = http_call(h, "GET", path, NULL, 30, NULL, error);
        if (!a)
            return NULL;
        const char *state = json_object_get_string_member_with_default(a, "state", "");
        if (protocol_run_state_is_final(state)) {
            g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), a);
            return json_to_string(n, TRUE);
        }
        if (g_get_real_time() / G_USEC_PER_SEC > deadline + VERDICT_SLACK) {
            g_set_error(error, HTTP_ERROR, HTTP_ERROR_STOPPED,
                        "no verdict %d s after the run's deadline (state %s)", VERDICT_SLACK,
                        state);
            return NULL;
        }
        stop_wait_ms(stop, 250);
    }
    g_set_error(error, HTTP_ERROR, HTTP_ERROR_STOPPED, "interrupted");
    return NULL;
}

int run_with_peer(const PeerRunOptions *o)
{
    g_autoptr(GCancellable) stop = g_cancellable_new();
    g_autoptr(StopSignals) signals = stop_signals_new(stop);
    (void)signals; /* held for its cleanup: clang would call it unused */
    g_autoptr(GError) e = NULL;
    g_autoptr(Profile) profile = profile_load_for_controller(o->profile_path, NULL, &e);
    if (!profile)
        return fail("%s", e->message);
    g_autofree char *token = agent_read_token(o->token_file, &e);
    if (!token)
        return fail("%s", e->message);
    g_autoptr(Http) h = http_new(o->controller, token, o->ca_file, stop);
    JsonObject *req = json_object_new();
    json_object_set_string_member(req, "profile", profile->name);
    json_object_set_string_member(req, "peer", o->peer);
    g_autoptr(JsonNode) rn = json_node_init_object(json_node_alloc(), req);
    json_object_unref(req);
    g_autofree char *body = json_to_string(rn, FALSE);
    g_autoptr(JsonObject) created = http_call(h, "POST", "/api/v1/agent/runs", body, 30, NULL, &e);
    if (!created)
        return fail("the controller would not start the run: %s", e->message);
    g_autofree char *run_id =
        g_strdup(json_object_get_string_member_with_default(created, "run_id", ""));
    fprintf(stderr, "iceprobe run: run %s against %s; waiting for its order\n", run_id, o->peer);
    g_auto(Order) order = {0};
    if (!take_order(h, stop, run_id, &order, &e))
        return fail("run %s: %s", run_id, e->message);
    PairedEnv env = {
        .url = o->controller, .token = token, .ca_file = o->ca_file, .stop = stop};
    g_autoptr(RunResult) mine = paired_execute(&order, &env);
    g_autofree char *doc = run_result_to_string(mine, FALSE);
    gint64 deadline = order.deadline;
    if (!upload(h, stop, run_id, doc, &e))
        return fail("run %s: uploading this side's report failed: %s", run_id, e->message);
    g_autofree char *text = await_result(h, stop, run_id, deadline, &e);
    if (!text)
        return fail("run %s: %s", run_id, e->message);
    g_autoptr(RunResult) r = run_result_from_json(text, strlen(text), &e);
    if (!r)
        return fail("run %s: the controller's document: %s", run_id, e->message);
    gboolean json_stdout = g_strcmp0(o->json_path, "-") == 0;
    FILE *human = json_stdout ? stderr : stdout;
    g_autofree char *report = report_text(r, terminal_is(human));
    fputs(report, human);
    fflush(human);
    if (o->json_path) {
        g_autofree char *line = g_strconcat(text, "\n", NULL);
        if (json_stdout)
            fputs(line, stdout);
        else if (!g_file_set_contents(o->json_path, line, -1, &e))
            return fail("writing %s: %s", o->json_path, e->message);
    }
    if (o->junit_path) {
        g_autofree char *xml = report_junit(r);
        if (!g_file_set_contents(o->junit_path, xml, -1, &e))
            return fail("writing %s: %s", o->junit_path, e->message);
    }
    keyfile_secret_free(g_steal_pointer(&token));
    return verdict_exit_code(r->verdict);
}
