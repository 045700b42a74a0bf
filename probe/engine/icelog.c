/* What libnice 0.1.21 says about an agent's checks and allocations, read line
 * by line (docs/libnice.md §42 lists the lines, with their place in libnice's
 * source). Each line is matched against a table of the texts libnice writes;
 * fields are read with fixed caps (an address longer than ICELOG_ADDR_LEN, a
 * number with more than ten digits: the line is not that line), and a line
 * that matches nothing only counts. */
#include "icelog.h"

#include <string.h>

struct IceLog {
    GArray *pairs; /* IceLogPair, in the order libnice made them */
    guint pairs_over;
    IceLogItem items[ICELOG_MAX_ITEMS];
    guint n_items;
    IceLogServer servers[ICELOG_MAX_SERVERS];
    guint n_servers;
    /* The host candidate libnice is adding TURN discoveries for, and the next
     * server it will try (agent.c 3836-3853 walks the servers in order). */
    gboolean host_ok;
    char host_ip[ICELOG_ADDR_LEN];
    char host_transport[ICELOG_WORD_LEN];
    guint host_next_server;
    gboolean new_pair_next; /* "creating a new pair": the next state line starts one */
    int answered;           /* the item of the last TURN answer */
    int giving_up;          /* the pair of the last "Retransmissions failed" line */
    guint timeouts;
    gboolean gathered;
    guint lines, unknown;
};

const char *icelog_state_name(IceLogState s)
{
    static const char *const names[] = {NULL,        "frozen", "waiting",    "in-progress",
                                        "succeeded", "failed", "discovered", "cancelled"};
    return (guint)s < G_N_ELEMENTS(names) ? names[s] : NULL;
}

IceLog *icelog_new(void)
{
    IceLog *l = g_new0(IceLog, 1);
    l->pairs = g_array_new(FALSE, TRUE, sizeof(IceLogPair));
    l->answered = l->giving_up = -1;
    return l;
}

void icelog_free(IceLog *l)
{
    if (!l)
        return;
    g_array_unref(l->pairs);
    g_free(l);
}

IceLog *icelog_copy(const IceLog *l)
{
    IceLog *c = g_memdup2(l, sizeof(*l));
    c->pairs = g_array_sized_new(FALSE, TRUE, sizeof(IceLogPair), l->pairs->len);
    g_array_append_vals(c->pairs, l->pairs->data, l->pairs->len);
    return c;
}

/* ---- reading fields: each advances *p only on success ---- */

static gboolean lit(const char **p, const char *s)
{
    gsize n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return FALSE;
    *p += n;
    return TRUE;
}

/* A pointer as %p prints it: glibc's "0x" and 1-16 hex digits, or "(nil)";
 * Windows' (GLib's printf there, as msvcrt's) exactly 16 hex digits, no "0x". */
static gboolean pointer(const char **p, guint64 *out)
{
    if (lit(p, "(nil)")) {
        *out = 0;
        return TRUE;
    }
    const char *s = *p;
    gboolean prefixed = lit(&s, "0x");
    guint64 v = 0;
    guint n = 0;
    for (; g_ascii_isxdigit(*s) && n < 17; s++, n++)
        v = v << 4 | (guint64)g_ascii_xdigit_value(*s);
    if (n == 0 || n > 16 || (!prefixed && n != 16))
        return FALSE;
    *out = v;
    *p = s;
    return TRUE;
}

static gboolean number(const char **p, guint max, guint *out)
{
    const char *s = *p;
    guint64 v = 0;
    guint n = 0;
    for (; g_ascii_isdigit(*s) && n < 11; s++, n++)
        v = v * 10 + (guint64)(*s - '0');
    if (n == 0 || n > 10 || v > max)
        return FALSE;
    *out = (guint)v;
    *p = s;
    return TRUE;
}

/* One or more characters up to one of stops (or the end), into buf. */
static gboolean token(const char **p, const char *stops, char *buf, gsize size)
{
    gsize n = strcspn(*p, stops);
    if (n == 0 || n >= size)
        return FALSE;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p += n;
    return TRUE;
}

/* "[ip]:port" */
static gboolean bracketed(const char **p, char *ip, guint *port)
{
    const char *s = *p;
    if (!lit(&s, "[") || !token(&s, "]", ip, ICELOG_ADDR_LEN) || !lit(&s, "]:") ||
        !number(&s, 65535, port))
        return FALSE;
    *p = s;
    return TRUE;
}

/* "s1/c1 : " or "s1/c1: " before some lines. */
static void skip_stream_component(const char **p)
{
    const char *s = *p;
    guint n;
    if (lit(&s, "s") && number(&s, G_MAXUINT16, &n) && lit(&s, "/c") &&
        number(&s, G_MAXUINT16, &n)) {
        lit(&s, " ");
        if (lit(&s, ":")) {
            lit(&s, " ");
            *p = s;
        }
    }
}

gboolean icelog_agent_of(const char *line, guint64 *agent, const char **rest)
{
    const char *a = line ? strstr(line, "Agent") : NULL;
    if (!a || a - line > 80)
        return FALSE;
    const char *s = a + 5;
    while (*s == ' ' || *s == ':')
        s++;
    if (!pointer(&s, agent))
        return FALSE;
    while (*s == ' ')
        s++;
    lit(&s, ":");
    while (*s == ' ')
        s++;
    *rest = s;
    return TRUE;
}

gboolean icelog_stun_error_code(const char *line, guint *code)
{
    const char *s = line;
    while (*s == ' ')
        s++;
    return lit(&s, "STUN error message received (code: ") && number(&s, 999, code) && lit(&s, ")");
}

/* ---- pairs ---- */

static IceLogPair *find_pair(IceLog *l, guint64 id)
{
    /* Newest first: libnice may give a freed pair's memory to a new one. */
    for (guint i = l->pairs->len; i-- > 0;) {
        IceLogPair *p = &g_array_index(l->pairs, IceLogPair, i);
        if (p->id == id)
            return p;
    }
    return NULL;
}

static IceLogState state_from(const char *name)
{
    static const struct {
        const char *name;
        IceLogState state;
    } states[] = {
        {"FROZEN", ICELOG_STATE_FROZEN},           {"WAITING", ICELOG_STATE_WAITING},
        {"IN_PROGRESS", ICELOG_STATE_IN_PROGRESS}, {"SUCCEEDED", ICELOG_STATE_SUCCEEDED},
        {"FAILED", ICELOG_STATE_FAILED},           {"DISCOVERED", ICELOG_STATE_DISCOVERED},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(states); i++)
        if (strcmp(name, states[i].name) == 0)
            return states[i].state;
    return ICELOG_STATE_UNKNOWN;
}

/* Why the pair's next failure happens, said before libnice sets it FAILED
 * (a timeout, an error answer); the state line then takes it. */
static void pending_why(IceLogPair *p, IceLogWhy why, guint code, const char *detail)
{
    if (p->why == ICELOG_WHY_STOPPED && why == ICELOG_WHY_SOCKET)
        return; /* it ran out because its retransmissions were stopped */
    p->why = why;
    p->code = code;
    g_strlcpy(p->detail, detail ? detail : "", sizeof(p->detail));
}

/* "pair %p state %s (%s)" (conncheck.c:135-140, SET_PAIR_STATE). */
static gboolean pair_state(IceLog *l, guint64 id, const char *s)
{
    char name[ICELOG_WORD_LEN], fn[64]; /* libnice's function, cut to detail's size */
    if (!token(&s, " ", name, sizeof(name)) || !lit(&s, " (") || !token(&s, ")", fn, sizeof(fn)) ||
        !lit(&s, ")"))
        return FALSE;
    IceLogState st = state_from(name);
    if (st == ICELOG_STATE_UNKNOWN)
        return FALSE;
    IceLogPair *p = l->new_pair_next ? NULL : find_pair(l, id);
    l->new_pair_next = FALSE;
    if (!p) {
        if (l->pairs->len >= ICELOG_MAX_PAIRS) {
            l->pairs_over++;
            return TRUE;
        }
        IceLogPair fresh = {.id = id};
        g_array_append_val(l->pairs, fresh);
        p = &g_array_index(l->pairs, IceLogPair, l->pairs->len - 1);
    }
    p->state = st;
    if (st == ICELOG_STATE_FAILED && p->why == ICELOG_WHY_NONE)
        pending_why(p, ICELOG_WHY_OTHER, 0, fn);
    else if (st == ICELOG_STATE_SUCCEEDED || st == ICELOG_STATE_DISCOVERED)
        pending_why(p, ICELOG_WHY_NONE, 0, NULL);
    return TRUE;
}

/* "pair %p removed." (conncheck.c:2042, 3081, 3090): pruned from the list. */
static void pair_removed(IceLogPair *p)
{
    if (p->state == ICELOG_STATE_FAILED || p->state == ICELOG_STATE_SUCCEEDED ||
        p->state == ICELOG_STATE_DISCOVERED)
        return;
    p->state = ICELOG_STATE_CANCELLED;
    pending_why(p, ICELOG_WHY_PRUNED, 0, NULL);
}

/* Lines that start "pair %p ". */
static gboolean pair_line(IceLog *l, const char *s, guint code)
{
    guint64 id;
    if (!pointer(&s, &id) || !lit(&s, " "))
        return FALSE;
    if (lit(&s, "state "))
        return pair_state(l, id, s);
    IceLogPair *p = find_pair(l, id);
    if (!p)
        return FALSE;
    if (lit(&s, "removed."))
        pair_removed(p);
    else if (lit(&s, "FAILED (mismatch of source address)"))
        pending_why(p, ICELOG_WHY_SOURCE_MISMATCH, 0, NULL);
    else if (lit(&s, "FAILED (got a matching pair without a known remote candidate)"))
        pending_why(p, ICELOG_WHY_NO_REMOTE, 0, NULL);
    else if (lit(&s, "consent for stream/component") || lit(&s, "lost consent for"))
        pending_why(p, ICELOG_WHY_CONSENT, 0, NULL);
    else if (lit(&s, "will not be retransmitted."))
        pending_why(p, ICELOG_WHY_STOPPED, 0, NULL);
    else
        return FALSE;
    return TRUE;
}

/* "new pair %p : [%s]:%u --> [%s]:%u" (conncheck.c:2391, 3372). */
static gboolean pair_addresses(IceLog *l, const char *s, guint code)
{
    guint64 id;
    IceLogPair a = {0};
    if (!pointer(&s, &id) || !lit(&s, " : ") || !bracketed(&s, a.local_ip, &a.local_port) ||
        !lit(&s, " --> ") || !bracketed(&s, a.remote_ip, &a.remote_port))
        return FALSE;
    IceLogPair *p = find_pair(l, id);
    if (!p)
        return FALSE;
    memcpy(p->local_ip, a.local_ip, sizeof(a.local_ip));
    memcpy(p->remote_ip, a.remote_ip, sizeof(a.remote_ip));
    p->local_port = a.local_port;
    p->remote_port = a.remote_port;
    return TRUE;
}

/* "added a new pair %p with foundation '%s' and transport %s:%s to stream %u
 * component %u" (conncheck.c:2402), "added a new peer-discovered pair ..."
 * (conncheck.c:3393). */
static gboolean pair_transports(IceLog *l, const char *s, guint code)
{
    guint64 id;
    char lt[ICELOG_WORD_LEN], rt[ICELOG_WORD_LEN];
    if (!pointer(&s, &id) || !lit(&s, " with foundation '"))
        return FALSE;
    const char *t = strstr(s, "' and transport ");
    if (!t || t - s > 64)
        return FALSE;
    s = t + strlen("' and transport ");
    IceLogPair *p = find_pair(l, id);
    if (!token(&s, ":", lt, sizeof(lt)) || !lit(&s, ":") || !token(&s, " ", rt, sizeof(rt)) || !p)
        return FALSE;
    g_strlcpy(p->local_transport, lt, sizeof(p->local_transport));
    g_strlcpy(p->remote_transport, rt, sizeof(p->remote_transport));
    return TRUE;
}

/* "Retransmissions failed, giving up on pair %p": said of a pair whose checks
 * ran out (conncheck.c:740, then "Failed pair is ...", 742) and of one whose
 * socket went away (conncheck.c:5016, conn_check_prune_socket: nothing after). */
static gboolean pair_giving_up(IceLog *l, const char *s, guint code)
{
    guint64 id;
    IceLogPair *p = pointer(&s, &id) ? find_pair(l, id) : NULL;
    if (!p)
        return FALSE;
    pending_why(p, ICELOG_WHY_SOCKET, 0, NULL);
    l->giving_up = (int)(p - &g_array_index(l->pairs, IceLogPair, 0));
    return TRUE;
}

/* "Failed pair is [%s]:%u --> [%s]:%u" (conncheck.c:742): the pair just given
 * up on ran out of retransmissions. */
static gboolean pair_timed_out(IceLog *l, const char *s, guint code)
{
    if (l->giving_up < 0 || (guint)l->giving_up >= l->pairs->len)
        return FALSE;
    IceLogPair *p = &g_array_index(l->pairs, IceLogPair, l->giving_up);
    l->giving_up = -1;
    if (p->why == ICELOG_WHY_SOCKET)
        p->why = ICELOG_WHY_TIMEOUT;
    return TRUE;
}

/* "stun_bind_process/conncheck for %p: %s,res=%s,stun#=%d." (conncheck.c:3598),
 * with the STUN error code its library logged just before. */
static gboolean pair_answer(IceLog *l, const char *s, guint code)
{
    guint64 id;
    char role[ICELOG_WORD_LEN], res[ICELOG_WORD_LEN * 2];
    if (!pointer(&s, &id) || !lit(&s, ": ") || !token(&s, ",", role, sizeof(role)) ||
        !lit(&s, ",res=") || !token(&s, ",", res, sizeof(res)))
        return FALSE;
    IceLogPair *p = find_pair(l, id);
    if (!p)
        return FALSE;
    if (strcmp(res, "role conflict") == 0)
        pending_why(p, ICELOG_WHY_ROLE_CONFLICT, 487, res);
    else if (strcmp(res, "success") != 0 && strcmp(res, "no mapped address") != 0)
        pending_why(p, ICELOG_WHY_ERROR, code, res);
    return TRUE;
}

/* "marking pair %p (%s) as nominated" (conncheck.c:2306, 3698, 3707, 3719). */
static gboolean pair_nominated(IceLog *l, const char *s, guint code)
{
    guint64 id;
    IceLogPair *p = pointer(&s, &id) ? find_pair(l, id) : NULL;
    if (!p || !strstr(s, ") as nominated"))
        return FALSE;
    p->nominated = TRUE;
    return TRUE;
}

/* "creating a new pair" (conncheck.c:2384, 3365): the state line that follows
 * is a new pair's, whatever its pointer was before. */
static gboolean pair_creating(IceLog *l, const char *s, guint code)
{
    l->new_pair_next = TRUE;
    return TRUE;
}

/* ---- discovery: TURN servers, allocations and their answers ---- */

/* "added relay server [%s]:%d of type %d to s/c ..." (agent.c:3224). Nothing
 * after the type is read: the username follows. */
static gboolean relay_server(IceLog *l, const char *s, guint code)
{
    IceLogServer srv = {0};
    if (!bracketed(&s, srv.ip, &srv.port) || !lit(&s, " of type ") || !number(&s, 9, &srv.type))
        return FALSE;
    if (l->n_servers < ICELOG_MAX_SERVERS)
        l->servers[l->n_servers++] = srv;
    return TRUE;
}

/* "creation of host candidate %s:[%s]:%u: %s" (agent.c:3792): the host
 * candidate whose discoveries come next, when it was made. */
static gboolean host_created(IceLog *l, const char *s, guint code)
{
    char transport[ICELOG_WORD_LEN], ip[ICELOG_ADDR_LEN];
    guint port;
    if (!token(&s, ":", transport, sizeof(transport)) || !lit(&s, ":") ||
        !bracketed(&s, ip, &port) || !lit(&s, ": "))
        return FALSE;
    if (!g_str_has_prefix(s, "success"))
        return TRUE;
    l->host_ok = TRUE;
    memcpy(l->host_ip, ip, sizeof(ip));
    memcpy(l->host_transport, transport, sizeof(transport));
    l->host_next_server = 0;
    return TRUE;
}

/* The server libnice asks next for the current host candidate: agent.c
 * 3836-3853 walks its TURN servers in order, skipping a server of the other
 * address family and, for a TCP host candidate, a UDP one (agent.c:2895). */
static int next_server(IceLog *l)
{
    if (!l->host_ok)
        return -1;
    gboolean host_v6 = strchr(l->host_ip, ':') != NULL;
    gboolean host_udp = strcmp(l->host_transport, "udp") == 0;
    for (guint i = l->host_next_server; i < l->n_servers; i++) {
        const IceLogServer *srv = &l->servers[i];
        if ((strchr(srv->ip, ':') != NULL) != host_v6 || (!host_udp && srv->type == 0))
            continue;
        l->host_next_server = i + 1;
        return (int)i;
    }
    return -1;
}

/* "Adding new srv-rflx candidate discovery %p" (agent.c:2697), "Adding new
 * relay-rflx candidate discovery %p" (agent.c:2973). */
static gboolean discovery_added(IceLog *l, const char *s, guint code)
{
    gboolean relay;
    guint64 id;
    if (lit(&s, "srv-rflx"))
        relay = FALSE;
    else if (lit(&s, "relay-rflx"))
        relay = TRUE;
    else
        return FALSE;
    if (!lit(&s, " candidate discovery ") || !pointer(&s, &id))
        return FALSE;
    if (l->n_items >= ICELOG_MAX_ITEMS)
        return TRUE;
    IceLogItem *it = &l->items[l->n_items++];
    *it = (IceLogItem){.id = id, .relay = relay, .server = relay ? next_server(l) : -1};
    if (l->host_ok) {
        memcpy(it->base_ip, l->host_ip, sizeof(it->base_ip));
        memcpy(it->base_transport, l->host_transport, sizeof(it->base_transport));
    }
    return TRUE;
}

/* "stun_turn_process/disc for %p res %d." (conncheck.c:4051): res is
 * StunUsageTurnReturn (0 relay success, 1 mapped success, 2 error, 3 invalid,
 * 4 alternate server). */
static gboolean turn_answer(IceLog *l, const char *s, guint code)
{
    guint64 id;
    guint res;
    if (!pointer(&s, &id) || !lit(&s, " res ") || !number(&s, 9, &res))
        return FALSE;
    for (guint i = 0; i < l->n_items; i++) {
        IceLogItem *it = &l->items[i];
        if (it->id != id)
            continue;
        it->answers++;
        l->answered = (int)i;
        if (res <= 1) {
            it->allocated = TRUE;
        } else if (res == 2) {
            it->errors++;
            it->first_code = it->first_code ? it->first_code : code;
            it->last_code = code;
        }
        return TRUE;
    }
    return FALSE;
}

/* "relay cand %p redundant, ignoring." (discovery.c:462): the relay candidate
 * just allocated duplicates one libnice keeps. */
static gboolean relay_redundant(IceLog *l, const char *s, guint code)
{
    if (l->answered < 0 || !l->items[l->answered].allocated)
        return FALSE;
    l->items[l->answered].redundant = TRUE;
    return TRUE;
}

/* "bind discovery timed out, aborting discovery item." (discovery.c:1370): it
 * does not say which. */
static gboolean discovery_timeout(IceLog *l, const char *s, guint code)
{
    l->timeouts++;
    return TRUE;
}

/* "Candidate gathering FINISHED, stopping discovery timer." (discovery.c:1417),
 * "..., no scheduled items." (agent.c:3898). */
static gboolean gathering_finished(IceLog *l, const char *s, guint code)
{
    l->gathered = TRUE;
    return TRUE;
}

typedef gboolean (*LineFn)(IceLog *l, const char *after, guint stun_code);

/* What libnice 0.1.21 writes, by the text each line starts with. */
static const struct {
    const char *start;
    LineFn fn;
} lines[] = {
    {"pair ", pair_line},
    {"new pair ", pair_addresses},
    {"added a new pair ", pair_transports},
    {"added a new peer-discovered pair ", pair_transports},
    {"Retransmissions failed, giving up on pair ", pair_giving_up},
    {"Failed pair is ", pair_timed_out},
    {"stun_bind_process/conncheck for ", pair_answer},
    {"marking pair ", pair_nominated},
    {"creating a new pair", pair_creating},
    {"added relay server ", relay_server},
    {"creation of host candidate ", host_created},
    {"Adding new ", discovery_added},
    {"stun_turn_process/disc for ", turn_answer},
    {"relay cand ", relay_redundant},
    {"bind discovery timed out", discovery_timeout},
    {"Candidate gathering FINISHED", gathering_finished},
};

void icelog_feed(IceLog *l, const char *rest, guint stun_code)
{
    g_return_if_fail(l && rest);
    l->lines++;
    if (strnlen(rest, ICELOG_MAX_LINE + 1) > ICELOG_MAX_LINE) {
        l->unknown++;
        return;
    }
    skip_stream_component(&rest);
    for (gsize i = 0; i < G_N_ELEMENTS(lines); i++) {
        const char *s = rest;
        if (lit(&s, lines[i].start)) {
            if (!lines[i].fn(l, s, stun_code))
                l->unknown++;
            return;
        }
    }
    l->unknown++;
}

guint icelog_n_pairs(const IceLog *l)
{
    return l->pairs->len;
}

const IceLogPair *icelog_pair(const IceLog *l, guint i)
{
    g_return_val_if_fail(i < l->pairs->len, NULL);
    return &g_array_index(l->pairs, IceLogPair, i);
}

guint icelog_pairs_over(const IceLog *l)
{
    return l->pairs_over;
}

guint icelog_n_items(const IceLog *l)
{
    return l->n_items;
}

const IceLogItem *icelog_item(const IceLog *l, guint i)
{
    g_return_val_if_fail(i < l->n_items, NULL);
    return &l->items[i];
}

guint icelog_n_servers(const IceLog *l)
{
    return l->n_servers;
}

const IceLogServer *icelog_server(const IceLog *l, guint i)
{
    g_return_val_if_fail(i < l->n_servers, NULL);
    return &l->servers[i];
}

gboolean icelog_gathered(const IceLog *l)
{
    return l->gathered;
}

guint icelog_timeouts(const IceLog *l)
{
    return l->timeouts;
}

guint icelog_lines(const IceLog *l, guint *unknown)
{
    if (unknown)
        *unknown = l->unknown;
    return l->lines;
}
