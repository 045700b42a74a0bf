/* The pacer's clock and precision, Linux side (timer.h). */
#include "timer.h"

#include <sys/prctl.h>
#include <time.h>

gint64 timer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void timer_precise_thread(void)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}
