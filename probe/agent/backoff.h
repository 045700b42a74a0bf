/* The one backoff of the agent's retries (its calls to the controller, the
 * spool's uploads, the mailbox's signals): the first wait doubled with each
 * failure up to a cap, spread by a jitter so that a fleet of agents does not
 * retry in step. */
#pragma once

#include <glib.h>

typedef struct {
    guint first_ms; /* the wait after the first failure */
    guint max_ms;   /* the cap */
    double jitter;  /* each wait is spread over ±jitter of itself (0: none) */
} Backoff;

/* The wait after the n-th failure in a row (n >= 1; 0 counts as 1). */
guint backoff_ms(const Backoff *b, guint n);
