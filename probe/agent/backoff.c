#include "backoff.h"

guint backoff_ms(const Backoff *b, guint n)
{
    g_return_val_if_fail(b && b->first_ms > 0, 0);
    guint doublings = MIN(n ? n - 1 : 0, 20u);
    guint64 ms = MIN((guint64)b->first_ms << doublings, (guint64)b->max_ms);
    if (b->jitter > 0)
        ms = (guint64)((double)ms * g_random_double_range(1.0 - b->jitter, 1.0 + b->jitter));
    return (guint)MAX(ms, 1);
}
