/* The pacer's clock and precision, Windows side (timer.h). The 1 ms period
 * holds for the life of the process (the pacer's thread lives as long). */
#include "timer.h"

#include <windows.h>
#include <timeapi.h>

gint64 timer_now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

void timer_precise_thread(void)
{
    timeBeginPeriod(1);
}
