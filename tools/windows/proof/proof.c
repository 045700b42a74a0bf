/* tools/windows/proof/proof.c: does the Windows sysroot work? One small program that uses
 * every library iceprobe.exe will link, cross-built against the static sysroot and run
 * under Wine by tools/windows/proof.sh:
 *   libnice (GLib, GIO): a NiceAgent gathers host candidates on loopback, printed, with
 *            the addresses libnice finds on the host's adapters;
 *   libsrtp2: an RTP packet protected and unprotected (AES-CM-128, HMAC-SHA1-80);
 *   OpenSSL:  its version and a SHA-256;
 *   libcurl:  an HTTPS GET (OpenSSL underneath) to the URL given, trusting the CA file given;
 *   json-glib: everything above printed as one JSON object, which proof.sh checks.
 * Usage: proof.exe [HTTPS-URL CA-FILE]
 */
#include <curl/curl.h>
#include <json-glib/json-glib.h>
#include <nice/agent.h>
#include <nice/interfaces.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    GMainLoop *loop;
    gboolean done;
} Gather;

static void on_gathering_done(NiceAgent *agent, guint stream_id, gpointer user_data)
{
    (void)agent;
    (void)stream_id;
    Gather *g = user_data;
    g->done = TRUE;
    g_main_loop_quit(g->loop);
}

static gboolean on_timeout(gpointer user_data)
{
    g_main_loop_quit(((Gather *)user_data)->loop);
    return G_SOURCE_REMOVE;
}

/* A NiceAgent on its own main context, with 127.0.0.1 added as a local address, gathers
 * for one stream of one component; its local candidates go into the builder. */
static void nice_part(JsonBuilder *b)
{
    GMainContext *ctx = g_main_context_new();
    Gather g = {g_main_loop_new(ctx, FALSE), FALSE};
    NiceAgent *agent = nice_agent_new(ctx, NICE_COMPATIBILITY_RFC5245);
    NiceAddress lo;
    nice_address_init(&lo);
    nice_address_set_from_string(&lo, "127.0.0.1");
    nice_agent_add_local_address(agent, &lo);
    g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), &g);
    guint stream = nice_agent_add_stream(agent, 1);
    gboolean started = nice_agent_gather_candidates(agent, stream);
    GSource *timeout = g_timeout_source_new_seconds(10);
    g_source_set_callback(timeout, on_timeout, &g, NULL);
    g_source_attach(timeout, ctx);
    /* libnice may say "done" inside gather_candidates (host candidates only, no server
     * to ask): a quit before the loop runs is lost, so run it only if not done yet. */
    if (started && !g.done)
        g_main_loop_run(g.loop);
    g_source_destroy(timeout);
    g_source_unref(timeout);

    json_builder_set_member_name(b, "nice");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "gathering_started");
    json_builder_add_boolean_value(b, started);
    json_builder_set_member_name(b, "gathering_done");
    json_builder_add_boolean_value(b, g.done);
    json_builder_set_member_name(b, "candidates");
    json_builder_begin_array(b);
    GSList *cands = nice_agent_get_local_candidates(agent, stream, 1);
    for (GSList *i = cands; i; i = i->next) {
        NiceCandidate *c = i->data;
        gchar addr[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&c->addr, addr);
        gchar *s = g_strdup_printf("%s %s %s:%u", nice_candidate_type_to_string(c->type),
                                   nice_candidate_transport_to_string(c->transport), addr,
                                   nice_address_get_port(&c->addr));
        json_builder_add_string_value(b, s);
        g_free(s);
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    json_builder_end_array(b);
    /* What libnice itself finds on this host (GetAdaptersAddresses on Windows): what
     * an agent without an address added would gather on. */
    json_builder_set_member_name(b, "local_ips");
    json_builder_begin_array(b);
    GList *ips = nice_interfaces_get_local_ips(TRUE);
    for (GList *i = ips; i; i = i->next)
        json_builder_add_string_value(b, i->data);
    g_list_free_full(ips, g_free);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_object_unref(agent);
    g_main_loop_unref(g.loop);
    g_main_context_unref(ctx);
}

/* One RTP packet (12-byte header, 20 bytes of payload) through a sender and a receiver
 * that share a key: protect adds the 10-byte tag, unprotect checks it and restores it. */
static void srtp_part(JsonBuilder *b)
{
    unsigned char key[30];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    unsigned char packet[64] = {0x80, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe};
    memset(packet + 12, 0xab, 20);
    unsigned char original[32];
    memcpy(original, packet, sizeof original);
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.key = key;
    policy.window_size = 128;
    srtp_t tx = NULL, rx = NULL;
    policy.ssrc.type = ssrc_any_outbound;
    srtp_err_status_t e1 = srtp_create(&tx, &policy);
    policy.ssrc.type = ssrc_any_inbound;
    srtp_err_status_t e2 = srtp_create(&rx, &policy);
    int len = 32;
    srtp_err_status_t e3 = e1 || e2 ? srtp_err_status_fail : srtp_protect(tx, packet, &len);
    int protected_len = len;
    srtp_err_status_t e4 = e3 ? srtp_err_status_fail : srtp_unprotect(rx, packet, &len);
    json_builder_set_member_name(b, "srtp");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "protected_length");
    json_builder_add_int_value(b, protected_len);
    json_builder_set_member_name(b, "round_trip");
    json_builder_add_boolean_value(b, !e4 && len == 32 && memcmp(packet, original, 32) == 0);
    json_builder_end_object(b);
    if (tx)
        srtp_dealloc(tx);
    if (rx)
        srtp_dealloc(rx);
}

static void openssl_part(JsonBuilder *b)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL);
    gchar *hex = g_malloc0(mdlen * 2 + 1);
    for (unsigned int i = 0; i < mdlen; i++)
        g_snprintf(hex + i * 2, 3, "%02x", md[i]);
    json_builder_set_member_name(b, "openssl");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, OpenSSL_version(OPENSSL_VERSION));
    json_builder_set_member_name(b, "sha256_abc");
    json_builder_add_string_value(b, hex);
    json_builder_end_object(b);
    g_free(hex);
}

static size_t collect(char *data, size_t size, size_t n, void *user_data)
{
    g_string_append_len(user_data, data, (gssize)(size * n));
    return size * n;
}

/* An HTTPS GET through libcurl and its OpenSSL, trusting only the CA file given. */
static void curl_part(JsonBuilder *b, const char *url, const char *ca)
{
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    json_builder_set_member_name(b, "curl");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, v->version);
    json_builder_set_member_name(b, "ssl");
    json_builder_add_string_value(b, v->ssl_version ? v->ssl_version : "");
    if (url) {
        GString *body = g_string_new(NULL);
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json_builder_set_member_name(b, "https_result");
        json_builder_add_string_value(b, curl_easy_strerror(rc));
        json_builder_set_member_name(b, "https_status");
        json_builder_add_int_value(b, status);
        json_builder_set_member_name(b, "https_body_bytes");
        json_builder_add_int_value(b, (gint64)body->len);
        curl_easy_cleanup(h);
        g_string_free(body, TRUE);
    }
    json_builder_end_object(b);
}

int main(int argc, char **argv)
{
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: proof [HTTPS-URL CA-FILE]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srtp_init();
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    gchar *glib =
        g_strdup_printf("%u.%u.%u", glib_major_version, glib_minor_version, glib_micro_version);
    json_builder_set_member_name(b, "glib");
    json_builder_add_string_value(b, glib);
    g_free(glib);
    json_builder_set_member_name(b, "srtp_version");
    json_builder_add_string_value(b, srtp_get_version_string());
    nice_part(b);
    srtp_part(b);
    openssl_part(b);
    curl_part(b, argc == 3 ? argv[1] : NULL, argc == 3 ? argv[2] : NULL);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    gchar *text = json_to_string(root, TRUE);
    printf("%s\n", text);
    g_free(text);
    json_node_unref(root);
    g_object_unref(b);
    srtp_shutdown();
    curl_global_cleanup();
    return 0;
}
