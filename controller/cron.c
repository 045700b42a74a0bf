#include "cron.h"

#include <string.h>

G_DEFINE_QUARK(iceprobe - cron - error - quark, cron_error)

struct CronSchedule {
    guint64 minute; /* bit n: minute n */
    guint32 hour, dom, month;
    guint8 dow; /* bit 0 Sunday .. bit 6 Saturday */
    gboolean dom_any, dow_any;
};

typedef struct {
    const char *name;
    guint min, max;
} FieldSpec;

static const FieldSpec fields[] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

static gboolean parse_number(const char *s, guint min, guint max, guint *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL))
        return FALSE;
    *out = (guint)v;
    return TRUE;
}

/* One comma-separated item: '*', 'n', 'a-b', each optionally '/step'. */
static gboolean parse_item(const char *item, const FieldSpec *f, guint64 *bits)
{
    g_auto(GStrv) step_split = g_strsplit(item, "/", 2);
    guint step = 1, lo = f->min, hi = f->max;
    if (step_split[1] && !parse_number(step_split[1], 1, f->max + 1, &step))
        return FALSE;
    const char *range = step_split[0];
    if (strcmp(range, "*") != 0) {
        g_auto(GStrv) r = g_strsplit(range, "-", 2);
        if (!parse_number(r[0], f->min, f->max, &lo))
            return FALSE;
        hi = lo;
        if (r[1] && !parse_number(r[1], f->min, f->max, &hi))
            return FALSE;
        if (hi < lo)
            return FALSE;
        if (step_split[1] && !r[1])
            hi = f->max; /* "5/15": from 5 on, as Vixie cron reads it */
    }
    for (guint v = lo; v <= hi; v += step)
        *bits |= G_GUINT64_CONSTANT(1) << v;
    return TRUE;
}

CronSchedule *cron_parse(const char *expr, GError **error)
{
    g_return_val_if_fail(expr, NULL);
    g_autofree char *copy = g_strstrip(g_strdup(expr));
    g_auto(GStrv) parts = g_strsplit_set(copy, " \t", -1);
    g_autoptr(GPtrArray) f = g_ptr_array_new();
    for (char **p = parts; *p; p++) {
        if (**p)
            g_ptr_array_add(f, *p);
    }
    if (f->len != 5) {
        g_set_error(error, CRON_ERROR, CRON_ERROR_FIELDS,
                    "'%s' has %u fields; a schedule has five (minute hour day month weekday)", expr,
                    f->len);
        return NULL;
    }
    guint64 bits[5] = {0};
    for (guint i = 0; i < 5; i++) {
        g_auto(GStrv) items = g_strsplit(f->pdata[i], ",", 64);
        for (char **it = items; *it; it++) {
            if (!parse_item(*it, &fields[i], &bits[i])) {
                g_set_error(error, CRON_ERROR, CRON_ERROR_VALUE,
                            "'%s': the %s field '%s' is not valid (%u-%u)", expr, fields[i].name,
                            *it, fields[i].min, fields[i].max);
                return NULL;
            }
        }
    }
    CronSchedule *c = g_new0(CronSchedule, 1);
    c->minute = bits[0];
    c->hour = (guint32)bits[1];
    c->dom = (guint32)bits[2];
    c->month = (guint32)bits[3];
    c->dow = (guint8)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    c->dom_any = strcmp(f->pdata[2], "*") == 0 || g_str_has_prefix(f->pdata[2], "*/");
    c->dow_any = strcmp(f->pdata[4], "*") == 0 || g_str_has_prefix(f->pdata[4], "*/");
    return c;
}

void cron_free(CronSchedule *c)
{
    g_free(c);
}

static gboolean day_matches(const CronSchedule *c, GDateTime *day)
{
    if (!(c->month & (1u << g_date_time_get_month(day))))
        return FALSE;
    gboolean dom = (c->dom >> g_date_time_get_day_of_month(day)) & 1;
    gboolean dow = (c->dow >> (g_date_time_get_day_of_week(day) % 7)) & 1;
    if (c->dom_any && c->dow_any)
        return TRUE;
    if (c->dom_any)
        return dow;
    if (c->dow_any)
        return dom;
    return dom || dow;
}

gint64 cron_next(const CronSchedule *c, GTimeZone *tz, gint64 after)
{
    g_return_val_if_fail(c && tz, 0);
    g_autoptr(GDateTime) start_utc = g_date_time_new_from_unix_utc(after);
    g_autoptr(GDateTime) start = g_date_time_to_timezone(start_utc, tz);
    int y = g_date_time_get_year(start), m = g_date_time_get_month(start),
        d = g_date_time_get_day_of_month(start);
    /* Walk local calendar days; within a day, the wall times in order. GLib maps a
     * wall time in a gap forward past it, and an ambiguous one to its standard-time
     * instant, so instants grow with wall times and the first one after `after`
     * is the answer; a repeated hour yields one instant, hence one firing. */
    GDate *date = g_date_new_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y);
    gint64 found = 0;
    for (int i = 0; i < 366 * 8 && !found; i++, g_date_add_days(date, 1)) {
        g_autoptr(GDateTime) noon = g_date_time_new(
            tz, g_date_get_year(date), g_date_get_month(date), g_date_get_day(date), 12, 0, 0);
        if (!noon || !day_matches(c, noon))
            continue;
        for (int h = 0; h < 24 && !found; h++) {
            if (!(c->hour & (1u << h)))
                continue;
            for (int mi = 0; mi < 60; mi++) {
                if (!(c->minute & (G_GUINT64_CONSTANT(1) << mi)))
                    continue;
                g_autoptr(GDateTime) t =
                    g_date_time_new(tz, g_date_get_year(date), g_date_get_month(date),
                                    g_date_get_day(date), h, mi, 0);
                if (t && g_date_time_to_unix(t) > after) {
                    found = g_date_time_to_unix(t);
                    break;
                }
            }
        }
    }
    g_date_free(date);
    return found;
}
