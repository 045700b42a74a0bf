/* Agents and schedules, behind store.h (the databases: store_db.c). */
#include <string.h>

#include "store-private.h"

/* ---- agents ---- */

void store_agent_free(StoreAgent *a)
{
    if (!a)
        return;
    g_free(a->name);
    g_strfreev(a->groups);
    g_free(a->version);
    g_free(a->interfaces);
    g_free(a->vpn);
    g_free(a->net_event);
    g_free(a);
}

gboolean store_agent_in_group(const StoreAgent *a, const char *group)
{
    return g_strv_contains((const char *const *)a->groups, group);
}

#define AGENT_COLUMNS "name, groups, created_at, last_seen, version, interfaces, vpn, net_event"

static gpointer agent_from_row(StoreStmt *st)
{
    StoreAgent *a = g_new0(StoreAgent, 1);
    a->name = store_col_text(st, 0);
    g_autofree char *groups = store_col_text(st, 1);
    a->groups = g_strsplit(groups ? groups : "", ",", -1);
    if (!groups || !*groups) {
        g_strfreev(a->groups);
        a->groups = g_new0(char *, 1);
    }
    a->created_at = store_col_int(st, 2);
    a->last_seen = store_col_int(st, 3);
    a->version = store_col_text(st, 4);
    a->interfaces = store_col_text(st, 5);
    a->vpn = store_col_text(st, 6);
    a->net_event = store_col_text(st, 7);
    return a;
}

gboolean store_agent_add(Store *s, const char *name, const char *const *groups,
                         const char *token_hash, gint64 now, GError **error)
{
    g_return_val_if_fail(s && name && token_hash, FALSE);
    g_autofree char *joined = g_strjoinv(",", (char **)groups);
    StoreStmt *st = store_q(s, error,
                            "INSERT INTO agents (name, groups, token_hash, created_at) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            "sssi", name, joined, token_hash, now);
    if (!store_done(s, st, error))
        return FALSE;
    if (store_changes(s) == 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_EXISTS, "an agent named '%s' exists already",
                    name);
        return FALSE;
    }
    return TRUE;
}

gboolean store_agent_remove(Store *s, const char *name, GError **error)
{
    if (!store_done(s, store_q(s, error, "DELETE FROM agents WHERE name = ?", "s", name), error))
        return FALSE;
    if (store_changes(s) == 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no agent named '%s'", name);
        return FALSE;
    }
    return TRUE;
}

static StoreAgent *agent_query(Store *s, StoreStmt *st, const char *what, GError **error)
{
    if (!st)
        return NULL;
    g_autoptr(GError) e = NULL;
    StoreAgent *a = store_step(st, &e) ? agent_from_row(st) : NULL;
    store_reset(st);
    if (e)
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read agent: ");
    else if (!a)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no agent %s", what);
    return a;
}

StoreAgent *store_agent_by_token_hash(Store *s, const char *token_hash, GError **error)
{
    return agent_query(s,
                       store_q(s, error,
                               "SELECT " AGENT_COLUMNS " FROM agents WHERE token_hash = ?", "s",
                               token_hash),
                       "with that token", error);
}

StoreAgent *store_agent_by_name(Store *s, const char *name, GError **error)
{
    g_autofree char *what = g_strdup_printf("named '%s'", name);
    return agent_query(
        s, store_q(s, error, "SELECT " AGENT_COLUMNS " FROM agents WHERE name = ?", "s", name),
        what, error);
}

GPtrArray *store_agent_list(Store *s, GError **error)
{
    return store_rows(s,
                      store_q(s, error, "SELECT " AGENT_COLUMNS " FROM agents ORDER BY name", ""),
                      agent_from_row, (GDestroyNotify)store_agent_free, "list agents", error);
}

static gpointer text_from_row(StoreStmt *st)
{
    return store_col_text(st, 0);
}

GPtrArray *store_agents_in_group(Store *s, const char *group, GError **error)
{
    /* groups is a comma-joined list of names (names hold no comma) */
    StoreStmt *st =
        store_q(s, error,
                "SELECT name FROM agents WHERE ',' || groups || ',' LIKE '%,' || ? || ',%' "
                "ORDER BY name",
                "s", group);
    return store_rows(s, st, text_from_row, g_free, "list a group", error);
}

gboolean store_agent_seen(Store *s, const char *name, gint64 now, const char *version,
                          const char *interfaces_json, const char *vpn_json, GError **error)
{
    StoreStmt *st =
        store_q(s, error,
                "UPDATE agents SET last_seen = ?, version = COALESCE(?, version), "
                "interfaces = COALESCE(?, interfaces), vpn = ? WHERE name = ?",
                "issss", now, version, interfaces_json, vpn_json, name);
    return store_done(s, st, error);
}

gboolean store_agent_network_event(Store *s, const char *name, const char *event_id,
                                   const char *event_json, gboolean *is_new, GError **error)
{
    *is_new = FALSE;
    StoreStmt *st = store_q(s, error,
                            "UPDATE agents SET net_event_id = ?, net_event = ? WHERE name = ? AND "
                            "(net_event_id IS NULL OR net_event_id <> ?)",
                            "ssss", event_id, event_json, name, event_id);
    if (!store_done(s, st, error))
        return FALSE;
    *is_new = store_changes(s) == 1;
    return TRUE;
}

gboolean store_agents_seen(Store *s, GHashTable *seen, GError **error)
{
    if (g_hash_table_size(seen) == 0)
        return TRUE;
    if (!store_begin(s, error))
        return FALSE;
    GHashTableIter it;
    gpointer name, when;
    g_hash_table_iter_init(&it, seen);
    while (g_hash_table_iter_next(&it, &name, &when)) {
        StoreStmt *st = store_q(s, error, "UPDATE agents SET last_seen = ? WHERE name = ?", "is",
                                *(gint64 *)when, (const char *)name);
        if (!store_done(s, st, error)) {
            store_rollback(s);
            return FALSE;
        }
    }
    return store_commit(s, error);
}

/* ---- schedules ---- */

gboolean store_schedule_last_fire(Store *s, const char *name, gint64 *out, GError **error)
{
    StoreStmt *st = store_q(s, error, "SELECT last_fire FROM schedules WHERE name = ?", "s", name);
    if (!st)
        return FALSE;
    g_autoptr(GError) e = NULL;
    *out = store_step(st, &e) ? store_col_int(st, 0) : 0;
    store_reset(st);
    if (e) {
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read schedule: ");
        return FALSE;
    }
    return TRUE;
}

gboolean store_schedule_set_last_fire(Store *s, const char *name, gint64 when, GError **error)
{
    return store_done(s,
                      store_q(s, error,
                              "INSERT INTO schedules (name, last_fire) VALUES (?, ?) "
                              "ON CONFLICT (name) DO UPDATE SET last_fire = excluded.last_fire",
                              "si", name, when),
                      error);
}

gboolean store_schedule_claim(Store *s, const char *name, gint64 seen, gint64 when, gboolean *won,
                              GError **error)
{
    *won = FALSE;
    StoreStmt *st =
        seen ? store_q(s, error,
                       "UPDATE schedules SET last_fire = ? WHERE name = ? AND last_fire = ?", "isi",
                       when, name, seen)
             : store_q(
                   s, error,
                   "INSERT INTO schedules (name, last_fire) VALUES (?, ?) ON CONFLICT DO NOTHING",
                   "si", name, when);
    if (!store_done(s, st, error))
        return FALSE;
    *won = store_changes(s) == 1;
    return TRUE;
}

gboolean store_event_claim(Store *s, const char *schedule, const char *agent, gint64 now,
                           guint min_interval_s, gboolean *won, GError **error)
{
    *won = FALSE;
    if (!store_done(s,
                    store_q(s, error,
                            "INSERT INTO event_fires (schedule, agent, last_fire) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING",
                            "ssi", schedule, agent, now),
                    error))
        return FALSE;
    if (store_changes(s) == 1) {
        *won = TRUE;
        return TRUE;
    }
    if (!store_done(s,
                    store_q(s, error,
                            "UPDATE event_fires SET last_fire = ? WHERE schedule = ? AND agent = ? "
                            "AND last_fire <= ?",
                            "issi", now, schedule, agent, now - (gint64)min_interval_s),
                    error))
        return FALSE;
    *won = store_changes(s) == 1;
    return TRUE;
}
