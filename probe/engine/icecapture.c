/* Routes libnice's debug lines to the IceLog of the agent each names. The
 * STUN library's lines (domain "libnice-stun") name no agent; the one kept is
 * an error answer's code, which libnice's own line about that answer follows
 * at once on the same thread (stun_usage_ice_conncheck_process, then
 * conncheck.c:3598; stun_usage_turn_process, then conncheck.c:4051): it is
 * held per thread and handed over with that thread's next libnice line. */
#include "icecapture.h"

#include <nice/debug.h>
#include <string.h>

typedef struct {
    GMutex lock;
    GHashTable *logs; /* NiceAgent * -> IceLog */
    guint attached;
    gboolean forward_debug; /* G_MESSAGES_DEBUG is set: the user reads debug output */
    gboolean user_debug;    /* the user turned libnice's debugging on: leave it on */
} Capture;

static Capture capture;
static GPrivate stun_code; /* this thread's last STUN error code, as a pointer */

gboolean icecapture_enabled(void)
{
    return g_strcmp0(g_getenv("ICEPROBE_ICE_RECORD"), "off") != 0;
}

static void route(const char *message)
{
    guint code = GPOINTER_TO_UINT(g_private_get(&stun_code));
    if (code)
        g_private_set(&stun_code, NULL);
    guint64 agent;
    const char *rest;
    if (!icelog_agent_of(message, &agent, &rest))
        return;
    g_mutex_lock(&capture.lock);
    IceLog *l = g_hash_table_lookup(capture.logs, (gpointer)(guintptr)agent);
    if (l)
        icelog_feed(l, rest, code);
    g_mutex_unlock(&capture.lock);
}

void icecapture_line(const char *domain, const char *message)
{
    guint code;
    if (!message || !capture.logs)
        return;
    if (g_strcmp0(domain, "libnice-stun") != 0)
        route(message);
    else if (icelog_stun_error_code(message, &code) && code)
        g_private_set(&stun_code, GUINT_TO_POINTER(code));
}

static void on_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    if (level & G_LOG_LEVEL_DEBUG) {
        icecapture_line(domain, message);
        if (!capture.forward_debug)
            return;
    }
    g_log_default_handler(domain, level, message, data);
}

static gpointer install(gpointer data)
{
    capture.logs =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)icelog_free);
    capture.forward_debug = g_getenv("G_MESSAGES_DEBUG") != NULL;
    capture.user_debug = g_getenv("NICE_DEBUG") != NULL || capture.forward_debug;
    GLogLevelFlags all = G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION;
    g_log_set_handler("libnice", all, on_log, NULL);
    g_log_set_handler("libnice-stun", all, on_log, NULL);
    return NULL;
}

void icecapture_attach(gconstpointer agent)
{
    static GOnce once = G_ONCE_INIT;
    g_return_if_fail(agent);
    g_once(&once, install, NULL);
    g_mutex_lock(&capture.lock);
    if (!g_hash_table_contains(capture.logs, agent)) {
        g_hash_table_insert(capture.logs, (gpointer)agent, icelog_new());
        /* With STUN: its error answers' codes (the line above). */
        if (capture.attached++ == 0)
            nice_debug_enable(TRUE);
    }
    g_mutex_unlock(&capture.lock);
}

void icecapture_detach(gconstpointer agent)
{
    if (!agent || !capture.logs)
        return;
    g_mutex_lock(&capture.lock);
    if (g_hash_table_remove(capture.logs, agent) && --capture.attached == 0 && !capture.user_debug)
        nice_debug_disable(TRUE);
    g_mutex_unlock(&capture.lock);
}

IceLog *icecapture_copy(gconstpointer agent)
{
    if (!agent || !capture.logs)
        return NULL;
    g_mutex_lock(&capture.lock);
    IceLog *l = g_hash_table_lookup(capture.logs, agent);
    IceLog *copy = l ? icelog_copy(l) : NULL;
    g_mutex_unlock(&capture.lock);
    return copy;
}
