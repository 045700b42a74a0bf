/* iceprobe-msturn-client: libnice's own MS-TURN client against the lab's relay.
 *
 *   iceprobe-msturn-client --server ADDR --port PORT --transport udp|tcp|tls
 *                          --user B64 --password B64 --name NAME
 *                          [--peer NAME --exchange DIR] [--count N] [--timeout S]
 *
 * One NiceAgent in NICE_COMPATIBILITY_OC2007R2 (Office Communicator 2007 R2:
 * MS-TURN through socket/udp-turn.c, udp-turn-over-tcp.c and pseudossl.c), with
 * the relay as its only TURN server and force-relay set, so that every check
 * and every packet goes through an allocation. Without --peer it gathers,
 * prints its candidates ("candidate relay ADDR:PORT", "candidate srflx ...")
 * and exits: 0 if it got a relayed candidate. With --peer it writes its SDP to
 * DIR/NAME.sdp, waits for DIR/PEER.sdp, runs ICE, and once a pair is selected
 * sends numbered datagrams every 20 ms until it has received COUNT distinct
 * ones from the peer (and sent COUNT), then keeps sending for 1 s so that the
 * peer finishes too. It prints the selected pair and "sent N received M", and
 * closes the agent (which releases the allocation with LIFETIME 0). Exit 0 on
 * success, 1 on failure or after --timeout seconds (default 30). */
#include <agent.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

#define MAX_COUNT 10000

typedef struct {
    NiceAgent *agent;
    GMainLoop *loop;
    guint stream;
    const char *name, *peer, *dir;
    int count, timeout;
    gboolean gathered, ready, failed, done;
    int sent, received;
    guint8 *seen; /* count bits: which of the peer's numbers arrived */
    gint64 done_at;
    int rc;
} Client;

static const char *type_name(NiceCandidateType t)
{
    static const char *names[] = {"host", "srflx", "prflx", "relay"};
    return t < G_N_ELEMENTS(names) ? names[t] : "?";
}

static const char *transport_name(NiceCandidateTransport t)
{
    static const char *names[] = {"udp", "tcp-act", "tcp-pass", "tcp-so"};
    return t < G_N_ELEMENTS(names) ? names[t] : "?";
}

/* "candidate relay 203.0.113.10:50000 tcp-pass" */
static void print_candidate(const char *what, NiceCandidate *c)
{
    char ip[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&c->addr, ip);
    printf("%s %s %s:%u %s\n", what, type_name(c->type), ip, nice_address_get_port(&c->addr),
           transport_name(c->transport));
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    Client *c = data;
    c->gathered = TRUE;
    GSList *cands = nice_agent_get_local_candidates(agent, stream, 1);
    gboolean relay = FALSE;
    for (GSList *l = cands; l; l = l->next) {
        NiceCandidate *cand = l->data;
        print_candidate("candidate", cand);
        relay = relay || cand->type == NICE_CANDIDATE_TYPE_RELAYED;
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    fflush(stdout);
    if (!relay) {
        fprintf(stderr, "msturn-client %s: no relayed candidate\n", c->name);
        c->failed = TRUE;
        g_main_loop_quit(c->loop);
        return;
    }
    if (!c->peer) {
        c->rc = 0;
        c->done = TRUE;
        g_main_loop_quit(c->loop);
        return;
    }
    g_autofree char *sdp = nice_agent_generate_local_sdp(agent);
    g_autofree char *path = g_strdup_printf("%s/%s.sdp", c->dir, c->name);
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    g_autoptr(GError) error = NULL;
    if (!g_file_set_contents(tmp, sdp, -1, &error) || rename(tmp, path) != 0) {
        fprintf(stderr, "msturn-client %s: cannot write %s: %s\n", c->name, path,
                error ? error->message : g_strerror(errno));
        c->failed = TRUE;
        g_main_loop_quit(c->loop);
    }
}

/* Polls for the peer's SDP once this side has gathered. */
static gboolean exchange_tick(gpointer data)
{
    Client *c = data;
    if (!c->gathered)
        return G_SOURCE_CONTINUE;
    g_autofree char *path = g_strdup_printf("%s/%s.sdp", c->dir, c->peer);
    g_autofree char *sdp = NULL;
    if (!g_file_get_contents(path, &sdp, NULL, NULL))
        return G_SOURCE_CONTINUE;
    int n = nice_agent_parse_remote_sdp(c->agent, sdp);
    if (n <= 0) {
        fprintf(stderr, "msturn-client %s: the peer's SDP %s gave no candidates\n", c->name, path);
        c->failed = TRUE;
        g_main_loop_quit(c->loop);
    }
    return G_SOURCE_REMOVE;
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
    Client *c = data;
    if (state == NICE_COMPONENT_STATE_READY && !c->ready) {
        NiceCandidate *local = NULL, *remote = NULL;
        c->ready = TRUE;
        if (nice_agent_get_selected_pair(agent, stream, comp, &local, &remote)) {
            print_candidate("selected local", local);
            print_candidate("selected remote", remote);
            fflush(stdout);
        }
    } else if (state == NICE_COMPONENT_STATE_FAILED) {
        fprintf(stderr, "msturn-client %s: ICE failed\n", c->name);
        c->failed = TRUE;
        g_main_loop_quit(c->loop);
    }
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer data)
{
    Client *c = data;
    g_autofree char *text = g_strndup(buf, len);
    g_autofree char *prefix = g_strdup_printf("msturn-test %s ", c->peer);
    if (!g_str_has_prefix(text, prefix))
        return;
    gint64 i = g_ascii_strtoll(text + strlen(prefix), NULL, 10);
    if (i < 0 || i >= c->count)
        return;
    if (!(c->seen[i / 8] & (1 << (i % 8)))) {
        c->seen[i / 8] |= (guint8)(1 << (i % 8));
        c->received++;
    }
}

static gboolean send_tick(gpointer data)
{
    Client *c = data;
    if (!c->ready || c->failed)
        return G_SOURCE_CONTINUE;
    g_autofree char *msg = g_strdup_printf("msturn-test %s %d", c->name, c->sent % c->count);
    if (nice_agent_send(c->agent, c->stream, 1, strlen(msg), msg) > 0)
        c->sent++;
    if (!c->done_at && c->sent >= c->count && c->received >= c->count)
        c->done_at = g_get_monotonic_time();
    if (c->done_at && g_get_monotonic_time() - c->done_at > G_USEC_PER_SEC) {
        c->rc = 0;
        c->done = TRUE;
        g_main_loop_quit(c->loop);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_timeout(gpointer data)
{
    Client *c = data;
    fprintf(stderr, "msturn-client %s: timed out after %d s (gathered %d, ready %d)\n", c->name,
            c->timeout, c->gathered, c->ready);
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
    g_main_loop_quit(((Client *)data)->loop);
    return G_SOURCE_REMOVE;
}

static void on_closed(GObject *src, GAsyncResult *res, gpointer data)
{
    g_main_loop_quit(data);
}

static gboolean close_timeout(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
    g_autofree char *server = NULL, *transport = NULL, *user = NULL, *password = NULL, *name = NULL,
                    *peer = NULL, *dir = NULL;
    int port = 3478, count = 50, timeout = 30;
    GOptionEntry entries[] = {
        {"server", 0, 0, G_OPTION_ARG_STRING, &server, "relay address", "ADDR"},
        {"port", 0, 0, G_OPTION_ARG_INT, &port, "relay port", "PORT"},
        {"transport", 0, 0, G_OPTION_ARG_STRING, &transport, "udp, tcp or tls", "T"},
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "MRAS user name (base64)", "B64"},
        {"password", 0, 0, G_OPTION_ARG_STRING, &password, "MRAS password (base64)", "B64"},
        {"name", 0, 0, G_OPTION_ARG_STRING, &name, "this side's name", "NAME"},
        {"peer", 0, 0, G_OPTION_ARG_STRING, &peer, "the other side's name", "NAME"},
        {"exchange", 0, 0, G_OPTION_ARG_FILENAME, &dir, "directory for the SDP files", "DIR"},
        {"count", 0, 0, G_OPTION_ARG_INT, &count, "datagrams each way (50)", "N"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds (30)", "S"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- libnice's MS-TURN client");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "msturn-client: %s\n", error->message);
        return 2;
    }
    NiceRelayType rt = NICE_RELAY_TYPE_TURN_UDP;
    if (transport && strcmp(transport, "tcp") == 0)
        rt = NICE_RELAY_TYPE_TURN_TCP;
    else if (transport && strcmp(transport, "tls") == 0)
        rt = NICE_RELAY_TYPE_TURN_TLS;
    else if (transport && strcmp(transport, "udp") != 0)
        transport = NULL;
    if (!server || !transport || !user || !password || !name || (peer && !dir) || port < 1 ||
        port > 65535 || count < 1 || count > MAX_COUNT || timeout < 1 || timeout > 600) {
        fprintf(stderr, "msturn-client: needs --server, --transport udp|tcp|tls, --user, "
                        "--password, --name, and --exchange with --peer (--help)\n");
        return 2;
    }
    Client c = {
        .name = name, .peer = peer, .dir = dir, .count = count, .timeout = timeout, .rc = 1};
    c.seen = g_malloc0((gsize)count / 8 + 1);
    c.loop = g_main_loop_new(NULL, FALSE);
    c.agent = nice_agent_new(NULL, NICE_COMPATIBILITY_OC2007R2);
    /* The two sides' roles from their names, so that they differ. */
    g_object_set(c.agent, "force-relay", TRUE, "ice-tcp", rt != NICE_RELAY_TYPE_TURN_UDP, "upnp",
                 FALSE, "controlling-mode", peer && strcmp(name, peer) < 0, NULL);
    c.stream = nice_agent_add_stream(c.agent, 1);
    g_signal_connect(c.agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), &c);
    g_signal_connect(c.agent, "component-state-changed", G_CALLBACK(on_state), &c);
    if (!nice_agent_set_relay_info(c.agent, c.stream, 1, server, (guint)port, user, password, rt)) {
        fprintf(stderr, "msturn-client: libnice refused the relay %s:%d\n", server, port);
        return 2;
    }
    nice_agent_attach_recv(c.agent, c.stream, 1, NULL, on_recv, &c);
    if (!nice_agent_gather_candidates(c.agent, c.stream)) {
        fprintf(stderr, "msturn-client %s: gathering did not start\n", name);
        return 1;
    }
    if (peer) {
        g_timeout_add(100, exchange_tick, &c);
        g_timeout_add(20, send_tick, &c);
    }
    g_timeout_add_seconds((guint)timeout, on_timeout, &c);
    g_unix_signal_add(SIGTERM, on_signal, &c);
    g_unix_signal_add(SIGINT, on_signal, &c);
    g_main_loop_run(c.loop);
    if (peer)
        printf("msturn-client %s: sent %d received %d of %d\n", name, c.sent, c.received, count);
    /* Release the allocation (Allocate with LIFETIME 0) before going. */
    GMainLoop *closing = g_main_loop_new(NULL, FALSE);
    nice_agent_close_async(c.agent, on_closed, closing);
    g_timeout_add_seconds(3, close_timeout, closing);
    g_main_loop_run(closing);
    g_main_loop_unref(closing);
    g_object_unref(c.agent);
    g_main_loop_unref(c.loop);
    g_free(c.seen);
    return c.done ? c.rc : 1;
}
