/* The firewall judge (fwjudge.h): the rules' strings parsed once (fwrules.c),
 * then the coverage of each (tunnel address, call client, direction,
 * protocol) by the block rules that apply to it, interval by interval. */
#include "fwjudge.h"

#include <string.h>

#include "winadapter.h"

#define MEDIA_PORT_LO 1024 /* the call clients' media ports (seed 002's table 1) */
#define MEDIA_PORT_HI 65535
#define MAX_LISTED    32 /* rules named in the detail, each way */
#define MAX_MISSING   64 /* missing blocks listed in the detail */
#define PROTO_TCP     6
#define PROTO_UDP     17

/* A block rule as the judge needs it: its strings parsed once. */
typedef struct {
    const FirewallRule *r;
    GArray *local, *remote; /* FwRange */
    char *program;          /* the program's file name, lower case; NULL: any */
    char *why_not;          /* why it applies to no call client's media here; NULL: it may */
    gboolean unreadable;    /* a string of it could not be parsed */
} Prepared;

static void prepared_clear(gpointer p)
{
    Prepared *x = p;
    if (x->local)
        g_array_unref(x->local);
    if (x->remote)
        g_array_unref(x->remote);
    g_free(x->program);
    g_free(x->why_not);
}

/* A range of the profile, as the judge compares them. */
typedef struct {
    FwRange r;
    char *text;
} Required;

static void required_clear(gpointer p)
{
    g_free(((Required *)p)->text);
}

static const char *direction_word(FirewallDirection d)
{
    return d == FIREWALL_IN ? "inbound" : "outbound";
}

static char *profile_words(guint bits)
{
    if ((bits & FIREWALL_PROFILE_ALL) == FIREWALL_PROFILE_ALL)
        return g_strdup("all");
    GString *g = g_string_new(NULL);
    static const struct {
        guint bit;
        const char *name;
    } names[] = {{FIREWALL_PROFILE_DOMAIN, "Domain"},
                 {FIREWALL_PROFILE_PRIVATE, "Private"},
                 {FIREWALL_PROFILE_PUBLIC, "Public"}};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        if (bits & names[i].bit)
            g_string_append_printf(g, "%s%s", g->len ? ", " : "", names[i].name);
    }
    if (!g->len)
        g_string_append(g, "none");
    return g_string_free(g, FALSE);
}

static char *file_name_lower(const char *path)
{
    const char *b = path;
    for (const char *c = path; *c; c++) {
        if (*c == '\\' || *c == '/')
            b = c + 1;
    }
    return g_ascii_strdown(b, -1);
}

/* Whether a ","-list holds word (case aside). */
static gboolean list_has(const char *list, const char *word)
{
    g_auto(GStrv) items = g_strsplit(list, ",", FWJUDGE_MAX_ITEMS);
    for (char **i = items; *i; i++) {
        if (g_ascii_strcasecmp(g_strstrip(*i), word) == 0)
            return TRUE;
    }
    return FALSE;
}

static gboolean is_call_client(const FwJudgeInput *in, const char *program)
{
    for (char *const *c = in->call_clients; c && *c; c++) {
        if (g_ascii_strcasecmp(*c, program) == 0)
            return TRUE;
    }
    return FALSE;
}

static FwRange point_of(GInetAddress *a)
{
    FwRange r = {.family = g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4 ? 4 : 6};
    memcpy(r.lo, g_inet_address_to_bytes(a), g_inet_address_get_native_size(a));
    memcpy(r.hi, r.lo, 16);
    return r;
}

/* Why the rule's ports or addresses keep it from the media; NULL: they do not. */
static char *why_not_scope(const FirewallState *st, const FwJudgeInput *in, Prepared *p)
{
    const FirewallRule *r = p->r;
    g_autoptr(GError) e = NULL;
    gboolean ports = r->protocol == PROTO_TCP || r->protocol == PROTO_UDP;
    if (!ports && r->protocol != FIREWALL_PROTOCOL_ANY)
        return g_strdup_printf("protocol %d, not TCP or UDP", r->protocol);
    const char *pl[2] = {r->local_ports, r->remote_ports};
    for (int i = 0; ports && i < 2; i++) {
        g_autoptr(GArray) spans = g_array_new(FALSE, FALSE, sizeof(guint32));
        if (!fwjudge_parse_ports(pl[i], spans, &e)) {
            p->unreadable = TRUE;
            return g_strdup_printf("its %s ports not understood: %s", i ? "remote" : "local",
                                   e->message);
        }
        if (!fwjudge_ports_cover(spans, MEDIA_PORT_LO, MEDIA_PORT_HI))
            return g_strdup_printf("its %s ports (%s) do not hold the media's %d-%d",
                                   i ? "remote" : "local", pl[i], MEDIA_PORT_LO, MEDIA_PORT_HI);
    }
    p->local = g_array_new(FALSE, FALSE, sizeof(FwRange));
    p->remote = g_array_new(FALSE, FALSE, sizeof(FwRange));
    if (!fwjudge_parse_addresses(r->local_addresses, p->local, NULL, &e) ||
        !fwjudge_parse_addresses(r->remote_addresses, p->remote, NULL, &e)) {
        p->unreadable = TRUE;
        return g_strdup_printf("its addresses not understood: %s", e->message);
    }
    gboolean holds = FALSE;
    for (guint i = 0; i < in->tunnel_addresses->len && !holds; i++) {
        FwRange a = point_of(in->tunnel_addresses->pdata[i]);
        holds = fwjudge_ranges_cover(p->local, &a);
    }
    if (!holds)
        return g_strdup_printf("its local addresses (%s) hold no address of the tunnel",
                               r->local_addresses ? r->local_addresses : "*");
    return NULL;
}

/* Why the rule applies to no call client's media on the tunnel; NULL: it may. */
static char *why_not(const FirewallState *st, const FwJudgeInput *in, Prepared *p)
{
    const FirewallRule *r = p->r;
    gboolean fallback = st->profiles_note != NULL;
    if (fallback ? (r->profiles & st->profiles) != st->profiles : !(r->profiles & st->profiles)) {
        g_autofree char *mine = profile_words(r->profiles), *want = profile_words(st->profiles);
        return g_strdup_printf(fallback ? "its profiles (%s) are not every active one (%s)"
                                        : "its profiles (%s) are not the tunnel network's (%s)",
                               mine, want);
    }
    if (r->interface_types && !list_has(r->interface_types, "All")) {
        if (!list_has(r->interface_types, "RemoteAccess"))
            return g_strdup_printf("its interface types (%s) are not remote access",
                                   r->interface_types);
        if (in->tunnel_if_type != WINADAPTER_IF_PPP) {
            g_autofree char *t = in->tunnel_if_type
                                     ? g_strdup_printf("IfType %u", in->tunnel_if_type)
                                     : g_strdup("of an unknown type");
            return g_strdup_printf("its interface types (%s) hold remote access, which the "
                                   "Windows Firewall gives PPP adapters (IfType 23) alone, and the "
                                   "tunnel's adapter is %s",
                                   r->interface_types, t);
        }
    }
    if (r->interfaces && !list_has(r->interfaces, in->tunnel_name))
        return g_strdup_printf("its adapters (%s) are not the tunnel %s", r->interfaces,
                               in->tunnel_name);
    if (r->service)
        return g_strdup_printf("it is for %s, not a program",
                               strcmp(r->service, "*") == 0 ? "services" : r->service);
    if (r->package)
        return g_strdup_printf("it is for the app package %s, not a call client's program",
                               r->package);
    if (r->application && strcmp(r->application, "*") != 0) {
        p->program = file_name_lower(r->application);
        if (!is_call_client(in, p->program))
            return g_strdup_printf("it is for %s, not a call client ([network] call_clients)",
                                   r->application);
    }
    return why_not_scope(st, in, p);
}

static void list_rule(JsonArray *a, const FirewallRule *r, const char *why)
{
    if (json_array_get_length(a) >= MAX_LISTED)
        return;
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "name", r->name ? r->name : "");
    json_object_set_string_member(o, "direction", r->direction == FIREWALL_IN ? "in" : "out");
    if (why)
        json_object_set_string_member(o, "why", why);
    else
        json_object_set_int_member(o, "protocol", r->protocol);
    if (r->application)
        json_object_set_string_member(o, "program", r->application);
    json_array_add_object_element(a, o);
}

/* The enabled block rules, prepared; the ones that count and not into detail.
 * *unreadable: some could not be parsed. */
static GArray *prepare(const FirewallState *st, const FwJudgeInput *in, JsonObject *detail,
                       guint *unreadable)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(Prepared));
    g_array_set_clear_func(out, prepared_clear);
    JsonArray *counted = json_array_new(), *not_counted = json_array_new();
    guint n_counted = 0, n_not = 0;
    *unreadable = 0;
    for (guint i = 0; i < st->rules->len; i++) {
        const FirewallRule *r = st->rules->pdata[i];
        if (!r->enabled || !r->block)
            continue;
        Prepared p = {.r = r};
        p.why_not = why_not(st, in, &p);
        *unreadable += p.unreadable;
        if (p.why_not) {
            n_not++;
            list_rule(not_counted, r, p.why_not);
        } else {
            n_counted++;
            list_rule(counted, r, NULL);
        }
        g_array_append_val(out, p);
    }
    json_object_set_int_member(detail, "block_rules_counted", n_counted);
    json_object_set_array_member(detail, "rules_counted", counted);
    json_object_set_int_member(detail, "block_rules_not_counted", n_not);
    json_object_set_array_member(detail, "rules_not_counted", not_counted);
    return out;
}

static void add_required(GArray *req, GPtrArray *masks)
{
    for (guint i = 0; masks && i < masks->len; i++) {
        GInetAddressMask *m = masks->pdata[i];
        Required q = {.r = point_of(g_inet_address_mask_get_address(m)),
                      .text = g_inet_address_mask_to_string(m)};
        guint bits = q.r.family == 4 ? 32 : 128;
        for (guint b = g_inet_address_mask_get_length(m); b < bits; b++) {
            q.r.lo[b / 8] &= (guint8) ~(0x80 >> (b % 8));
            q.r.hi[b / 8] |= (guint8)(0x80 >> (b % 8));
        }
        g_array_append_val(req, q);
    }
}

/* The remote addresses blocked for one address, client, direction and protocol. */
static GArray *blocked_remote(GArray *rules, const FwRange *addr, const char *client,
                              FirewallDirection dir, int proto)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(FwRange));
    g_autofree char *lc = g_ascii_strdown(client, -1);
    for (guint i = 0; i < rules->len; i++) {
        const Prepared *p = &g_array_index(rules, Prepared, i);
        if (p->why_not || p->r->direction != dir ||
            (p->r->protocol != proto && p->r->protocol != FIREWALL_PROTOCOL_ANY) ||
            (p->program && strcmp(p->program, lc) != 0) || !fwjudge_ranges_cover(p->local, addr))
            continue;
        g_array_append_vals(out, p->remote->data, p->remote->len);
    }
    return out;
}

static FwVerdict *verdict(FwVerdict *v, Verdict what, char *reason)
{
    v->verdict = what;
    v->reason = reason;
    return v;
}

/* The block is missing: warn, and the detail says so for the finding. */
static FwVerdict *missing_verdict(FwVerdict *v, char *reason)
{
    v->block_missing = TRUE;
    json_object_set_boolean_member(v->detail, "block_missing", TRUE);
    return verdict(v, VERDICT_WARN, reason);
}

static const char *local_policy_name(FirewallLocalPolicy p)
{
    static const char *const names[] = {"applies", "gp-override", "inbound-blocked", "unknown"};
    return (guint)p < G_N_ELEMENTS(names) ? names[p] : "unknown";
}

/* What was read, whatever the verdict. */
static void describe_read(const FirewallState *st, const FwJudgeInput *in, JsonObject *d)
{
    json_object_set_int_member(d, "rules_read", st->rules->len);
    if (st->rules_counted >= 0)
        json_object_set_int_member(d, "rules_total", st->rules_counted);
    if (st->incomplete)
        json_object_set_string_member(d, "incomplete", st->incomplete);
    json_object_set_string_member(d, "local_policy", local_policy_name(st->local_policy));
    if (st->local_policy_why)
        json_object_set_string_member(d, "local_policy_why", st->local_policy_why);
    g_autofree char *prof = profile_words(st->profiles);
    json_object_set_string_member(d, "profiles", prof);
    json_object_set_string_member(d, "profiles_from", st->profiles_note ? "active" : "tunnel");
    if (st->profiles_note)
        json_object_set_string_member(d, "profiles_note", st->profiles_note);
    if (st->profiles_state_why)
        json_object_set_string_member(d, "profiles_state_why", st->profiles_state_why);
    if (st->profiles_block_inbound) {
        g_autofree char *w = profile_words(st->profiles_block_inbound);
        json_object_set_string_member(d, "block_all_inbound", w);
    }
    if (st->block_inbound_why)
        json_object_set_string_member(d, "block_all_inbound_why", st->block_inbound_why);
    if (st->gp_rules >= 0)
        json_object_set_int_member(d, "gp_rules", st->gp_rules);
    if (st->gp_rules_why)
        json_object_set_string_member(d, "gp_rules_why", st->gp_rules_why);
    JsonArray *clients = json_array_new();
    for (char *const *c = in->call_clients; c && *c; c++)
        json_array_add_string_element(clients, *c);
    json_object_set_array_member(d, "call_clients", clients);
    if (in->tunnel_name)
        json_object_set_string_member(d, "tunnel", in->tunnel_name);
    if (in->tunnel_if_type)
        json_object_set_int_member(d, "tunnel_if_type", in->tunnel_if_type);
}

typedef struct {
    GString *missing;  /* "100.64.0.2 outbound UDP (lync.exe, Teams.exe); ..." */
    JsonArray *detail; /* each missing block */
    guint n;
    guint inbound; /* of n, those inbound */
} Missing;

/* Judges one (address, direction, protocol) for every call client. */
static void judge_one(GArray *rules, GArray *req, GInetAddress *a, FirewallDirection dir, int proto,
                      const FwJudgeInput *in, Missing *m)
{
    FwRange addr = point_of(a);
    g_autofree char *as = g_inet_address_to_string(a);
    GString *clients = g_string_new(NULL);
    for (char *const *c = in->call_clients; c && *c; c++) {
        g_autoptr(GArray) blocked = blocked_remote(rules, &addr, *c, dir, proto);
        JsonArray *uncovered = json_array_new();
        for (guint i = 0; i < req->len; i++) {
            const Required *q = &g_array_index(req, Required, i);
            if (q->r.family == addr.family && !fwjudge_ranges_cover(blocked, &q->r))
                json_array_add_string_element(uncovered, q->text);
        }
        if (json_array_get_length(uncovered) == 0) {
            json_array_unref(uncovered);
            continue;
        }
        g_string_append_printf(clients, "%s%s", clients->len ? ", " : "", *c);
        if (dir == FIREWALL_IN)
            m->inbound++;
        if (m->n++ >= MAX_MISSING) {
            json_array_unref(uncovered);
            continue;
        }
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "address", as);
        json_object_set_string_member(o, "client", *c);
        json_object_set_string_member(o, "direction", dir == FIREWALL_IN ? "in" : "out");
        json_object_set_string_member(o, "protocol", proto == PROTO_TCP ? "tcp" : "udp");
        json_object_set_array_member(o, "uncovered", uncovered);
        json_array_add_object_element(m->detail, o);
    }
    if (clients->len)
        g_string_append_printf(m->missing, "%s%s %s %s (%s)", m->missing->len ? "; " : "", as,
                               direction_word(dir), proto == PROTO_TCP ? "TCP" : "UDP",
                               clients->str);
    g_string_free(clients, TRUE);
}

/* The ranges judged for the tunnel's families, named; those of a family the
 * tunnel has no address in are listed apart. */
static GArray *required_ranges(const FwJudgeInput *in, JsonObject *d, GString *names)
{
    GArray *all = g_array_new(FALSE, FALSE, sizeof(Required));
    add_required(all, in->internal_ranges);
    add_required(all, in->vpn_ranges);
    GArray *req = g_array_new(FALSE, FALSE, sizeof(Required));
    g_array_set_clear_func(req, required_clear);
    JsonArray *judged = json_array_new(), *not_judged = json_array_new();
    for (guint i = 0; i < all->len; i++) {
        Required *q = &g_array_index(all, Required, i);
        gboolean family = FALSE;
        for (guint k = 0; k < in->tunnel_addresses->len && !family; k++)
            family = point_of(in->tunnel_addresses->pdata[k]).family == q->r.family;
        json_array_add_string_element(family ? judged : not_judged, q->text);
        if (family) {
            g_string_append_printf(names, "%s%s", names->len ? ", " : "", q->text);
            g_array_append_val(req, *q);
        } else {
            g_free(q->text);
        }
    }
    g_array_unref(all);
    json_object_set_array_member(d, "ranges", judged);
    json_object_set_array_member(d, "ranges_not_judged", not_judged);
    return req;
}

/* The cases where nothing can be judged, in the order they are told; NULL:
 * the rules can be judged. */
static char *cannot_judge(const FirewallState *st, const FwJudgeInput *in)
{
    if (st->local_policy == FIREWALL_LOCAL_GP_OVERRIDE)
        return g_strdup("Group Policy's firewall settings override the local rules "
                        "(LocalPolicyModifyState is FW_MODIFY_STATE_GP_OVERRIDE): the rules "
                        "that apply are Group Policy's, which this check does not judge");
    if (st->incomplete && st->rules->len == 0)
        return g_strdup_printf("the firewall's rules cannot be read: %s", st->incomplete);
    if (st->local_policy == FIREWALL_LOCAL_UNKNOWN)
        return g_strdup_printf("whether Group Policy lets the local rules apply cannot be read "
                               "(%s): a block among them proves nothing",
                               st->local_policy_why ? st->local_policy_why : "?");
    if (!in->tunnel_name)
        return g_strdup_printf("no tunnel is up: the block is the tunnel address's (%u rules "
                               "read)",
                               st->rules->len);
    if (!in->tunnel_addresses || !in->tunnel_addresses->len)
        return g_strdup_printf("the tunnel %s has no address to judge", in->tunnel_name);
    return NULL;
}

/* Every rule that counts is scoped to a program: iceprobe.exe's own checks
 * through the tunnel are not blocked by them, the call clients' media are. */
#define PROGRAMS_ONLY                                                                              \
    " (by rules for their programs alone: iceprobe's own checks are not blocked by them, so one "  \
    "of its tunnel paths that reaches these ranges says the VPN gateway's block is missing, "      \
    "GATEWAY_BLOCK_MISSING, a warning)"

static gboolean programs_only(GArray *rules)
{
    gboolean any = FALSE;
    for (guint i = 0; i < rules->len; i++) {
        const Prepared *p = &g_array_index(rules, Prepared, i);
        if (p->why_not)
            continue;
        if (!p->program)
            return FALSE;
        any = TRUE;
    }
    return any;
}

/* Where no rule blocks anything for the tunnel: its profile's firewall is
 * off, or leaves the tunnel's adapter out (ExcludedInterfaces). Said in words
 * (NULL: neither), and in the detail; *all: so for every profile judged. */
static char *inert(const FirewallState *st, const FwJudgeInput *in, JsonObject *d, gboolean *all)
{
    static const guint bits[] = {FIREWALL_PROFILE_DOMAIN, FIREWALL_PROFILE_PRIVATE,
                                 FIREWALL_PROFILE_PUBLIC};
    guint off = 0, excluded = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(bits); i++) {
        const char *ex = st->excluded[FIREWALL_PROFILE_INDEX(bits[i])];
        if (!(st->profiles & bits[i]))
            continue;
        if (st->profiles_off & bits[i])
            off |= bits[i];
        else if (ex && list_has(ex, in->tunnel_name))
            excluded |= bits[i];
    }
    guint judged = st->profiles &
                   (FIREWALL_PROFILE_DOMAIN | FIREWALL_PROFILE_PRIVATE | FIREWALL_PROFILE_PUBLIC);
    *all = judged && (off | excluded) == judged;
    GString *g = g_string_new(NULL);
    if (off) {
        g_autofree char *w = profile_words(off);
        json_object_set_string_member(d, "firewall_off", w);
        g_string_append_printf(g, "the Windows Firewall is off for %s", w);
    }
    if (excluded) {
        g_autofree char *w = profile_words(excluded);
        json_object_set_string_member(d, "tunnel_excluded", w);
        g_string_append_printf(g,
                               "%sthe tunnel adapter %s is excluded from the Windows Firewall "
                               "for %s (ExcludedInterfaces)",
                               g->len ? "; " : "", in->tunnel_name, w);
    }
    return g_string_free(g, g->len == 0);
}

/* The call clients the block is asked for: every one of a list the profile
 * gives. Of the default list, those some enabled block rule names (counted
 * or not: its rules say the client is run here), and all of them where a rule
 * for any program counts (it covers them all) or where no rule names any. */
static char **judged_clients(GArray *rules, const FwJudgeInput *in)
{
    char **all = (char **)in->call_clients;
    if (!all)
        return g_new0(char *, 1);
    if (!in->call_clients_default)
        return g_strdupv(all);
    g_autoptr(GPtrArray) programs = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < rules->len; i++) {
        const Prepared *p = &g_array_index(rules, Prepared, i);
        const char *app = p->r->application;
        if (!p->why_not && !p->program)
            return g_strdupv(all); /* a rule for any program counts */
        if (app && strcmp(app, "*") != 0)
            g_ptr_array_add(programs, file_name_lower(app));
    }
    g_autoptr(GPtrArray) named = g_ptr_array_new();
    for (char **c = all; *c; c++) {
        gboolean found = FALSE;
        for (guint i = 0; i < programs->len && !found; i++)
            found = g_ascii_strcasecmp(programs->pdata[i], *c) == 0;
        if (found)
            g_ptr_array_add(named, *c);
    }
    if (!named->len)
        return g_strdupv(all);
    g_ptr_array_add(named, NULL);
    return g_strdupv((char **)named->pdata);
}

/* Inbound is blocked for every program, whatever the rules say: Group
 * Policy's "inbound blocked" state, or BlockAllInboundTraffic set for every
 * profile judged (where the firewall is off for one, inert() says so). */
static gboolean inbound_all_blocked(const FirewallState *st)
{
    guint judged = st->profiles &
                   (FIREWALL_PROFILE_DOMAIN | FIREWALL_PROFILE_PRIVATE | FIREWALL_PROFILE_PUBLIC);
    return st->local_policy == FIREWALL_LOCAL_INBOUND_BLOCKED ||
           (judged && !st->profiles_state_why && (st->profiles_block_inbound & judged) == judged);
}

static char *notes(const FirewallState *st, guint unreadable)
{
    GString *g = g_string_new(NULL);
    if (st->profiles_note)
        g_string_append_printf(g,
                               "; the tunnel network's profile could not be read (%s): the "
                               "rules must apply to every active profile",
                               st->profiles_note);
    if (st->local_policy == FIREWALL_LOCAL_INBOUND_BLOCKED) {
        g_string_append(g, "; all inbound traffic is blocked (BlockAllInboundTraffic)");
    } else if (inbound_all_blocked(st)) {
        g_autofree char *w = profile_words(st->profiles);
        g_string_append_printf(g,
                               "; all inbound traffic is blocked for %s (BlockAllInboundTraffic), "
                               "whatever the rules say: inbound counts as blocked",
                               w);
    }
    if (st->incomplete)
        g_string_append_printf(g, "; not every rule was read (%s)", st->incomplete);
    if (unreadable)
        g_string_append_printf(g, "; %u block rule(s) not understood", unreadable);
    return g_string_free(g, FALSE);
}

/* A block missing among the local rules while Group Policy pushes rules of
 * its own (or may: its key could not be read), which are not read here. */
static char *gp_words(const FirewallState *st, const char *missing, const char *tail)
{
    g_autofree char *gp =
        st->gp_rules > 0
            ? g_strdup_printf("rules from Group Policy (%ld) are not read by this check",
                              st->gp_rules)
            : g_strdup_printf("whether Group Policy pushes rules, which this check does not "
                              "read, cannot be told (%s)",
                              st->gp_rules_why ? st->gp_rules_why : "?");
    return g_strdup_printf("the block was not found among the local rules (%s), but %s%s", missing,
                           gp, tail);
}

/* Each of the tunnel's addresses, each direction (inbound not, where the
 * profile blocks all of it) and protocol, into *m; the detail's addresses and
 * missing. The addresses named, joined by ", ". */
static char *judge_addresses(const FirewallState *st, GArray *rules, GArray *req,
                             const FwJudgeInput *in, Missing *m, JsonObject *detail)
{
    JsonArray *addrs = json_array_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    gboolean inbound_blocked = inbound_all_blocked(st);
    json_object_set_boolean_member(detail, "inbound_all_blocked", inbound_blocked);
    for (guint i = 0; i < in->tunnel_addresses->len; i++) {
        GInetAddress *a = in->tunnel_addresses->pdata[i];
        char *as = g_inet_address_to_string(a);
        json_array_add_string_element(addrs, as);
        g_ptr_array_add(names, as);
        for (FirewallDirection dir = FIREWALL_IN; dir <= FIREWALL_OUT; dir++) {
            if (dir == FIREWALL_IN && inbound_blocked)
                continue;
            judge_one(rules, req, a, dir, PROTO_TCP, in, m);
            judge_one(rules, req, a, dir, PROTO_UDP, in, m);
        }
    }
    json_object_set_array_member(detail, "addresses", addrs);
    json_object_set_array_member(detail, "missing", m->detail);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(", ", (char **)names->pdata);
}

FwVerdict *fwjudge_judge(const FirewallState *st, const FwJudgeInput *in)
{
    g_return_val_if_fail(st && in, NULL);
    FwVerdict *v = g_new0(FwVerdict, 1);
    v->detail = json_object_new();
    describe_read(st, in, v->detail);
    char *why = cannot_judge(st, in);
    if (why)
        return verdict(v, VERDICT_SKIP, why);
    guint unreadable = 0;
    g_autoptr(GArray) rules = prepare(st, in, v->detail, &unreadable);
    g_auto(GStrv) judged = judged_clients(rules, in);
    FwJudgeInput jin = *in;
    jin.call_clients = judged;
    if (in->call_clients_default) {
        JsonArray *a = json_array_new();
        for (char **c = judged; *c; c++)
            json_array_add_string_element(a, *c);
        json_object_set_array_member(v->detail, "call_clients_judged", a);
    }
    g_autoptr(GString) range_names = g_string_new(NULL);
    g_autoptr(GArray) req = required_ranges(in, v->detail, range_names);
    Missing m = {g_string_new(NULL), json_array_new(), 0, 0};
    g_autofree char *addr_names = judge_addresses(st, rules, req, &jin, &m, v->detail);
    g_autofree char *clients = g_strjoinv(", ", judged);
    g_autofree char *tail = notes(st, unreadable);
    gboolean everywhere = FALSE;
    g_autofree char *off = inert(st, in, v->detail, &everywhere);
    if (off && st->profiles_note && !everywhere) {
        g_string_free(m.missing, TRUE);
        return verdict(v, VERDICT_SKIP,
                       g_strdup_printf("%s, and which active profile is the tunnel network's "
                                       "cannot be told%s",
                                       off, tail));
    }
    if (off) {
        g_string_free(m.missing, TRUE);
        return missing_verdict(v, g_strdup_printf("the Windows Firewall does not block the "
                                                  "tunnel's address from %s: %s, so its rules do "
                                                  "nothing there%s",
                                                  range_names->str, off, tail));
    }
    if (m.n == 0 && st->profiles_state_why) {
        g_string_free(m.missing, TRUE);
        return verdict(v, VERDICT_SKIP,
                       g_strdup_printf("the rules block %s from %s, but whether the Windows "
                                       "Firewall is on for the tunnel's profile, and the tunnel "
                                       "adapter not excluded, cannot be read (%s)%s",
                                       addr_names, range_names->str, st->profiles_state_why, tail));
    }
    if (m.n == 0) {
        g_string_free(m.missing, TRUE);
        /* For the paths' judge: a tunnel path of iceprobe's own that connects
         * is then not one a call client could take (GATEWAY_BLOCK_MISSING). */
        json_object_set_boolean_member(v->detail, "programs_only", programs_only(rules));
        return verdict(v, VERDICT_PASS,
                       g_strdup_printf("the Windows Firewall blocks %s from %s, inbound and "
                                       "outbound, TCP and UDP, for %s%s%s",
                                       addr_names, range_names->str, clients,
                                       programs_only(rules) ? PROGRAMS_ONLY : "", tail));
    }
    g_autofree char *missing = g_string_free(m.missing, FALSE);
    if (st->incomplete || unreadable)
        return verdict(v, VERDICT_SKIP,
                       g_strdup_printf("the block was not found among the rules read, which "
                                       "are not all of them (%s)%s",
                                       missing, tail));
    if (st->gp_rules)
        return verdict(v, VERDICT_SKIP, gp_words(st, missing, tail));
    if (st->profiles_note)
        return verdict(v, VERDICT_SKIP,
                       g_strdup_printf("the block was not found in the rules of every active "
                                       "profile (%s), and which one is the tunnel network's "
                                       "cannot be told: its own may block it%s",
                                       missing, tail));
    if (m.inbound == m.n && st->block_inbound_why)
        return verdict(v, VERDICT_SKIP,
                       g_strdup_printf("the block was not found among the rules for inbound "
                                       "(%s), and whether the Windows Firewall blocks all inbound "
                                       "traffic for the tunnel's profile cannot be read (%s)%s",
                                       missing, st->block_inbound_why, tail));
    return missing_verdict(v, g_strdup_printf("the Windows Firewall does not block the tunnel's "
                                              "address from %s for: %s%s",
                                              range_names->str, missing, tail));
}

void fwjudge_verdict_free(FwVerdict *v)
{
    if (!v)
        return;
    g_free(v->reason);
    if (v->detail)
        json_object_unref(v->detail);
    g_free(v);
}
