/* Stopping (probe/platform/stopping.h): which event stops the process in a
 * console and as a Windows service, the watch those events go through (the
 * platform's own side: Linux here, Windows under Wine in the suite windows),
 * and the order of a service's status reports. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "stopping.h"

static int reset_mode(void **state)
{
    (void)state;
    stopping_set_mode(STOP_MODE_CONSOLE);
    return 0;
}

static void test_a_console_program_stops_on_every_event(void **state)
{
    (void)state;
    for (int ev = 0; ev < STOP_EVENT_COUNT; ev++)
        assert_int_not_equal(stopping_decide(STOP_MODE_CONSOLE, ev), STOP_IGNORE);
    /* Windows ends the process once these return: held until the agent has finished. */
    assert_int_equal(stopping_decide(STOP_MODE_CONSOLE, STOP_EVENT_CONSOLE_CLOSE), STOP_AND_HOLD);
    assert_int_equal(stopping_decide(STOP_MODE_CONSOLE, STOP_EVENT_LOGOFF), STOP_AND_HOLD);
    assert_int_equal(stopping_decide(STOP_MODE_CONSOLE, STOP_EVENT_SYSTEM_SHUTDOWN), STOP_AND_HOLD);
    assert_int_equal(stopping_decide(STOP_MODE_CONSOLE, STOP_EVENT_INTERRUPT), STOP_NOW);
}

static void test_a_service_ignores_the_console_events(void **state)
{
    (void)state;
    static const StopEvent console[] = {STOP_EVENT_INTERRUPT, STOP_EVENT_BREAK,
                                        STOP_EVENT_CONSOLE_CLOSE, STOP_EVENT_LOGOFF,
                                        STOP_EVENT_SYSTEM_SHUTDOWN};
    for (gsize i = 0; i < G_N_ELEMENTS(console); i++)
        assert_int_equal(stopping_decide(STOP_MODE_SERVICE, console[i]), STOP_IGNORE);
}

static void test_a_service_stops_when_the_service_manager_says_so(void **state)
{
    (void)state;
    assert_int_equal(stopping_decide(STOP_MODE_SERVICE, STOP_EVENT_SERVICE_STOP), STOP_NOW);
    assert_int_equal(stopping_decide(STOP_MODE_SERVICE, STOP_EVENT_SERVICE_SHUTDOWN), STOP_NOW);
}

/* The system's shutdown comes to a service that accepts it as PRESHUTDOWN first,
 * and waits for it: the agent stops then, as on STOP, and finishes its spool's
 * write. */
static void test_a_service_stops_on_the_shutdowns_preshutdown(void **state)
{
    (void)state;
    assert_int_equal(stopping_decide(STOP_MODE_SERVICE, STOP_EVENT_SERVICE_PRESHUTDOWN), STOP_NOW);
    assert_string_equal(stopping_event_name(STOP_EVENT_SERVICE_PRESHUTDOWN),
                        "SERVICE_CONTROL_PRESHUTDOWN");
    stopping_set_mode(STOP_MODE_SERVICE);
    GCancellable *stop = g_cancellable_new();
    StopSignals *s = stop_signals_new(stop);
    assert_true(stop_signals_deliver(STOP_EVENT_SERVICE_PRESHUTDOWN));
    assert_true(g_cancellable_is_cancelled(stop));
    assert_int_equal(stopping_last_event(), STOP_EVENT_SERVICE_PRESHUTDOWN);
    stop_signals_free(s);
    g_object_unref(stop);
}

static void test_a_service_stop_cancels_the_watch(void **state)
{
    (void)state;
    stopping_set_mode(STOP_MODE_SERVICE);
    GCancellable *stop = g_cancellable_new();
    StopSignals *s = stop_signals_new(stop);
    assert_false(g_cancellable_is_cancelled(stop));
    assert_true(stop_signals_deliver(STOP_EVENT_SERVICE_STOP));
    assert_true(g_cancellable_is_cancelled(stop));
    assert_non_null(strstr(stop_signals_words(), "SERVICE_CONTROL_STOP"));
    stop_signals_free(s);
    g_object_unref(stop);
}

static void test_a_log_off_does_not_stop_a_service(void **state)
{
    (void)state;
    stopping_set_mode(STOP_MODE_SERVICE);
    GCancellable *stop = g_cancellable_new();
    StopSignals *s = stop_signals_new(stop);
    assert_false(stop_signals_deliver(STOP_EVENT_LOGOFF));
    assert_false(stop_signals_deliver(STOP_EVENT_SYSTEM_SHUTDOWN));
    assert_false(stop_signals_deliver(STOP_EVENT_INTERRUPT));
    assert_false(g_cancellable_is_cancelled(stop));
    /* The same event stops a program in a console. */
    stopping_set_mode(STOP_MODE_CONSOLE);
    assert_true(stop_signals_deliver(STOP_EVENT_LOGOFF));
    assert_true(g_cancellable_is_cancelled(stop));
    stop_signals_free(s);
    g_object_unref(stop);
}

/* The service manager may stop the service while the agent is still starting,
 * before it has made its watch: the watch, once made, is stopped at once. */
static void test_a_stop_before_the_watch_stops_it_at_once(void **state)
{
    (void)state;
    stopping_set_mode(STOP_MODE_SERVICE);
    assert_true(stop_signals_deliver(STOP_EVENT_SERVICE_SHUTDOWN));
    GCancellable *stop = g_cancellable_new();
    StopSignals *s = stop_signals_new(stop);
    assert_true(g_cancellable_is_cancelled(stop));
    stop_signals_free(s);
    g_object_unref(stop);
    /* Once: the next watch is not stopped by it. */
    GCancellable *next = g_cancellable_new();
    s = stop_signals_new(next);
    assert_false(g_cancellable_is_cancelled(next));
    stop_signals_free(s);
    g_object_unref(next);
}

static void test_a_service_s_life_is_reported_in_order(void **state)
{
    (void)state;
    static const ServiceState life[] = {SERVICE_STATE_START_PENDING, SERVICE_STATE_START_PENDING,
                                        SERVICE_STATE_RUNNING,       SERVICE_STATE_STOP_PENDING,
                                        SERVICE_STATE_STOP_PENDING,  SERVICE_STATE_STOPPED};
    ServiceState last = SERVICE_STATE_NONE;
    for (gsize i = 0; i < G_N_ELEMENTS(life); i++) {
        assert_true(service_state_may_follow(last, life[i]));
        last = life[i];
    }
}

static void test_nothing_is_reported_after_stopped(void **state)
{
    (void)state;
    for (int st = SERVICE_STATE_NONE; st <= SERVICE_STATE_STOPPED; st++)
        assert_false(service_state_may_follow(SERVICE_STATE_STOPPED, st));
    /* And once a stop began, the service does not run again. */
    assert_false(service_state_may_follow(SERVICE_STATE_STOP_PENDING, SERVICE_STATE_RUNNING));
    assert_false(service_state_may_follow(SERVICE_STATE_STOP_PENDING, SERVICE_STATE_START_PENDING));
    assert_false(service_state_may_follow(SERVICE_STATE_NONE, SERVICE_STATE_STOP_PENDING));
}

/* What a sink was told, in order. */
typedef struct {
    GMutex lock;
    GArray *states;
    GArray *checkpoints;
} Told;

static gboolean record(ServiceState st, guint checkpoint, gpointer data)
{
    Told *t = data;
    g_mutex_lock(&t->lock);
    g_array_append_val(t->states, st);
    g_array_append_val(t->checkpoints, checkpoint);
    g_mutex_unlock(&t->lock);
    g_thread_yield(); /* SetServiceStatus takes its time: let the other thread in */
    return TRUE;
}

typedef struct {
    ServiceReporter *r;
    gint *go;
} Hammer;

/* The control handler's side: a stop asked for again and again. */
static gpointer stop_pending_hammer(gpointer data)
{
    Hammer *h = data;
    while (!g_atomic_int_get(h->go))
        g_thread_yield();
    for (int i = 0; i < 2000; i++)
        service_reporter_report(h->r, SERVICE_STATE_STOP_PENDING);
    return NULL;
}

/* service_main's side reports STOPPED while the control handler reports
 * STOP_PENDING: whatever the interleaving, STOPPED is the last report, and the
 * pending reports' checkpoints grow. */
static void test_stop_pending_never_goes_out_after_stopped(void **state)
{
    (void)state;
    for (int round = 0; round < 50; round++) {
        Told t = {.states = g_array_new(FALSE, FALSE, sizeof(ServiceState)),
                  .checkpoints = g_array_new(FALSE, FALSE, sizeof(guint))};
        g_mutex_init(&t.lock);
        ServiceReporter r;
        service_reporter_init(&r, record, &t);
        assert_true(service_reporter_report(&r, SERVICE_STATE_START_PENDING));
        assert_true(service_reporter_report(&r, SERVICE_STATE_RUNNING));
        gint go = 0;
        Hammer h = {&r, &go};
        GThread *th = g_thread_new("handler", stop_pending_hammer, &h);
        g_atomic_int_set(&go, 1);
        for (int i = 0; i < round * 10; i++)
            g_thread_yield();
        assert_true(service_reporter_report(&r, SERVICE_STATE_STOPPED));
        g_thread_join(th);
        assert_false(service_reporter_report(&r, SERVICE_STATE_STOP_PENDING));
        ServiceState lastst = g_array_index(t.states, ServiceState, t.states->len - 1);
        assert_int_equal(lastst, SERVICE_STATE_STOPPED);
        guint cp = 0;
        for (guint i = 2; i + 1 < t.states->len; i++) {
            assert_int_equal(g_array_index(t.states, ServiceState, i), SERVICE_STATE_STOP_PENDING);
            assert_true(g_array_index(t.checkpoints, guint, i) > cp);
            cp = g_array_index(t.checkpoints, guint, i);
        }
        service_reporter_clear(&r);
        g_mutex_clear(&t.lock);
        g_array_unref(t.states);
        g_array_unref(t.checkpoints);
    }
}

/* A sink that refuses (SetServiceStatus failed) leaves the last state as it was. */
static gboolean refuse(ServiceState st, guint checkpoint, gpointer data)
{
    return st != SERVICE_STATE_RUNNING;
}

static void test_a_refused_report_is_not_the_last_state(void **state)
{
    (void)state;
    ServiceReporter r;
    service_reporter_init(&r, refuse, NULL);
    assert_true(service_reporter_report(&r, SERVICE_STATE_START_PENDING));
    assert_false(service_reporter_report(&r, SERVICE_STATE_RUNNING));
    assert_int_equal(r.last, SERVICE_STATE_START_PENDING);
    assert_true(service_reporter_report(&r, SERVICE_STATE_STOPPED));
    service_reporter_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_console_program_stops_on_every_event),
        cmocka_unit_test(test_a_service_ignores_the_console_events),
        cmocka_unit_test(test_a_service_stops_when_the_service_manager_says_so),
        cmocka_unit_test_teardown(test_a_service_stops_on_the_shutdowns_preshutdown, reset_mode),
        cmocka_unit_test_teardown(test_a_service_stop_cancels_the_watch, reset_mode),
        cmocka_unit_test_teardown(test_a_log_off_does_not_stop_a_service, reset_mode),
        cmocka_unit_test_teardown(test_a_stop_before_the_watch_stops_it_at_once, reset_mode),
        cmocka_unit_test(test_a_service_s_life_is_reported_in_order),
        cmocka_unit_test(test_nothing_is_reported_after_stopped),
        cmocka_unit_test(test_stop_pending_never_goes_out_after_stopped),
        cmocka_unit_test(test_a_refused_report_is_not_the_last_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
