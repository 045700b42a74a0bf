/* The matrix and its analysis (analysis.h says what a pattern is and why). A
 * side that fits has one end of every failing pair, so only the ends of one
 * failing pair and their groups are tried: a few passes over the judged pairs,
 * however many agents the fleet has. */
#include "analysis.h"

#include <gio/gio.h>
#include <string.h>

#include "config.h"

#define SEP "\x1f" /* between two names in a key: no agent name holds it */

static const struct {
    const char *key;
    const char *codes[3];
    const char *because; /* after "fails and every other pair passes: " */
} causes[] = {
    [ANALYSIS_CAUSE_EDGE_ROUTE] = {"edge_route",
                                   {"EDGE_NO_ROUTE_TO_PEER"},
                                   "the edge lacks its route to that subnet, so relayed media to "
                                   "and from it never arrives (add a persistent route to it on "
                                   "the edge's internal interface)"},
    [ANALYSIS_CAUSE_VPN_BLOCK] = {"vpn_block",
                                  {"TUNNEL_PATH_OPEN", "MEDIA_VIA_TUNNEL"},
                                  "media crosses the VPN tunnel into the internal network, so the "
                                  "VPN pool's block to the internal subnets is missing at the VPN "
                                  "gateway"},
    [ANALYSIS_CAUSE_DNS_VIEW] = {"dns_view",
                                 {"EDGE_DNS_INTERNAL"},
                                 "the DNS view that side resolves through answers the edge's names "
                                 "with an internal address (the split-DNS view must give the "
                                 "edge's external one)"},
    [ANALYSIS_CAUSE_UNKNOWN] = {"unknown",
                                {NULL},
                                "the cause lies on that side's network, though the runs' findings "
                                "do not name it"},
};

const char *analysis_cause_key(AnalysisCause c)
{
    return (guint)c < G_N_ELEMENTS(causes) ? causes[c].key : "unknown";
}

AnalysisCell *analysis_cell_new(const char *profile, const char *a, const char *b,
                                const char *run_id, const char *verdict, const char *const *codes,
                                gint64 finished_at)
{
    AnalysisCell *c = g_new0(AnalysisCell, 1);
    c->profile = g_strdup(profile);
    c->a = g_strdup(a);
    c->b = g_strdup(b);
    c->run_id = g_strdup(run_id);
    c->verdict = g_strdup(verdict ? verdict : "error");
    c->codes = codes ? g_strdupv((char **)codes) : g_new0(char *, 1);
    c->finished_at = finished_at;
    return c;
}

void analysis_cell_free(AnalysisCell *c)
{
    if (!c)
        return;
    g_free(c->profile);
    g_free(c->a);
    g_free(c->b);
    g_free(c->run_id);
    g_free(c->verdict);
    g_strfreev(c->codes);
    g_free(c);
}

static void agent_free(AnalysisAgent *a)
{
    g_free(a->name);
    g_strfreev(a->groups);
    g_free(a->group);
    g_strfreev(a->subnets);
    g_strfreev(a->tunnel_subnets);
    g_free(a);
}

static void pattern_free(AnalysisPattern *p)
{
    g_free(p->side);
    g_strfreev(p->agents);
    g_free(p->subnet);
    g_ptr_array_unref(p->run_ids);
    g_free(p->sentence);
    g_free(p);
}

void analysis_matrix_free(AnalysisMatrix *m)
{
    if (!m)
        return;
    g_free(m->profile);
    g_ptr_array_unref(m->agents);
    g_ptr_array_unref(m->cells);
    g_ptr_array_unref(m->patterns);
    g_free(m->note);
    g_hash_table_unref(m->by_pair);
    g_free(m);
}

const AnalysisCell *analysis_cell(const AnalysisMatrix *m, const char *row, const char *col,
                                  gboolean *reversed)
{
    g_autofree char *k = g_strconcat(row, SEP, col, NULL);
    const AnalysisCell *c = g_hash_table_lookup(m->by_pair, k);
    if (reversed)
        *reversed = FALSE;
    if (c)
        return c;
    g_autofree char *r = g_strconcat(col, SEP, row, NULL);
    c = g_hash_table_lookup(m->by_pair, r);
    if (c && reversed)
        *reversed = TRUE;
    return c;
}

/* ---- agents and their subnets ---- */

/* "10.2.0.10/24" -> "10.2.0.0/24"; NULL for what is not an address with a
 * prefix, or is IPv6 link-local. */
static char *network_of(const char *prefix)
{
    const char *slash = strchr(prefix, '/');
    guint64 len;
    if (!slash || !g_ascii_string_to_unsigned(slash + 1, 10, 0, 128, &len, NULL))
        return NULL;
    g_autofree char *addr = g_strndup(prefix, slash - prefix);
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(addr);
    if (!ia || g_inet_address_get_is_link_local(ia) || len > g_inet_address_get_native_size(ia) * 8)
        return NULL;
    guint8 bytes[16];
    gsize n = g_inet_address_get_native_size(ia);
    memcpy(bytes, g_inet_address_to_bytes(ia), n);
    for (gsize i = 0; i < n; i++) {
        guint keep = len >= (i + 1) * 8 ? 8 : len > i * 8 ? (guint)(len - i * 8) : 0;
        bytes[i] &= (guint8)(0xff00 >> keep);
    }
    g_autoptr(GInetAddress) net =
        g_inet_address_new_from_bytes(bytes, g_inet_address_get_family(ia));
    g_autofree char *s = g_inet_address_to_string(net);
    return g_strdup_printf("%s/%u", s, (guint)len);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted, distinct networks of the interfaces of one class, from an
 * agent's last heartbeat (a JSON array the API checked when it came). */
static char **subnets_of(const char *interfaces_json, const char *klass)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(JsonNode) n = interfaces_json ? json_from_string(interfaces_json, NULL) : NULL;
    JsonArray *ifs = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    for (guint i = 0; ifs && i < json_array_get_length(ifs); i++) {
        JsonObject *o = json_node_get_object(json_array_get_element(ifs, i));
        if (!o || g_strcmp0(json_object_get_string_member_with_default(o, "class", ""), klass))
            continue;
        JsonArray *addrs = json_object_get_array_member(o, "addresses");
        for (guint k = 0; addrs && k < json_array_get_length(addrs); k++) {
            const char *a = json_array_get_string_element(addrs, k);
            char *net = a ? network_of(a) : NULL;
            if (net && !g_ptr_array_find_with_equal_func(out, net, g_str_equal, NULL))
                g_ptr_array_add(out, net);
            else
                g_free(net);
        }
    }
    g_ptr_array_sort(out, cmp_str);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/* registry: name -> StoreAgent, the registered agents. */
static AnalysisAgent *agent_new(const char *name, GHashTable *registry)
{
    AnalysisAgent *a = g_new0(AnalysisAgent, 1);
    a->name = g_strdup(name);
    const StoreAgent *sa = g_hash_table_lookup(registry, name);
    a->registered = sa != NULL;
    a->groups = sa ? g_strdupv(sa->groups) : g_new0(char *, 1);
    a->group = g_strdup(a->groups[0] ? a->groups[0] : "");
    a->subnets = subnets_of(sa ? sa->interfaces : NULL, "physical");
    a->tunnel_subnets = subnets_of(sa ? sa->interfaces : NULL, "tunnel");
    return a;
}

static gint agent_order(gconstpointer x, gconstpointer y)
{
    const AnalysisAgent *a = *(AnalysisAgent *const *)x, *b = *(AnalysisAgent *const *)y;
    /* Agents no longer registered last, then by group, then by name. */
    if (a->registered != b->registered)
        return a->registered ? -1 : 1;
    int d = strcmp(a->group, b->group);
    return d ? d : strcmp(a->name, b->name);
}

/* The names a schedule's side gives: an agent's, or a group's members. */
static void schedule_side(GHashTable *names, const char *spec, const GPtrArray *agents)
{
    if (!g_str_has_prefix(spec, "group:")) {
        g_hash_table_add(names, g_strdup(spec));
        return;
    }
    for (guint i = 0; agents && i < agents->len; i++) {
        const StoreAgent *a = agents->pdata[i];
        if (store_agent_in_group(a, spec + strlen("group:")))
            g_hash_table_add(names, g_strdup(a->name));
    }
}

/* ---- one profile's matrix ---- */

/* An unordered pair, its newest run of either direction. */
typedef struct {
    const char *x, *y;
    const AnalysisCell *cell;
    int state; /* 0 no verdict, 1 passes, 2 fails */
} Pair;

static int pair_state(const char *verdict)
{
    if (strcmp(verdict, "fail") == 0)
        return 2;
    return strcmp(verdict, "pass") == 0 || strcmp(verdict, "warn") == 0 ? 1 : 0;
}

static GArray *pairs_of(const AnalysisMatrix *m)
{
    GArray *pairs = g_array_new(FALSE, FALSE, sizeof(Pair));
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < m->cells->len; i++) {
        const AnalysisCell *c = m->cells->pdata[i];
        gboolean fwd = strcmp(c->a, c->b) <= 0;
        char *k = g_strconcat(fwd ? c->a : c->b, SEP, fwd ? c->b : c->a, NULL);
        if (!g_hash_table_add(seen, k))
            continue; /* taken with its other direction */
        g_autofree char *back = g_strconcat(c->b, SEP, c->a, NULL);
        const AnalysisCell *other = g_hash_table_lookup(m->by_pair, back);
        const AnalysisCell *newest = other && other->finished_at > c->finished_at ? other : c;
        Pair p = {fwd ? c->a : c->b, fwd ? c->b : c->a, newest, pair_state(newest->verdict)};
        g_array_append_val(pairs, p);
    }
    return pairs;
}

/* A side tried: its agents, and whether it is a group. */
typedef struct {
    const char *name;
    gboolean group;
    GHashTable *members; /* names (borrowed from the matrix's agents) */
    guint failing;
} Side;

static void side_clear(Side *s)
{
    g_hash_table_unref(s->members);
}

/* Whether the side fits the pattern: every failing pair has exactly one end
 * in it, every such pair with a verdict fails; two or more fail, one passes. */
static gboolean side_fits(Side *s, const GArray *pairs)
{
    guint fails = 0, passes = 0;
    for (guint i = 0; i < pairs->len; i++) {
        const Pair *p = &g_array_index(pairs, Pair, i);
        if (!p->state)
            continue;
        gboolean crosses =
            g_hash_table_contains(s->members, p->x) != g_hash_table_contains(s->members, p->y);
        if ((p->state == 2) != crosses)
            return FALSE;
        if (p->state == 2)
            fails++;
        else
            passes++;
    }
    s->failing = fails;
    return fails >= 2 && passes >= 1;
}

/* Whether every agent of small is in big. */
static gboolean contains_all(const Side *big, const Side *small)
{
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, small->members);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (!g_hash_table_contains(big->members, k))
            return FALSE;
    }
    return TRUE;
}

static guint side_size(const Side *s)
{
    return g_hash_table_size(s->members);
}

static const AnalysisAgent *agent_in(const AnalysisMatrix *m, const char *name)
{
    for (guint i = 0; i < m->agents->len; i++) {
        const AnalysisAgent *a = m->agents->pdata[i];
        if (strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

/* The sides worth trying: a side that fits has exactly one end of every
 * failing pair in it, so of this one failing pair's: each end, and each group
 * of either end of two or more agents that no side tried already has (a group
 * of one is its agent). A fleet's matrix tries a handful, not every group. */
static GArray *sides_of(const AnalysisMatrix *m, const Pair *failing)
{
    GArray *sides = g_array_new(FALSE, FALSE, sizeof(Side));
    g_array_set_clear_func(sides, (GDestroyNotify)side_clear);
    g_autoptr(GPtrArray) groups = g_ptr_array_new();
    const char *ends[] = {failing->x, failing->y};
    for (guint i = 0; i < G_N_ELEMENTS(ends); i++) {
        const AnalysisAgent *a = agent_in(m, ends[i]);
        Side s = {ends[i], FALSE, g_hash_table_new(g_str_hash, g_str_equal), 0};
        g_hash_table_add(s.members, (gpointer)ends[i]);
        g_array_append_val(sides, s);
        for (char **g = a ? a->groups : NULL; g && *g; g++) {
            if (!g_ptr_array_find_with_equal_func(groups, *g, g_str_equal, NULL))
                g_ptr_array_add(groups, *g);
        }
    }
    g_ptr_array_sort(groups, cmp_str);
    for (guint i = 0; i < groups->len; i++) {
        Side s = {groups->pdata[i], TRUE, g_hash_table_new(g_str_hash, g_str_equal), 0};
        for (guint k = 0; k < m->agents->len; k++) {
            const AnalysisAgent *a = m->agents->pdata[k];
            if (g_strv_contains((const char *const *)a->groups, s.name))
                g_hash_table_add(s.members, a->name);
        }
        gboolean tried = side_size(&s) < 2;
        for (guint k = 0; k < sides->len && !tried; k++) {
            const Side *o = &g_array_index(sides, Side, k);
            tried = side_size(o) == side_size(&s) && contains_all(o, &s);
        }
        if (tried)
            side_clear(&s);
        else
            g_array_append_val(sides, s);
    }
    return sides;
}

/* The cause most of the failing runs' codes name (the table's order breaks a
 * tie); unknown when none does. */
static AnalysisCause cause_of(const GArray *pairs)
{
    guint n[G_N_ELEMENTS(causes)] = {0};
    for (guint i = 0; i < pairs->len; i++) {
        const Pair *p = &g_array_index(pairs, Pair, i);
        if (p->state != 2)
            continue;
        for (guint c = 0; c < ANALYSIS_CAUSE_UNKNOWN; c++) {
            gboolean shows = FALSE;
            for (guint k = 0; k < G_N_ELEMENTS(causes[c].codes) && causes[c].codes[k]; k++)
                shows = shows ||
                        g_strv_contains((const char *const *)p->cell->codes, causes[c].codes[k]);
            n[c] += shows;
        }
    }
    AnalysisCause best = ANALYSIS_CAUSE_UNKNOWN;
    for (guint c = 0; c < ANALYSIS_CAUSE_UNKNOWN; c++) {
        if (n[c] && (best == ANALYSIS_CAUSE_UNKNOWN || n[c] > n[best]))
            best = c;
    }
    return best;
}

static gint newest_first(gconstpointer x, gconstpointer y)
{
    const Pair *a = x, *b = y;
    return (b->cell->finished_at > a->cell->finished_at) -
           (b->cell->finished_at < a->cell->finished_at);
}

/* The side's agents (sorted) and networks: its tunnels' for the VPN block,
 * else its physical interfaces'. */
static void side_facts(AnalysisPattern *p, const AnalysisMatrix *m, const Side *s)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    g_autoptr(GPtrArray) nets = g_ptr_array_new();
    for (guint i = 0; i < m->agents->len; i++) {
        const AnalysisAgent *a = m->agents->pdata[i];
        if (!g_hash_table_contains(s->members, a->name))
            continue;
        g_ptr_array_add(names, a->name);
        char **mine = p->cause == ANALYSIS_CAUSE_VPN_BLOCK && a->tunnel_subnets[0]
                          ? a->tunnel_subnets
                          : a->subnets;
        for (char **n = mine; *n; n++) {
            if (!g_ptr_array_find_with_equal_func(nets, *n, g_str_equal, NULL))
                g_ptr_array_add(nets, *n);
        }
    }
    g_ptr_array_sort(names, cmp_str);
    g_ptr_array_sort(nets, cmp_str);
    g_ptr_array_add(names, NULL);
    g_ptr_array_add(nets, NULL);
    p->agents = g_strdupv((char **)names->pdata);
    p->subnet = g_strjoinv(", ", (char **)nets->pdata);
}

static AnalysisPattern *pattern_new(const AnalysisMatrix *m, const Side *s, GArray *pairs)
{
    AnalysisPattern *p = g_new0(AnalysisPattern, 1);
    p->side = g_strdup(s->name);
    p->group = s->group;
    p->cause = cause_of(pairs);
    p->failing_pairs = s->failing;
    side_facts(p, m, s);
    p->run_ids = g_ptr_array_new_null_terminated(pairs->len, g_free, TRUE);
    g_array_sort(pairs, newest_first);
    for (guint i = 0; i < pairs->len; i++) {
        const Pair *q = &g_array_index(pairs, Pair, i);
        if (q->state == 2)
            g_ptr_array_add(p->run_ids, g_strdup(q->cell->run_id));
    }
    g_autofree char *agents = g_strjoinv(", ", p->agents);
    g_autofree char *who = s->group ? g_strdup_printf("group %s (%s)", s->name, agents)
                                    : g_strdup_printf("agent %s", s->name);
    p->sentence = g_strdup_printf(
        "Every pair with %s, on %s, fails and every other pair passes: %s.", who,
        *p->subnet ? p->subnet : "a subnet its heartbeats did not give", causes[p->cause].because);
    return p;
}

static char *side_words(const Side *s)
{
    return g_strdup_printf("%s %s", s->group ? "group" : "agent", s->name);
}

/* What the analysis says when no one side fits (NULL: nothing to say). */
static char *note_of(const AnalysisMatrix *m, const GPtrArray *fit, const GArray *pairs)
{
    if (!m->judged)
        return NULL;
    if (!m->failing)
        return m->judged == 1 ? g_strdup("The one pair with a verdict passes.")
                              : g_strdup_printf("All %u pairs with a verdict pass.", m->judged);
    if (m->failing == 1) {
        for (guint i = 0; i < pairs->len; i++) {
            const Pair *p = &g_array_index(pairs, Pair, i);
            if (p->state == 2)
                return g_strdup_printf("One pair fails (%s and %s): one pair alone does not say "
                                       "whose network it is; a run of each with another agent "
                                       "would.",
                                       p->x, p->y);
        }
    }
    if (m->failing == m->judged)
        return g_strdup_printf("All %u pairs with a verdict fail: no one side's network stands "
                               "out, so look at what they all share (the edge itself, the "
                               "profile).",
                               m->judged);
    if (fit->len > 1) {
        g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < fit->len; i++)
            g_ptr_array_add(words, side_words(fit->pdata[i]));
        g_ptr_array_add(words, NULL);
        g_autofree char *list = g_strjoinv(" and ", (char **)words->pdata);
        return g_strdup_printf("The %u failing pairs fit %s alike: a run of one of them with "
                               "another agent would tell whose network it is.",
                               m->failing, list);
    }
    return g_strdup_printf("The %u failing pairs share no one side's network.", m->failing);
}

static void analyse(AnalysisMatrix *m)
{
    g_autoptr(GArray) pairs = pairs_of(m);
    const Pair *failing = NULL;
    for (guint i = 0; i < pairs->len; i++) {
        const Pair *p = &g_array_index(pairs, Pair, i);
        m->judged += p->state != 0;
        m->failing += p->state == 2;
        if (p->state == 2 && !failing)
            failing = p;
    }
    g_autoptr(GArray) sides =
        failing ? sides_of(m, failing) : g_array_new(FALSE, FALSE, sizeof(Side));
    g_autoptr(GPtrArray) fit = g_ptr_array_new();
    for (guint i = 0; i < sides->len; i++) {
        Side *s = &g_array_index(sides, Side, i);
        if (side_fits(s, pairs))
            g_ptr_array_add(fit, s);
    }
    /* A side that holds a smaller one that fits says more than the runs do. */
    g_autoptr(GPtrArray) least = g_ptr_array_new();
    for (guint i = 0; i < fit->len; i++) {
        const Side *s = fit->pdata[i];
        gboolean holds = FALSE;
        for (guint k = 0; k < fit->len && !holds; k++) {
            const Side *o = fit->pdata[k];
            holds = side_size(o) < side_size(s) && contains_all(s, o);
        }
        if (!holds)
            g_ptr_array_add(least, (gpointer)s);
    }
    if (least->len == 1)
        g_ptr_array_add(m->patterns, pattern_new(m, least->pdata[0], pairs));
    else
        m->note = note_of(m, least, pairs);
}

/* ---- building ---- */

typedef struct {
    AnalysisMatrix *m;
    GHashTable *names; /* the agents it shows */
} Building;

static Building *building_for(GHashTable *by_profile, const char *profile)
{
    Building *b = g_hash_table_lookup(by_profile, profile);
    if (b)
        return b;
    b = g_new0(Building, 1);
    b->m = g_new0(AnalysisMatrix, 1);
    b->m->profile = g_strdup(profile);
    b->m->agents = g_ptr_array_new_with_free_func((GDestroyNotify)agent_free);
    b->m->cells = g_ptr_array_new_with_free_func((GDestroyNotify)analysis_cell_free);
    b->m->patterns = g_ptr_array_new_with_free_func((GDestroyNotify)pattern_free);
    b->m->by_pair = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    b->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert(by_profile, b->m->profile, b);
    return b;
}

static gint cell_order(gconstpointer x, gconstpointer y)
{
    const AnalysisCell *a = *(AnalysisCell *const *)x, *b = *(AnalysisCell *const *)y;
    int d = strcmp(a->a, b->a);
    return d ? d : strcmp(a->b, b->b);
}

static gint matrix_order(gconstpointer x, gconstpointer y)
{
    return strcmp((*(AnalysisMatrix *const *)x)->profile, (*(AnalysisMatrix *const *)y)->profile);
}

GPtrArray *analysis_build(GPtrArray *cells, const GPtrArray *agents, const GPtrArray *schedules)
{
    g_autoptr(GHashTable) by_profile = g_hash_table_new(g_str_hash, g_str_equal);
    gsize n = 0;
    g_autofree gpointer *taken = g_ptr_array_steal(cells, &n);
    for (gsize i = 0; i < n; i++) {
        AnalysisCell *c = taken[i];
        Building *b = building_for(by_profile, c->profile);
        g_ptr_array_add(b->m->cells, c);
        g_hash_table_insert(b->m->by_pair, g_strconcat(c->a, SEP, c->b, NULL), c);
        g_hash_table_add(b->names, g_strdup(c->a));
        g_hash_table_add(b->names, g_strdup(c->b));
    }
    for (guint i = 0; schedules && i < schedules->len; i++) {
        const ScheduleConfig *sc = schedules->pdata[i];
        Building *b = building_for(by_profile, sc->profile);
        schedule_side(b->names, sc->a, agents);
        schedule_side(b->names, sc->b, agents);
    }
    g_autoptr(GHashTable) registry = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; agents && i < agents->len; i++)
        g_hash_table_insert(registry, ((StoreAgent *)agents->pdata[i])->name, agents->pdata[i]);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)analysis_matrix_free);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, by_profile);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Building *b = v;
        GHashTableIter ni;
        gpointer name;
        g_hash_table_iter_init(&ni, b->names);
        while (g_hash_table_iter_next(&ni, &name, NULL))
            g_ptr_array_add(b->m->agents, agent_new(name, registry));
        g_ptr_array_sort(b->m->agents, agent_order);
        g_ptr_array_sort(b->m->cells, cell_order);
        analyse(b->m);
        g_ptr_array_add(out, b->m);
        g_hash_table_unref(b->names);
        g_free(b);
    }
    g_ptr_array_sort(out, matrix_order);
    return out;
}

GPtrArray *analysis_load(Store *s, const GPtrArray *latest, const GPtrArray *agents,
                         const GPtrArray *schedules, GError **error)
{
    g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func((GDestroyNotify)analysis_cell_free);
    for (guint i = 0; i < latest->len; i++) {
        const StoreRun *r = latest->pdata[i];
        g_autoptr(GPtrArray) codes = store_run_finding_codes(s, r->id, error);
        if (!codes)
            return NULL;
        g_ptr_array_add(codes, NULL);
        g_ptr_array_add(cells,
                        analysis_cell_new(r->profile, r->agent[0], r->agent[1], r->id, r->verdict,
                                          (const char *const *)codes->pdata, r->finished_at));
    }
    return analysis_build(cells, agents, schedules);
}

GPtrArray *analysis_read(Store *s, const GPtrArray *schedules, GError **error)
{
    g_autoptr(GPtrArray) latest = store_latest_per_pair(s, error);
    g_autoptr(GPtrArray) agents = latest ? store_agent_list(s, error) : NULL;
    return agents ? analysis_load(s, latest, agents, schedules, error) : NULL;
}

/* ---- the document ---- */

static void add_time(JsonBuilder *b, const char *name, gint64 t)
{
    json_builder_set_member_name(b, name);
    if (!t) {
        json_builder_add_null_value(b);
        return;
    }
    g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
    g_autofree char *s = g_date_time_format_iso8601(d);
    json_builder_add_string_value(b, s);
}

static void add_strv(JsonBuilder *b, const char *name, char **v)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (; v && *v; v++)
        json_builder_add_string_value(b, *v);
    json_builder_end_array(b);
}

static void add_string(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    if (v)
        json_builder_add_string_value(b, v);
    else
        json_builder_add_null_value(b);
}

static void agents_json(JsonBuilder *b, const AnalysisMatrix *m)
{
    json_builder_set_member_name(b, "agents");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->agents->len; i++) {
        const AnalysisAgent *a = m->agents->pdata[i];
        json_builder_begin_object(b);
        add_string(b, "name", a->name);
        add_strv(b, "groups", a->groups);
        add_string(b, "group", a->group);
        json_builder_set_member_name(b, "registered");
        json_builder_add_boolean_value(b, a->registered);
        add_strv(b, "subnets", a->subnets);
        add_strv(b, "tunnel_subnets", a->tunnel_subnets);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    /* The groups in the order the matrix shows them, each its agents. */
    json_builder_set_member_name(b, "groups");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->agents->len;) {
        const AnalysisAgent *first = m->agents->pdata[i];
        json_builder_begin_object(b);
        add_string(b, "name", first->registered ? first->group : NULL);
        json_builder_set_member_name(b, "agents");
        json_builder_begin_array(b);
        for (; i < m->agents->len; i++) {
            const AnalysisAgent *a = m->agents->pdata[i];
            if (a->registered != first->registered || strcmp(a->group, first->group))
                break;
            json_builder_add_string_value(b, a->name);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void cells_json(JsonBuilder *b, const AnalysisMatrix *m)
{
    json_builder_set_member_name(b, "cells");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->cells->len; i++) {
        const AnalysisCell *c = m->cells->pdata[i];
        json_builder_begin_object(b);
        add_string(b, "a", c->a);
        add_string(b, "b", c->b);
        add_string(b, "verdict", c->verdict);
        add_strv(b, "codes", c->codes);
        add_string(b, "run_id", c->run_id);
        add_time(b, "finished_at", c->finished_at);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void patterns_json(JsonBuilder *b, const AnalysisMatrix *m)
{
    json_builder_set_member_name(b, "patterns");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->patterns->len; i++) {
        const AnalysisPattern *p = m->patterns->pdata[i];
        json_builder_begin_object(b);
        add_string(b, "sentence", p->sentence);
        add_string(b, "side", p->side);
        add_string(b, "side_kind", p->group ? "group" : "agent");
        add_strv(b, "agents", p->agents);
        add_string(b, "subnet", p->subnet);
        add_string(b, "cause", analysis_cause_key(p->cause));
        json_builder_set_member_name(b, "failing_pairs");
        json_builder_add_int_value(b, p->failing_pairs);
        add_strv(b, "run_ids", (char **)p->run_ids->pdata);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

JsonNode *analysis_to_json(const GPtrArray *matrices, gint64 now)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_time(b, "generated_at", now);
    json_builder_set_member_name(b, "profiles");
    json_builder_begin_array(b);
    for (guint i = 0; i < matrices->len; i++) {
        const AnalysisMatrix *m = matrices->pdata[i];
        json_builder_begin_object(b);
        add_string(b, "profile", m->profile);
        agents_json(b, m);
        cells_json(b, m);
        json_builder_set_member_name(b, "pairs");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "judged");
        json_builder_add_int_value(b, m->judged);
        json_builder_set_member_name(b, "failing");
        json_builder_add_int_value(b, m->failing);
        json_builder_end_object(b);
        patterns_json(b, m);
        add_string(b, "note", m->note);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
