/* The store's schema: the numbered migrations, one list for SQLite and
 * PostgreSQL, applied in order when a controller opens the store. */
#include "store-private.h"

/* The numbered migrations: migration i brings the schema to version i + 1.
 * BIGINT and DOUBLE PRECISION: 64-bit in PostgreSQL, INTEGER and REAL
 * affinity in SQLite. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE agents ("
    "  name TEXT PRIMARY KEY,"
    "  groups TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  created_at BIGINT NOT NULL,"
    "  last_seen BIGINT,"
    "  version TEXT,"
    "  interfaces TEXT);"
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  seq BIGINT NOT NULL UNIQUE,"
    "  profile TEXT NOT NULL,"
    "  agent_a TEXT NOT NULL,"
    "  agent_b TEXT NOT NULL,"
    "  schedule TEXT,"
    "  state TEXT NOT NULL,"
    "  verdict TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  offered_at BIGINT,"
    "  a_taken_at BIGINT, b_taken_at BIGINT,"
    "  a_reported_at BIGINT, b_reported_at BIGINT,"
    "  deadline BIGINT,"
    "  finished_at BIGINT,"
    "  note TEXT,"
    "  result TEXT);"
    "CREATE INDEX runs_by_state ON runs (state, seq);"
    "CREATE INDEX runs_by_created ON runs (created_at);"
    "CREATE INDEX runs_by_pair ON runs (profile, agent_a, agent_b, finished_at);"
    "CREATE INDEX runs_by_agent_a ON runs (agent_a, state);"
    "CREATE INDEX runs_by_agent_b ON runs (agent_b, state);"
    "CREATE TABLE reports ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  side TEXT NOT NULL,"
    "  received_at BIGINT NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  document TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, side));"
    "CREATE TABLE findings ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  seq BIGINT NOT NULL,"
    "  code TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, seq));"
    "CREATE TABLE path_metrics ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL,"
    "  side TEXT NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  local_type TEXT, transport TEXT, egress_class TEXT,"
    "  loss_ratio DOUBLE PRECISION, jitter_ms DOUBLE PRECISION, rtt_ms DOUBLE PRECISION,"
    "  mos DOUBLE PRECISION,"
    "  PRIMARY KEY (run_id, path, side));"
    "CREATE TABLE schedules ("
    "  name TEXT PRIMARY KEY,"
    "  last_fire BIGINT NOT NULL);",
    /* 2: when each side last called about its run, kept in the store so that
     * any controller sharing it knows who went silent */
    "ALTER TABLE runs ADD COLUMN a_heard_at BIGINT;"
    "ALTER TABLE runs ADD COLUMN b_heard_at BIGINT;",
    /* 3: the signals between a run's two agents, in the store so that the two
     * may call different controllers; deleted when the run ends */
    "CREATE TABLE signals ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  to_side BIGINT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, to_side, seq));",
    /* 4: finished runs that history_days pruned, by verdict, so that
     * iceprobe_runs_total never goes back */
    "CREATE TABLE pruned_runs ("
    "  verdict TEXT PRIMARY KEY,"
    "  runs BIGINT NOT NULL);",
    /* 5: the VPN's facts, as the agent last sent them (its heartbeat's vpn) */
    "ALTER TABLE agents ADD COLUMN vpn TEXT;",
    /* 6: what started a run (run_trigger: api, cron, start-up, vpn-up, vpn-down,
     * network-change), until when it may wait for an offline agent and whom it
     * waited for; each agent's last network event; the event firings of each
     * schedule per agent (min_interval_s) */
    "ALTER TABLE runs ADD COLUMN run_trigger TEXT;"
    "ALTER TABLE runs ADD COLUMN catch_up_until BIGINT;"
    "ALTER TABLE runs ADD COLUMN waited_for TEXT;"
    "ALTER TABLE agents ADD COLUMN net_event_id TEXT;"
    "ALTER TABLE agents ADD COLUMN net_event TEXT;"
    "CREATE TABLE event_fires ("
    "  schedule TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  last_fire BIGINT NOT NULL,"
    "  PRIMARY KEY (schedule, agent));",
};

int store_schema_version(Store *s)
{
    StoreStmt *st = store_q(s, NULL, "SELECT MAX(version) FROM schema_version", "");
    int v = st && store_step(st, NULL) ? (int)store_col_int(st, 0) : 0;
    if (st)
        store_reset(st);
    return v;
}

/* Each migration in its own transaction. On PostgreSQL several controllers may
 * start at once: an advisory lock makes them take turns (even at creating
 * schema_version: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
 * one), and each looks at the version again once it holds it. On SQLite the
 * transaction holds the write lock. */
gboolean store_migrate(Store *s, GError **error)
{
    for (;;) {
        if (!store_begin(s, error))
            return FALSE;
        if ((s->backend == STORE_POSTGRES &&
             !store_exec(s, "SELECT pg_advisory_xact_lock(7405330)", error)) || /* "ice" */
            !store_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                        error)) {
            store_rollback(s);
            return FALSE;
        }
        int have = store_schema_version(s);
        if (have > (int)G_N_ELEMENTS(migrations)) {
            store_rollback(s);
            g_set_error(error, STORE_ERROR, STORE_ERROR_DB,
                        "store: the database is at schema version %d, newer than this "
                        "controller knows (%d)",
                        have, (int)G_N_ELEMENTS(migrations));
            return FALSE;
        }
        if (have == (int)G_N_ELEMENTS(migrations))
            return store_commit(s, error);
        if (!store_exec(s, migrations[have], error) ||
            !store_done(s,
                        store_q(s, error, "INSERT INTO schema_version (version) VALUES (?)", "i",
                                (gint64)have + 1),
                        error)) {
            store_rollback(s);
            return FALSE;
        }
        if (!store_commit(s, error))
            return FALSE;
    }
}
