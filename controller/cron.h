/* Five-field cron schedules (minute hour day-of-month month day-of-week), in a
 * time zone. Fields take '*', numbers, ranges 'a-b', steps '*\/n' or 'a-b/n',
 * and comma lists; day-of-week 0-7 (0 and 7 are Sunday); month and day names are
 * not needed by docs/contract.md and are refused. When both day fields are restricted, a
 * day matching either one fires (as Vixie cron does).
 *
 * Daylight saving: a wall time that does not exist (the hour skipped in spring)
 * fires at the first minute after the gap; a wall time that happens twice (the
 * hour repeated in autumn) fires once. */
#pragma once

#include <glib.h>

typedef struct CronSchedule CronSchedule;

#define CRON_ERROR (cron_error_quark())
GQuark cron_error_quark(void);
typedef enum {
    CRON_ERROR_FIELDS, /* not five fields */
    CRON_ERROR_VALUE,  /* a field's item is malformed or out of range */
} CronError;

CronSchedule *cron_parse(const char *expr, GError **error);
void cron_free(CronSchedule *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CronSchedule, cron_free)

/* The first firing strictly after `after` (Unix seconds), or 0 if none within
 * eight years (a day that never comes, like 31 February). */
gint64 cron_next(const CronSchedule *c, GTimeZone *tz, gint64 after);
