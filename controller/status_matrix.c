/* The status page's matrix: per profile, agents (grouped) against agents, each
 * cell the newest verdict of that pair with its finding codes, linked to the
 * run; and under it the analysis across pairs (analysis.h). Rows are side a,
 * columns side b; a pair run one way only shows in both of its cells. */
#include <string.h>

#include "status-private.h"

/* Beyond this many agents a grid is no longer read at a glance: it keeps the
 * agents of the pairs that did not pass, and says how many it left out. */
#define MATRIX_MAX_AGENTS 40
#define CELL_MAX_CODES    3

/* The agents the grid shows, in the matrix's order (borrowed). */
static GPtrArray *shown_agents(const AnalysisMatrix *m)
{
    GPtrArray *out = g_ptr_array_new();
    g_autoptr(GHashTable) not_passing = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint k = 0; m->agents->len > MATRIX_MAX_AGENTS && k < m->cells->len; k++) {
        const AnalysisCell *c = m->cells->pdata[k];
        if (strcmp(c->verdict, "pass") != 0) {
            g_hash_table_add(not_passing, c->a);
            g_hash_table_add(not_passing, c->b);
        }
    }
    for (guint i = 0; i < m->agents->len && out->len < MATRIX_MAX_AGENTS; i++) {
        const AnalysisAgent *a = m->agents->pdata[i];
        if (m->agents->len <= MATRIX_MAX_AGENTS || g_hash_table_contains(not_passing, a->name))
            g_ptr_array_add(out, (gpointer)a);
    }
    return out;
}

static const char *group_label(const AnalysisAgent *a)
{
    return !a->registered ? "not registered" : *a->group ? a->group : "no group";
}

/* How many agents from i on are shown under the same group as agents[i]. */
static guint group_run(const GPtrArray *agents, guint i)
{
    const char *g = group_label(agents->pdata[i]);
    guint n = 0;
    while (i + n < agents->len && strcmp(group_label(agents->pdata[i + n]), g) == 0)
        n++;
    return n;
}

static void header_rows(GString *s, const GPtrArray *agents)
{
    g_string_append(s, "<tr><th colspan=\"2\" rowspan=\"2\" class=\"corner\">side a &#8595; "
                       "&#183; side b &#8594;</th>");
    for (guint i = 0; i < agents->len;) {
        guint n = group_run(agents, i);
        g_string_append_printf(s, "<th class=\"grp\" colspan=\"%u\">", n);
        status_esc(s, group_label(agents->pdata[i]));
        g_string_append(s, "</th>");
        i += n;
    }
    g_string_append(s, "</tr><tr>");
    for (guint i = 0; i < agents->len; i++) {
        g_string_append(s, "<th class=\"ag\">");
        status_esc(s, ((const AnalysisAgent *)agents->pdata[i])->name);
        g_string_append(s, "</th>");
    }
    g_string_append(s, "</tr>");
}

static void cell_td(GString *s, const AnalysisMatrix *m, const char *row, const char *col)
{
    if (strcmp(row, col) == 0) {
        g_string_append(s, "<td class=\"self\">&#8212;</td>");
        return;
    }
    gboolean reversed = FALSE;
    const AnalysisCell *c = analysis_cell(m, row, col, &reversed);
    if (!c) {
        g_string_append(s, "<td class=\"never\">never run</td>");
        return;
    }
    g_autofree char *t = status_when(c->finished_at);
    static const char *const verdicts[] = {"pass", "warn", "fail", "error", NULL};
    g_string_append_printf(s, "<td class=\"c c-%s\"><a href=\"/runs/",
                           g_strv_contains(verdicts, c->verdict) ? c->verdict : "error");
    status_esc(s, c->run_id);
    g_string_append(s, "\" title=\"");
    status_esc(s, c->a);
    g_string_append(s, " (side a) with ");
    status_esc(s, c->b);
    g_string_append_printf(s, " (side b), finished %s\">", t);
    status_verdict_badge(s, c->verdict);
    guint n = g_strv_length(c->codes);
    for (guint i = 0; i < n && i < CELL_MAX_CODES; i++) {
        g_string_append(s, "<code>");
        status_esc(s, c->codes[i]);
        g_string_append(s, "</code>");
    }
    if (n > CELL_MAX_CODES)
        g_string_append_printf(s, "<code>+%u more</code>", n - CELL_MAX_CODES);
    g_string_append(s, "</a></td>");
}

static void grid(GString *s, const AnalysisMatrix *m)
{
    g_autoptr(GPtrArray) agents = shown_agents(m);
    g_string_append(s, "<table class=\"matrix\">");
    header_rows(s, agents);
    for (guint i = 0; i < agents->len; i++) {
        const AnalysisAgent *row = agents->pdata[i];
        g_string_append(s, "<tr>");
        if (i == 0 || strcmp(group_label(agents->pdata[i - 1]), group_label(row)) != 0) {
            g_string_append_printf(s, "<th class=\"grp\" rowspan=\"%u\">", group_run(agents, i));
            status_esc(s, group_label(row));
            g_string_append(s, "</th>");
        }
        g_string_append(s, "<th class=\"ag\">");
        status_esc(s, row->name);
        g_string_append(s, "</th>");
        for (guint k = 0; k < agents->len; k++)
            cell_td(s, m, row->name, ((const AnalysisAgent *)agents->pdata[k])->name);
        g_string_append(s, "</tr>");
    }
    g_string_append(s, "</table>");
    if (agents->len < m->agents->len)
        g_string_append_printf(s,
                               "<p class=\"muted\">%u agents are left out of the grid: it keeps "
                               "those of the pairs that did not pass, %d at most (GET "
                               "/api/v1/analysis has them all).</p>",
                               m->agents->len - agents->len, MATRIX_MAX_AGENTS);
}

static void analysis_block(GString *s, const AnalysisMatrix *m)
{
    for (guint i = 0; i < m->patterns->len; i++) {
        const AnalysisPattern *p = m->patterns->pdata[i];
        g_string_append_printf(s, "<div class=\"analysis\" data-cause=\"%s\"><p>",
                               analysis_cause_key(p->cause));
        status_esc(s, p->sentence);
        g_string_append(s, "</p><p>Runs that show it: ");
        for (guint k = 0; k < p->run_ids->len; k++) {
            const char *id = p->run_ids->pdata[k];
            g_string_append(s, k ? ", <a href=\"/runs/" : "<a href=\"/runs/");
            status_esc(s, id);
            g_string_append(s, "\">");
            g_autofree char *shortid = g_strndup(id, 8);
            status_esc(s, shortid);
            g_string_append(s, "</a>");
        }
        g_string_append(s, "</p></div>");
    }
    if (m->note) {
        g_string_append(s, "<p class=\"note\">");
        status_esc(s, m->note);
        g_string_append(s, "</p>");
    }
}

void status_matrix_section(GString *s, const GPtrArray *matrices)
{
    g_string_append(s, "<h2>Who reaches whom</h2>");
    if (!matrices->len) {
        g_string_append(s, "<p class=\"muted\">No run has finished and no schedule names a pair "
                           "yet.</p>");
        return;
    }
    g_string_append(s, "<p class=\"muted\">Each cell: the newest finished run of side a (row) "
                       "with side b (column), its verdict and finding codes; a pair run one way "
                       "only shows in both cells.</p>");
    for (guint i = 0; i < matrices->len; i++) {
        const AnalysisMatrix *m = matrices->pdata[i];
        g_string_append(s, "<h3>Profile ");
        status_esc(s, m->profile);
        g_string_append(s, "</h3>");
        grid(s, m);
        analysis_block(s, m);
    }
}
