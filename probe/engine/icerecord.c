/* The ICE record of a path (docs/contract.md, `ice`): every candidate the
 * session gathered and was given, described as the selected pair is (paths.c);
 * every check pair as libnice reported it, with its state, whether it was
 * nominated and why it failed (icelog.h: libnice's own debug reports); and
 * what the path gave up: a TURN server that gave no relay candidate, with
 * what libnice said of each allocation it asked it for, and a relay candidate
 * whose every pair failed. This is how an engineer sees why a UDP relay lost
 * to TCP: its allocation went unanswered, or libnice dropped its candidate as
 * a duplicate of the TCP one (docs/libnice.md §9, §42), or its checks failed. */
#include <string.h>

#include "icelog.h"
#include "run-private.h"

/* The candidates and the log, as the record is made from them. */
typedef struct {
    const RunCtx *c;
    Session *s;
    TlsRelay *fwd[2];         /* TCP, TLS */
    GSList *locals, *remotes; /* NiceCandidate, libnice's order */
    GPtrArray *local_info;    /* CandidateInfo of each local, the same order */
    IceLog *log;              /* NULL: not recorded */
} RecordCtx;

static char *capped(char *s)
{
    if (s && strlen(s) >= RESULT_ICE_MAX_STRING) {
        gsize n = RESULT_ICE_MAX_STRING - 4;
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
        strcpy(s + n, "...");
    }
    return s;
}

static void note_candidates(RecordCtx *x, IceRecord *r)
{
    for (GSList *l = x->locals; l; l = l->next) {
        CandidateInfo *info = candidate_info_new();
        paths_describe_candidate(x->c, x->s, l->data, x->fwd[0], x->fwd[1], info);
        g_ptr_array_add(x->local_info, info);
        if (r->local->len < RESULT_ICE_MAX_CANDIDATES)
            g_ptr_array_add(r->local, candidate_info_dup(info));
    }
    for (GSList *l = x->remotes; l && r->remote->len < RESULT_ICE_MAX_CANDIDATES; l = l->next) {
        CandidateInfo *info = candidate_info_new();
        paths_describe_remote(l->data, info);
        g_ptr_array_add(r->remote, info);
    }
}

/* The candidate of list at ip, port and (if said) libnice's transport name. */
static int find_candidate(GSList *list, const char *ip, guint port, const char *transport)
{
    int i = 0;
    for (GSList *l = list; l; l = l->next, i++) {
        const NiceCandidate *c = l->data;
        char a[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&c->addr, a);
        if (strcmp(a, ip) == 0 && nice_address_get_port(&c->addr) == port &&
            (!*transport ||
             strcmp(transport, nice_candidate_transport_to_string(c->transport)) == 0))
            return i;
    }
    return -1;
}

/* "type address/transport" of the pair's end, or "? address/transport" when
 * libnice no longer lists that candidate. */
static char *end_label(RecordCtx *x, gboolean local, const char *ip, guint port,
                       const char *transport)
{
    GSList *list = local ? x->locals : x->remotes;
    int i = find_candidate(list, ip, port, transport);
    if (i >= 0 && local)
        return candidate_info_label(x->local_info->pdata[i]);
    if (i >= 0) {
        CandidateInfo info = {0};
        paths_describe_remote(g_slist_nth_data(list, (guint)i), &info);
        char *label = candidate_info_label(&info);
        candidate_info_clear(&info);
        return label;
    }
    gboolean v6 = strchr(ip, ':') != NULL;
    return g_strdup_printf("? %s%s%s:%u/%s", v6 ? "[" : "", ip, v6 ? "]" : "", port,
                           *transport ? transport : "?");
}

static char *pair_why(const IceLogPair *p)
{
    switch (p->why) {
    case ICELOG_WHY_TIMEOUT:
        return g_strdup("timeout: no answer to its checks");
    case ICELOG_WHY_SOCKET:
        return g_strdup("its socket went away (a TCP connection closed)");
    case ICELOG_WHY_ERROR:
        return p->code ? g_strdup_printf("error response %u", p->code)
                       : g_strdup_printf("error response (libnice: res=%s)", p->detail);
    case ICELOG_WHY_SOURCE_MISMATCH:
        return g_strdup("the answer came from another address");
    case ICELOG_WHY_NO_REMOTE:
        return g_strdup("an answer came without a known remote candidate");
    case ICELOG_WHY_CONSENT:
        return g_strdup("consent expired after it worked");
    case ICELOG_WHY_PRUNED:
        return g_strdup("removed from the check list before it was checked");
    case ICELOG_WHY_STOPPED:
        return g_strdup("its checks were stopped: a higher-priority pair was nominated");
    case ICELOG_WHY_ROLE_CONFLICT:
        return g_strdup("role conflict (487)");
    case ICELOG_WHY_OTHER:
        return g_strdup_printf("failed in libnice's %s", p->detail);
    default:
        return NULL;
    }
}

static gboolean pair_matters(const IceLogPair *p)
{
    return p->nominated || p->state == ICELOG_STATE_SUCCEEDED ||
           p->state == ICELOG_STATE_DISCOVERED;
}

/* Every pair libnice reported: those that worked first, then the others in
 * the order libnice made them, up to the cap. */
static void note_pairs(RecordCtx *x, IceRecord *r)
{
    guint n = x->log ? icelog_n_pairs(x->log) : 0;
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < n; i++) {
            const IceLogPair *p = icelog_pair(x->log, i);
            if (pair_matters(p) != (pass == 0) || !icelog_state_name(p->state))
                continue;
            if (r->pairs->len >= RESULT_ICE_MAX_PAIRS) {
                r->pairs_omitted++;
                continue;
            }
            IcePair *q = g_new0(IcePair, 1);
            q->local = end_label(x, TRUE, p->local_ip, p->local_port, p->local_transport);
            q->remote = end_label(x, FALSE, p->remote_ip, p->remote_port, p->remote_transport);
            q->state = g_strdup(icelog_state_name(p->state));
            q->nominated = p->nominated;
            q->why = pair_why(p);
            g_ptr_array_add(r->pairs, q);
        }
    }
    if (x->log)
        r->pairs_omitted += icelog_pairs_over(x->log);
}

/* ---- what was given up ---- */

/* The relay transport of the session's TURN server i: "udp", or the TCP or
 * TLS forwarder's. */
static const char *server_transport(RecordCtx *x, guint i, NiceAddress *addr)
{
    NiceRelayType type;
    if (!session_turn_server(x->s, i, addr, &type))
        return NULL;
    guint port = nice_address_get_port(addr);
    if (type != NICE_RELAY_TYPE_TURN_UDP) {
        if (x->fwd[0] && port == tlsrelay_port(x->fwd[0]))
            return "tcp";
        if (x->fwd[1] && port == tlsrelay_port(x->fwd[1]))
            return "tls";
        return type == NICE_RELAY_TYPE_TURN_TLS ? "tls" : "tcp";
    }
    return "udp";
}

static TlsRelay *server_forwarder(RecordCtx *x, const char *transport)
{
    return strcmp(transport, "tcp") == 0   ? x->fwd[0]
           : strcmp(transport, "tls") == 0 ? x->fwd[1]
                                           : NULL;
}

/* The relay candidates libnice kept from server i. */
static guint relays_from(RecordCtx *x, guint i)
{
    guint n = 0;
    for (GSList *l = x->locals; l; l = l->next)
        n += session_relay_server(x->s, l->data) == (int)i;
    return n;
}

/* The transport of a relay candidate libnice kept from another server. */
static const char *kept_instead(RecordCtx *x, guint i)
{
    guint k = 0;
    for (GSList *l = x->locals; l; l = l->next, k++) {
        int from = session_relay_server(x->s, l->data);
        if (from >= 0 && from != (int)i)
            return ((CandidateInfo *)x->local_info->pdata[k])->relay_transport;
    }
    return NULL;
}

/* What came of one Allocate libnice asked for, as the record groups them. */
typedef enum {
    OUTCOME_UNANSWERED,
    OUTCOME_CHALLENGED, /* the usual 401 challenge, and nothing after it */
    OUTCOME_ERROR,
    OUTCOME_REDUNDANT,
    OUTCOME_ALLOCATED,
} Outcome;

typedef struct {
    Outcome outcome;
    guint code; /* OUTCOME_ERROR's */
    guint count;
    GString *from; /* "100.64.0.2 (gpd0, udp), ..." */
} OutcomeGroup;

static Outcome outcome_of(const IceLogItem *it)
{
    if (it->allocated)
        return it->redundant ? OUTCOME_REDUNDANT : OUTCOME_ALLOCATED;
    if (it->answers == 0)
        return OUTCOME_UNANSWERED;
    if (it->errors == 1 && it->first_code == 401)
        return OUTCOME_CHALLENGED;
    return OUTCOME_ERROR;
}

/* The items libnice made for server i, grouped by what came of them, each
 * group with the host candidates it asked from. Returns how many groups. */
static guint group_items(RecordCtx *x, guint i, OutcomeGroup *groups, guint max)
{
    guint n = 0;
    for (guint k = 0; k < icelog_n_items(x->log); k++) {
        const IceLogItem *it = icelog_item(x->log, k);
        if (it->server != (int)i)
            continue;
        Outcome o = outcome_of(it);
        guint code = o == OUTCOME_ERROR ? it->last_code : 0;
        guint g = 0;
        while (g < n && (groups[g].outcome != o || groups[g].code != code))
            g++;
        if (g == n && n == max)
            continue;
        if (g == n)
            groups[n++] = (OutcomeGroup){.outcome = o, .code = code, .from = g_string_new(NULL)};
        g_autoptr(GInetAddress) a = g_inet_address_new_from_string(it->base_ip);
        const NetifInterface *nif = a ? netif_inventory_by_address(x->c->inv, a) : NULL;
        g_string_append_printf(groups[g].from, "%s%s (%s, %s)", groups[g].count ? ", " : "",
                               *it->base_ip ? it->base_ip : "?", nif ? nif->name : "?",
                               it->base_transport);
        groups[g].count++;
    }
    return n;
}

static void append_group(RecordCtx *x, guint i, GString *why, const OutcomeGroup *g)
{
    const char *s = g->count > 1 ? "s" : "";
    switch (g->outcome) {
    case OUTCOME_UNANSWERED:
        g_string_append_printf(
            why, "no answer to %u Allocate request%s from %s (%s)", g->count, s, g->from->str,
            icelog_gathered(x->log) ? "libnice gave up" : "still waiting when the path ended");
        break;
    case OUTCOME_CHALLENGED:
        g_string_append_printf(why, "no answer after the 401 challenge to %u request%s from %s",
                               g->count, s, g->from->str);
        break;
    case OUTCOME_ERROR:
        g_string_append_printf(why, "error response %u to %u request%s from %s", g->code, g->count,
                               s, g->from->str);
        break;
    case OUTCOME_REDUNDANT: {
        const char *kept = kept_instead(x, i);
        g_string_append_printf(why,
                               "%u allocated from %s, but libnice dropped the relay candidate%s as "
                               "a duplicate of the TURN %s one (the same relayed address, "
                               "docs/libnice.md §9)",
                               g->count, g->from->str, s, kept ? kept : "?");
        break;
    }
    case OUTCOME_ALLOCATED:
        g_string_append_printf(why,
                               "%u allocated from %s, but libnice lists no relay candidate "
                               "from it",
                               g->count, g->from->str);
        break;
    }
}

/* Why libnice made no relay candidate from the session's TURN server i:
 * "203.0.113.10:3478/udp: no answer to 1 Allocate request from 100.64.0.2
 * (gpd0, udp) (libnice gave up); 1 allocated from 10.254.1.10 (eth0, udp), but
 * libnice dropped the relay candidate as a duplicate of the TURN tcp one". */
static char *allocation_why(RecordCtx *x, guint i, const char *transport)
{
    const Profile *p = x->c->profile;
    guint port = strcmp(transport, "udp") == 0   ? p->edge.udp_port
                 : strcmp(transport, "tcp") == 0 ? p->edge.tcp_port
                                                 : p->edge.tls_port;
    GString *why = g_string_new(NULL);
    g_string_append_printf(why, "%s:%u/%s: ", x->c->edge_ip ? x->c->edge_ip : "?", port, transport);
    OutcomeGroup groups[6];
    guint n = x->log ? group_items(x, i, groups, G_N_ELEMENTS(groups)) : 0;
    if (!x->log)
        g_string_append(why, "libnice made no relay candidate from it (its reports were not "
                             "recorded)");
    else if (!n)
        g_string_append(why, "libnice asked it for no allocation (no host candidate it allocates "
                             "from)");
    for (guint g = 0; g < n; g++) {
        if (g)
            g_string_append(why, "; ");
        append_group(x, i, why, &groups[g]);
        g_string_free(groups[g].from, TRUE);
    }
    TlsRelay *fwd = server_forwarder(x, transport);
    g_autofree char *fwd_error = fwd ? tlsrelay_last_error(fwd) : NULL;
    if (fwd_error)
        g_string_append_printf(why, "; the connection to the edge failed: %s", fwd_error);
    return capped(g_string_free(why, FALSE));
}

/* Why each of the pairs of the relay candidates from server i failed, when
 * they all did: "all 3 failed: timeout: no answer to its checks (2), error
 * response 403 (1)"; NULL when one did not fail. */
static char *relay_pairs_why(RecordCtx *x, guint i)
{
    const char *whys[4];
    guint counts[4], n_whys = 0, failed = 0, total = 0;
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    for (guint k = 0; x->log && k < icelog_n_pairs(x->log); k++) {
        const IceLogPair *p = icelog_pair(x->log, k);
        int c = find_candidate(x->locals, p->local_ip, p->local_port, p->local_transport);
        if (c < 0 || session_relay_server(x->s, g_slist_nth_data(x->locals, (guint)c)) != (int)i)
            continue;
        total++;
        if (p->state != ICELOG_STATE_FAILED && p->state != ICELOG_STATE_CANCELLED)
            return NULL;
        if (p->state != ICELOG_STATE_FAILED)
            continue;
        failed++;
        char *why = pair_why(p);
        g_ptr_array_add(owned, why);
        guint w = 0;
        while (w < n_whys && g_strcmp0(whys[w], why) != 0)
            w++;
        if (w == n_whys && n_whys < G_N_ELEMENTS(whys)) {
            whys[n_whys] = why;
            counts[n_whys++] = 0;
        }
        if (w < n_whys)
            counts[w]++;
    }
    if (!failed)
        return NULL;
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "all %u of its pairs failed or were cancelled:", total);
    for (guint w = 0; w < n_whys; w++)
        g_string_append_printf(s, "%s %s (%u)", w ? "," : "", whys[w] ? whys[w] : "?", counts[w]);
    return capped(g_string_free(s, FALSE));
}

static void give_up(IceRecord *r, const char *transport, char *what, char *why)
{
    if (r->given_up->len >= RESULT_ICE_MAX_GIVEN_UP) {
        g_free(what);
        g_free(why);
        return;
    }
    IceGivenUp *g = g_new0(IceGivenUp, 1);
    g->transport = g_strdup(transport);
    g->what = what;
    g->why = why;
    g_ptr_array_add(r->given_up, g);
}

static void note_given_up(RecordCtx *x, IceRecord *r)
{
    NiceAddress addr;
    const char *transport;
    for (guint i = 0; (transport = server_transport(x, i, &addr)); i++) {
        g_autofree char *upper = g_ascii_strup(transport, -1);
        if (!relays_from(x, i)) {
            give_up(r, transport, g_strdup_printf("TURN %s allocation", upper),
                    allocation_why(x, i, transport));
            continue;
        }
        char *why = relay_pairs_why(x, i);
        if (why)
            give_up(r, transport, g_strdup_printf("pairs of the TURN %s relay candidate", upper),
                    why);
    }
}

void paths_note_ice(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                    PathRecord *rec)
{
    RecordCtx x = {.c = c, .s = s, .fwd = {tcp_fwd, tls_fwd}};
    x.locals = session_local_candidates(s);
    x.remotes = session_remote_candidates(s);
    x.local_info = g_ptr_array_new_with_free_func((GDestroyNotify)candidate_info_free);
    x.log = session_ice_log(s);
    IceRecord *r = ice_record_new();
    note_candidates(&x, r);
    note_pairs(&x, r);
    note_given_up(&x, r);
    ice_record_free(rec->ice_record);
    rec->ice_record = r;
    g_slist_free_full(x.locals, (GDestroyNotify)nice_candidate_free);
    g_slist_free_full(x.remotes, (GDestroyNotify)nice_candidate_free);
    g_ptr_array_unref(x.local_info);
    icelog_free(x.log);
}
