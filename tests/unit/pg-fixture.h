/* PostgreSQL for the controller's unit tests: the server with-postgres.sh
 * started (ICEPROBE_TEST_PG_URL), its public schema dropped and made again so
 * that a test starts from an empty database. Without a server the test skips,
 * except under CI=true, where it fails. Include after cmocka.h. */
#pragma once

#include <libpq-fe.h>

#include <glib.h>

/* The URL of an emptied database (or the test skips or fails). */
static G_GNUC_UNUSED const char *pg_fixture_url(void)
{
    const char *url = g_getenv("ICEPROBE_TEST_PG_URL");
    if (!url) {
        if (g_strcmp0(g_getenv("CI"), "true") == 0)
            fail_msg("no PostgreSQL server for this test (run under with-postgres.sh)");
        skip();
    }
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("PostgreSQL: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                            "CREATE SCHEMA public");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("PostgreSQL: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return url;
}
