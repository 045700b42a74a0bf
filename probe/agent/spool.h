/* The agent's spool: a report is written here before it is uploaded (fsync,
 * atomic rename, fsync of the directory), uploaded with retries (exponential
 * backoff with jitter, a time to live), and deleted only once the controller
 * acknowledged it. A report the disk cannot take is kept in memory and retried
 * from there. Every failed attempt's reason is kept: in the log, and in
 * status.json beside the reports (`iceprobe agent --status`).
 *
 * DIR/RUN_ID.json        a report waiting for its acknowledgement
 * DIR/rejected/RUN_ID.json  one the controller refused for good, or too old,
 *                        with RUN_ID.why beside it
 * DIR/status.json        the pending reports, their attempts and last errors */
#pragma once

#include <glib.h>

#define SPOOL_ERROR (spool_error_quark())
GQuark spool_error_quark(void);
typedef enum {
    SPOOL_ERROR_IO,     /* the directory or a file cannot be created or written */
    SPOOL_ERROR_FORMAT, /* the status file is not the agent's */
} SpoolError;

typedef struct Spool Spool;

typedef enum {
    SPOOL_SENT,     /* acknowledged: delete it */
    SPOOL_RETRY,    /* try again later */
    SPOOL_REJECTED, /* refused for good (the run is over, the document is bad) */
} SpoolOutcome;

/* Uploads one report; *why gets the reason of a failure. */
typedef SpoolOutcome (*SpoolSendFn)(const char *run_id, const char *doc, char **why, gpointer data);

/* Opens (creating, mode 0700) the directory and takes up what a previous agent
 * left there. ttl_s: a report older than this is given up (moved to rejected/). */
Spool *spool_open(const char *dir, guint ttl_s, GError **error);
void spool_free(Spool *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Spool, spool_free)

/* Keeps a report. FALSE (with the reason) when the disk would not take it: it
 * is then held in memory, and still uploaded. A run already held is not added twice. */
gboolean spool_put(Spool *s, const char *run_id, const char *doc, GError **error);
gboolean spool_has(const Spool *s, const char *run_id);
guint spool_pending(const Spool *s);
/* Tries every report that is due; returns how many are still pending. */
guint spool_flush(Spool *s, SpoolSendFn send, gpointer data);
/* Every report due now (a last try before the agent exits). */
void spool_make_due(Spool *s);
/* Seconds until the next report is due (0: now; G_MAXINT when there is none). */
gint spool_next_due_s(const Spool *s);
/* The last failure, for the agent's log (NULL if none). */
const char *spool_last_error(const Spool *s);

/* `iceprobe agent --status`: what the spool directory holds, in words. */
char *spool_status_text(const char *dir, GError **error);
