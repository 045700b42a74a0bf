/* The status page's history charts: inline SVG, one per figure of a pair's
 * natural path as side a saw it, oldest run first. The x axis is time (UTC,
 * labelled ticks); the profile's threshold is a dashed line; and the line
 * breaks where runs are missing: where the time between two runs is over
 * GAP_FACTOR times the expected interval, that of the run's schedule (its
 * cron's period), or for runs of no cron schedule (ad hoc, network events)
 * the median interval between the pair's runs. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cron.h"
#include "status-private.h"

#define HISTORY_RUNS 60
#define CHART_W      280
#define CHART_H      106
#define GAP_FACTOR   2.5

typedef struct {
    const char *title;
    const char *unit;
    double scale;
    int field;              /* 0 loss, 1 jitter, 2 rtt, 3 mos */
    gsize threshold;        /* offset of the profile's threshold */
    const char *limit_word; /* "max" or "min" */
} ChartSpec;

static const ChartSpec charts[] = {
    {"Loss", "%", 100, 0, offsetof(Profile, thresholds.loss_ratio_max), "max"},
    {"Jitter", "ms", 1, 1, offsetof(Profile, thresholds.jitter_ms_max), "max"},
    {"RTT (median)", "ms", 1, 2, offsetof(Profile, thresholds.rtt_ms_max), "max"},
    {"MOS", "", 1, 3, offsetof(Profile, thresholds.mos_min), "min"},
};

static double field_of(const StorePathMetrics *m, int f)
{
    switch (f) {
    case 0:
        return m->loss_ratio;
    case 1:
        return m->jitter_ms;
    case 2:
        return m->rtt_ms;
    default:
        return m->mos;
    }
}

typedef struct {
    const char *run_id;
    const char *schedule;
    gint64 t;
    double v[4];
    gboolean have[4];
} Point;

/* The time frame of a pair's charts, shared by its four. */
typedef struct {
    const Point *pts;
    guint n;
    gint64 t0, t1, step; /* the axis: from, to, between ticks */
    gboolean *gap;       /* gap[i]: no run for too long before point i */
    double left, right, top, bottom;
} Frame;

static double x_of(const Frame *f, gint64 t)
{
    return f->left + (f->right - f->left) * (double)(t - f->t0) / (double)(f->t1 - f->t0);
}

static gint cmp_gint64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
    return (x > y) - (x < y);
}

/* The period of a configured cron schedule around t; 0 when it has none. */
static gint64 cron_period(Api *api, const char *schedule, gint64 t, GTimeZone *tz)
{
    for (guint i = 0; schedule && i < api->config->schedules->len; i++) {
        const ScheduleConfig *sc = api->config->schedules->pdata[i];
        if (strcmp(sc->name, schedule) != 0 || !sc->cron)
            continue;
        g_autoptr(CronSchedule) c = cron_parse(sc->cron, NULL);
        gint64 next = c ? cron_next(c, tz, t) : 0;
        gint64 after = next > 0 ? cron_next(c, tz, next) : 0;
        return after > next ? after - next : 0;
    }
    return 0;
}

/* Where the line breaks (the rule at the top of the file). */
static void find_gaps(Api *api, Frame *f)
{
    g_autoptr(GArray) steps = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 1; i < f->n; i++) {
        gint64 d = f->pts[i].t - f->pts[i - 1].t;
        g_array_append_val(steps, d);
    }
    g_array_sort(steps, cmp_gint64);
    gint64 median = steps->len ? g_array_index(steps, gint64, steps->len / 2) : 0;
    g_autoptr(GTimeZone) tz = g_time_zone_new_local();
    for (guint i = 1; i < f->n; i++) {
        gint64 expected = cron_period(api, f->pts[i].schedule, f->pts[i - 1].t, tz);
        if (!expected)
            expected = median;
        f->gap[i] = expected > 0 && f->pts[i].t - f->pts[i - 1].t > GAP_FACTOR * expected;
    }
}

/* The axis: the runs' span widened to whole steps, the step the shortest that
 * gives at most four of them over the runs, so both ends have a tick. */
static void time_frame(Frame *f, gint64 first, gint64 last)
{
    static const gint64 steps[] = {60,    120,   300,   600,   900,    1800,   3600,   7200,
                                   10800, 21600, 43200, 86400, 172800, 604800, 2592000};
    f->step = steps[G_N_ELEMENTS(steps) - 1];
    for (gsize i = 0; i < G_N_ELEMENTS(steps); i++) {
        if (last - first <= 4 * steps[i]) {
            f->step = steps[i];
            break;
        }
    }
    f->t0 = first / f->step * f->step;
    f->t1 = (last + f->step - 1) / f->step * f->step;
    if (f->t1 == f->t0)
        f->t1 += f->step;
}

static void time_axis(GString *s, const Frame *f)
{
    const char *fmt = f->step < 86400 ? "%H:%M" : "%m-%d";
    for (gint64 t = f->t0; t <= f->t1; t += f->step) {
        double x = x_of(f, t);
        g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
        g_autofree char *label = g_date_time_format(d, fmt);
        g_string_append_printf(s,
                               "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
                               "stroke=\"#bbb\"/><text x=\"%.1f\" y=\"%d\" font-size=\"9\" "
                               "text-anchor=\"middle\" fill=\"#555\">%s</text>",
                               x, f->bottom, x, f->bottom + 3, x, CHART_H - 4, label);
    }
}

static void gap_bands(GString *s, const Frame *f)
{
    for (guint i = 1; i < f->n; i++) {
        if (!f->gap[i])
            continue;
        double x0 = x_of(f, f->pts[i - 1].t), x1 = x_of(f, f->pts[i].t);
        gint64 d = f->pts[i].t - f->pts[i - 1].t;
        g_string_append_printf(s,
                               "<rect class=\"gap\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" "
                               "height=\"%.0f\" fill=\"#eee\"><title>no run for %" G_GINT64_FORMAT
                               " h %02" G_GINT64_FORMAT " min</title></rect>",
                               x0, f->top, x1 - x0, f->bottom - f->top, d / 3600, d % 3600 / 60);
    }
}

static void threshold_line(GString *s, const Frame *f, const ChartSpec *c, double thr, double lo,
                           double hi)
{
    if (isnan(thr))
        return;
    double y = f->bottom - (f->bottom - f->top) * (thr - lo) / (hi - lo);
    g_string_append_printf(s,
                           "<line class=\"threshold\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" "
                           "y2=\"%.1f\" stroke=\"#c62828\" stroke-dasharray=\"4 3\"/>"
                           "<text x=\"%.0f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"end\" "
                           "fill=\"#c62828\">%s %.3g</text>",
                           f->left, y, f->right, y, f->right, y > f->top + 10 ? y - 2 : y + 9,
                           c->limit_word, thr);
}

/* The value's range, the threshold in it; FALSE when no run has the figure. */
static gboolean value_range(const ChartSpec *c, const Frame *f, double thr, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (guint i = 0; i < f->n; i++) {
        if (!f->pts[i].have[c->field])
            continue;
        double v = f->pts[i].v[c->field] * c->scale;
        *lo = MIN(*lo, v);
        *hi = MAX(*hi, v);
    }
    if (isinf(*lo))
        return FALSE;
    if (!isnan(thr)) {
        *lo = MIN(*lo, thr);
        *hi = MAX(*hi, thr);
    }
    if (c->field == 3) {
        *lo = MIN(*lo, 1);
        *hi = MAX(*hi, 4.5);
    } else {
        *lo = MIN(*lo, 0);
    }
    if (*hi - *lo < 1e-9)
        *hi = *lo + 1;
    return TRUE;
}

static void chart(GString *s, const ChartSpec *c, const Frame *f, double thr)
{
    double lo, hi;
    g_string_append_printf(s, "<div class=\"chart\"><div>%s%s%s%s</div>", c->title,
                           *c->unit ? " (" : "", c->unit, *c->unit ? ")" : "");
    g_string_append_printf(s, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
                           CHART_W, CHART_H, CHART_W, CHART_H);
    if (!value_range(c, f, thr, &lo, &hi)) {
        g_string_append(s, "<text x=\"8\" y=\"50\" fill=\"#777\">no data</text></svg></div>");
        return;
    }
    g_string_append_printf(s,
                           "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#bbb\"/>"
                           "<text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text>"
                           "<text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text>",
                           f->left, f->bottom, f->right, f->bottom, f->top + 8, hi, f->bottom, lo);
    gap_bands(s, f);
    time_axis(s, f);
    threshold_line(s, f, c, thr, lo, hi);
    GString *dots = g_string_new(NULL);
    gboolean open = FALSE;
    for (guint i = 0; i < f->n; i++) {
        if (!f->pts[i].have[c->field])
            continue;
        double v = f->pts[i].v[c->field] * c->scale;
        double x = x_of(f, f->pts[i].t);
        double y = f->bottom - (f->bottom - f->top) * (v - lo) / (hi - lo);
        if (open && f->gap[i]) {
            g_string_append(s, "\"/>");
            open = FALSE;
        }
        g_string_append_printf(s, "%s%.1f,%.1f",
                               open ? " "
                                    : "<polyline fill=\"none\" stroke=\"#1565c0\" "
                                      "stroke-width=\"1.5\" points=\"",
                               x, y);
        open = TRUE;
        g_autofree char *t = status_when(f->pts[i].t);
        g_string_append_printf(dots, "<a href=\"/runs/");
        status_esc(dots, f->pts[i].run_id);
        g_string_append_printf(dots,
                               "\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1565c0\">"
                               "<title>%s: %.3g</title></circle></a>",
                               x, y, t, v);
    }
    if (open)
        g_string_append(s, "\"/>");
    g_string_append_len(s, dots->str, dots->len);
    g_string_free(dots, TRUE);
    g_string_append(s, "</svg></div>");
}

/* The runs' points: the natural path as side a saw it. */
static Point *points_of(Api *api, GPtrArray *runs, guint *n)
{
    Point *pts = g_new0(Point, runs->len + 1);
    *n = 0;
    for (guint i = runs->len; i-- > 0;) {
        const StoreRun *r = runs->pdata[i];
        g_autoptr(GPtrArray) ms = store_path_metrics(api->store, r->id, NULL);
        Point *p = &pts[(*n)++];
        p->run_id = r->id;
        p->schedule = r->schedule;
        p->t = r->finished_at;
        for (guint k = 0; ms && k < ms->len; k++) {
            const StorePathMetrics *m = ms->pdata[k];
            if (strcmp(m->path, "natural") != 0 || strcmp(m->side, "a") != 0 || !m->have_metrics)
                continue;
            for (int f = 0; f < 4; f++) {
                p->v[f] = field_of(m, f);
                p->have[f] = f != 2 || m->rtt_ms >= 0;
            }
        }
    }
    return pts;
}

void status_history(GString *s, Api *api, const StoreRun *latest)
{
    g_autoptr(GPtrArray) runs = store_history(api->store, latest->profile, latest->agent[0],
                                              latest->agent[1], HISTORY_RUNS, NULL);
    if (!runs)
        return;
    Frame f = {.left = 44, .right = CHART_W - 16, .top = 6, .bottom = CHART_H - 20};
    g_autofree Point *pts = points_of(api, runs, &f.n);
    g_autofree gboolean *gap = g_new0(gboolean, f.n + 1);
    f.pts = pts;
    f.gap = gap;
    time_frame(&f, f.n ? pts[0].t : 0, f.n ? pts[f.n - 1].t : 0);
    find_gaps(api, &f);
    g_string_append(s, "<h2>");
    status_pair_title(s, latest);
    g_string_append_printf(s,
                           " <span class=\"muted\">(natural path, side a; last %u runs; times "
                           "UTC)</span></h2><div class=\"charts\">",
                           f.n);
    const ControllerProfile *cp = config_profile(api->config, latest->profile);
    for (gsize i = 0; i < G_N_ELEMENTS(charts); i++) {
        double thr = NAN;
        if (cp && cp->profile)
            thr = *(const double *)((const char *)cp->profile + charts[i].threshold) *
                  charts[i].scale;
        chart(s, &charts[i], &f, thr);
    }
    g_string_append(s, "</div>");
}
