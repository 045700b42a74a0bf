#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller-fixture.h"

static void expect_error(const char *conf, const char *part)
{
    g_autoptr(Fixture) f = fixture_new(NULL);
    fixture_write(f, "bad.conf", conf);
    g_autofree char *path = g_build_filename(f->dir, "bad.conf", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) c = config_load(path, &e);
    assert_null(c);
    assert_non_null(e);
    if (!strstr(e->message, part))
        fail_msg("'%s' does not say '%s'", e->message, part);
}

#define BASE                                                                                       \
    "[store]\npath=x.db\n[auth]\nadmin_token_file=admin.token\n[turn]\nsecret_file=turn.secret\n"  \
    "[profiles]\ndir=profiles\n"

static void test_the_contract_example_loads_with_its_comments(void **state)
{
    g_autoptr(Fixture) f = fixture_new("[scheduler]\norder_timeout_s = 5\n"
                                       "[schedule.nightly]\ncron = 0 2 * * *   ; local time\n"
                                       "profile = corp-vpn\na = group:vpn-laptops   ; a group\n"
                                       "b = group:internal\n");
    ControllerConfig *c = f->config;
    assert_string_equal(c->listen[0], "127.0.0.1:0");
    assert_true(g_str_has_suffix(c->store_path, "/controller.db"));
    assert_string_equal(c->admin_token, FIXTURE_ADMIN_TOKEN);
    assert_true(c->metrics_public);
    assert_false(c->status_public);
    assert_int_equal(c->order_timeout_s, 5);
    assert_int_equal(c->schedules->len, 1);
    ScheduleConfig *s = c->schedules->pdata[0];
    assert_string_equal(s->cron, "0 2 * * *");
    assert_string_equal(s->a, "group:vpn-laptops");
    assert_null(s->on);
    assert_int_equal(s->min_interval_s, 600);
    assert_int_equal(s->catch_up_s, 0);
    /* A laptop's schedule: on its VPN coming up, and nightly with a catch-up. */
    g_autoptr(Fixture) g = fixture_new("[schedule.laptops]\ncron = 0 2 * * *\non = vpn-up\n"
                                       "min_interval_s = 900\ncatch_up_s = 43200\n"
                                       "profile = corp-vpn\na = group:vpn-laptops\n"
                                       "b = group:internal\n"
                                       "[schedule.moves]\non = network-change\n"
                                       "profile = corp-vpn\na = x\nb = y\n");
    const ScheduleConfig *l = g->config->schedules->pdata[0], *m = g->config->schedules->pdata[1];
    assert_string_equal(l->on, "vpn-up");
    assert_int_equal(l->min_interval_s, 900);
    assert_int_equal(l->catch_up_s, 43200);
    assert_null(m->cron);
    assert_true(config_schedule_fires_on(l, "vpn-up"));
    assert_false(config_schedule_fires_on(l, "network-change"));
    assert_false(config_schedule_fires_on(l, "vpn-down"));
    assert_true(config_schedule_fires_on(m, "vpn-down"));
    assert_true(config_schedule_fires_on(m, "network-change"));
    assert_false(config_schedule_fires_on(m, "lunch"));
    const ControllerProfile *p = config_profile(c, "corp-vpn");
    assert_non_null(p);
    assert_null(p->profile->edge.secret); /* the controller issues TURN credentials */
    assert_non_null(strstr(p->text, "203.0.113.10"));
}

static void test_the_shipped_example_configuration_loads(void **state)
{
    /* As installed: the example with the shipped profile and the files they name. */
    g_autoptr(Fixture) f = fixture_new(NULL);
    g_autofree char *conf = NULL, *profile = NULL, *ca = NULL;
    assert_true(g_file_get_contents(SOURCE_ROOT "/etc/controller.conf", &conf, NULL, NULL));
    assert_true(
        g_file_get_contents(PROFILES_DIR "/sfb-edge-split-tunnel.conf", &profile, NULL, NULL));
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/test-ca.pem", &ca, NULL, NULL));
    fixture_write(f, "etc/controller.conf", conf);
    fixture_write(f, "etc/admin.token", FIXTURE_ADMIN_TOKEN);
    fixture_write(f, "etc/turn.secret", FIXTURE_TURN_SECRET);
    fixture_write(f, "etc/profiles/sfb-edge-split-tunnel.conf", profile);
    fixture_write(f, "etc/profiles/turn.secret", FIXTURE_TURN_SECRET);
    fixture_write(f, "etc/profiles/edge-ca.pem", ca);
    g_autofree char *path = g_build_filename(f->dir, "etc", "controller.conf", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) c = config_load(path, &e);
    if (!c)
        fail_msg("%s", e->message);
    assert_true(config_uses_tls(c));
    /* No [server] threads: one for each CPU it may run on. */
    assert_int_equal(c->threads, CLAMP(g_get_num_processors(), 1, CONFIG_MAX_THREADS));
    assert_non_null(config_profile(c, "sfb-edge-split-tunnel"));
    assert_non_null(config_profile(c, "sfb-edge-split-tunnel")->ca_pem);
    assert_string_equal(c->user, "iceprobe");
    assert_int_equal(c->schedules->len, 1);
}

static void test_the_packaged_configuration_starts_once_the_turn_secret_is_there(void **state)
{
    /* debian/controller.conf as /etc/iceprobe/controller.conf: postinst made the
     * admin token (the TLS files are read at serve), profiles/ is empty; the
     * edge's TURN secret is the admin's part. */
    g_autoptr(Fixture) f = fixture_new(NULL);
    g_autofree char *conf = NULL;
    assert_true(g_file_get_contents(SOURCE_ROOT "/debian/controller.conf", &conf, NULL, NULL));
    fixture_write(f, "etc/controller.conf", conf);
    fixture_write(f, "etc/admin.token", FIXTURE_ADMIN_TOKEN);
    g_autofree char *profiles = g_build_filename(f->dir, "etc", "profiles", NULL);
    g_assert_cmpint(g_mkdir_with_parents(profiles, 0700), ==, 0);
    g_autofree char *path = g_build_filename(f->dir, "etc", "controller.conf", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) none = config_load(path, &e);
    assert_null(none);
    assert_non_null(strstr(e->message, "[turn] secret_file"));
    fixture_write(f, "etc/turn.secret", FIXTURE_TURN_SECRET);
    g_clear_error(&e);
    g_autoptr(ControllerConfig) c = config_load(path, &e);
    if (!c)
        fail_msg("%s", e->message);
    assert_true(config_uses_tls(c));
    assert_string_equal(c->user, "iceprobe");
    assert_string_equal(c->store_path, "/var/lib/iceprobe/controller.db");
    assert_int_equal(c->schedules->len, 0);
}

static void test_unknown_groups_and_keys_are_named(void **state)
{
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\nlisten_port=3\n",
                 "[server] listen_port: unknown key");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[serve]\nx=1\n", "unknown group [serve]");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\ncron=0 2 * * *\nprofile="
                      "corp-vpn\na=x\nb=y\nevery=1\n",
                 "[schedule.n] every: unknown key");
}

static void test_missing_and_wrong_values_are_named(void **state)
{
    expect_error("[server]\nlisten=127.0.0.1:1\n[auth]\nadmin_token_file=admin.token\n[turn]\n"
                 "secret_file=turn.secret\n[profiles]\ndir=profiles\n",
                 "[store] path: required key is missing");
    expect_error(BASE "[server]\nlisten=nowhere\n", "[server] listen: 'nowhere' is not host:port");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[auth]\nmetrics_public=maybe\n",
                 "metrics_public: 'maybe' is not true or false");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\ncron=0 2 * * *\nprofile=nope\n"
                      "a=x\nb=y\n",
                 "[schedule.n] profile: no profile named 'nope'");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\ncron=0 2 * * *\n",
                 "[schedule.n] profile: required key is missing");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\nprofile=corp-vpn\na=x\nb=y\n",
                 "[schedule.n] cron: a schedule fires on cron, on a network event (on), or both: "
                 "give one");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\non=vpn-down\nprofile=corp-vpn\n"
                      "a=x\nb=y\n",
                 "[schedule.n] on: 'vpn-down' is not vpn-up or network-change");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[schedule.n]\non=vpn-up\nprofile=corp-vpn\n"
                      "a=x\nb=y\ncatch_up_s=-1\n",
                 "[schedule.n] catch_up_s: '-1' is not a whole number from 0 to 604800");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\nthreads=0\n",
                 "[server] threads: '0' is not a whole number from 1 to 64");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\nthreads=65\n",
                 "[server] threads: '65' is not a whole number from 1 to 64");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\ntls_cert_file=c.pem\n",
                 "HTTPS needs both tls_cert_file and tls_key_file");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[store]\nurl=postgresql://db/x\n",
                 "[store] url: give path (SQLite) or url (PostgreSQL), not both");
    expect_error("[server]\nlisten=127.0.0.1:1\n[store]\nurl=mysql://db/x\n[auth]\n"
                 "admin_token_file=admin.token\n[turn]\nsecret_file=turn.secret\n[profiles]\n"
                 "dir=profiles\n",
                 "[store] url: 'mysql://db/x' is not a postgresql:// URL");
}

static void test_a_postgresql_url_instead_of_a_path(void **state)
{
    g_autoptr(Fixture) f = fixture_new(NULL);
    fixture_write(f, "pg.conf",
                  "[server]\nlisten=127.0.0.1:1\n[store]\n"
                  "url = postgresql://iceprobe@db.corp.example/iceprobe ; shared\n"
                  "[auth]\nadmin_token_file=admin.token\n[turn]\nsecret_file=turn.secret\n"
                  "[profiles]\ndir=profiles\n");
    g_autofree char *path = g_build_filename(f->dir, "pg.conf", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) c = config_load(path, &e);
    assert_null(e);
    assert_null(c->store_path);
    assert_string_equal(config_store_target(c), "postgresql://iceprobe@db.corp.example/iceprobe");
}

static void test_plain_http_off_loopback_needs_allow_plain_http(void **state)
{
    expect_error(BASE "[server]\nlisten=127.0.0.1:1;192.0.2.1:8443\n",
                 "plain HTTP on a non-loopback address");
    g_autoptr(Fixture) f = fixture_new(NULL);
    fixture_write(f, "ok.conf", BASE "[server]\nlisten=192.0.2.1:8443\nallow_plain_http=true\n");
    g_autofree char *path = g_build_filename(f->dir, "ok.conf", NULL);
    g_autoptr(ControllerConfig) c = config_load(path, NULL);
    assert_non_null(c);
    assert_false(config_listen_is_loopback(c));
}

static void test_a_short_secret_or_a_bad_profile_stops_the_start(void **state)
{
    g_autoptr(Fixture) f = fixture_new(NULL);
    fixture_write(f, "short.token", "abc\n");
    fixture_write(f, "short.conf",
                  "[server]\nlisten=127.0.0.1:1\n[store]\npath=x.db\n[auth]\nadmin_token_file="
                  "short.token\n[turn]\nsecret_file=turn.secret\n[profiles]\ndir=profiles\n");
    g_autofree char *path = g_build_filename(f->dir, "short.conf", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) c = config_load(path, &e);
    assert_null(c);
    assert_non_null(strstr(e->message, "too short to be a secret"));

    fixture_write(f, "profiles/typo.conf", "[profile]\nname=t\n[edge]\nhost=h\nprot=1\n");
    g_autoptr(GError) e2 = NULL;
    g_autoptr(ControllerConfig) c2 = config_load(f->config_path, &e2);
    assert_null(c2);
    assert_non_null(strstr(e2->message, "typo.conf: [edge] prot: unknown key"));
}

/* An ms-turn profile takes the MRAS set the operator gives the controller, read
 * again at each use (the operator refreshes the file in place). */
static void test_ms_turn_profiles_take_the_controllers_mras_answer(void **state)
{
    g_autoptr(Fixture) f = fixture_new(NULL);
    fixture_write(f, "profiles/sfb.conf",
                  "[profile]\nname = sfb\n[edge]\nhost = 203.0.113.10\nturn = ms-turn\n");
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) none = config_load(f->config_path, &e);
    assert_null(none);
    assert_non_null(strstr(e->message, "[turn] mras_response_file: profile 'sfb' is ms-turn"));

    g_autofree char *xml = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/mras-answer.xml", &xml, NULL, NULL));
    fixture_write(f, "mras.xml", xml);
    g_autofree char *conf = NULL;
    assert_true(g_file_get_contents(f->config_path, &conf, NULL, NULL));
    g_auto(GStrv) parts = g_strsplit(conf, "[turn]\n", 2);
    g_autofree char *edited =
        g_strconcat(parts[0], "[turn]\nmras_response_file = mras.xml\n", parts[1], NULL);
    fixture_write(f, "controller.conf", edited);
    g_clear_error(&e);
    g_autoptr(ControllerConfig) c = config_load(f->config_path, &e);
    if (!c)
        fail_msg("%s", e->message);
    TurnCredentials tc;
    gint64 expires = 0;
    assert_true(config_mras_read(c, &tc, &expires, &e));
    assert_string_equal(tc.username, "AgAAJPYqY5EB2PVOdklDPZ8mN8pwqWgyXyQ8xRV2g9Ic4XwSAAAAAB1xg7k=");
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    assert_true(expires > now + 479 * 60 && expires <= now + 481 * 60);
    turncred_clear(&tc);
    /* Dated by [turn] mras_issued_at rather than the file's time. */
    g_free(c->mras_issued_at);
    c->mras_issued_at = g_strdup("2026-12-06T08:00:00Z");
    assert_true(config_mras_read(c, &tc, &expires, &e));
    assert_int_equal(expires, 1796544000 + 480 * 60);
    turncred_clear(&tc);
    /* Refreshed in place with a broken file: the next read names it. */
    fixture_write(f, "mras.xml", "<response reasonPhrase=\"Forbidden\"/>");
    assert_false(config_mras_read(c, &tc, &expires, &e));
    assert_non_null(strstr(e->message, "mras.xml: no <credentialsResponse>"));
}

static void test_credentials_for_each_dialect_are_checked_at_start(void **state)
{
    /* an rfc5766 profile needs the TURN REST secret */
    expect_error("[server]\nlisten=127.0.0.1:1\n[store]\npath=x.db\n[auth]\nadmin_token_file="
                 "admin.token\n[profiles]\ndir=profiles\n",
                 "[turn] secret_file: required key is missing (profile 'corp-vpn' is rfc5766)");
    /* half an MRAS pair; both MRAS sources */
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[turn]\nmras_username_file=admin.token\n",
                 "[turn] mras_password_file: MRAS credentials come in pairs");
    expect_error(BASE "[server]\nlisten=127.0.0.1:1\n[turn]\nmras_username_file=a\n"
                      "mras_password_file=b\nmras_response_file=c\n",
                 "give either the MRAS answer or mras_username_file + mras_password_file");
}

/* Agents get the endpoints document's prefixes inline: they have no copy of it. */
static void test_a_profiles_endpoints_document_goes_to_agents_inline(void **state)
{
    g_autoptr(Fixture) f = fixture_new(NULL);
    g_autofree char *json = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/m365-endpoints.json", &json, NULL, NULL));
    fixture_write(f, "profiles/m365.json", json);
    fixture_write(f, "profiles/m365.conf",
                  "[profile]\nname = m365\n[edge]\nhost = 203.0.113.10\n"
                  "[routes]\nmust_bypass = 192.0.2.0/24\nendpoints_file = m365.json\n");
    g_autoptr(GError) e = NULL;
    g_autoptr(ControllerConfig) c = config_load(f->config_path, &e);
    if (!c)
        fail_msg("%s", e->message);
    const ControllerProfile *cp = config_profile(c, "m365");
    assert_non_null(cp);
    assert_null(strstr(cp->text, "endpoints_file"));
    assert_non_null(strstr(cp->text, "192.0.2.0/24;13.107.6.152/31 tcp:80,443;"));
    assert_non_null(strstr(cp->text, "52.112.0.0/14 udp:3478,3479,3480,3481"));
    /* and an agent reads the order's profile back to the same prefixes */
    g_autoptr(Profile) order = profile_load_order(cp->text, strlen(cp->text), NULL, &e);
    if (!order)
        fail_msg("%s", e->message);
    assert_int_equal(order->routes.bypass->len, 41);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_contract_example_loads_with_its_comments),
        cmocka_unit_test(test_the_shipped_example_configuration_loads),
        cmocka_unit_test(test_the_packaged_configuration_starts_once_the_turn_secret_is_there),
        cmocka_unit_test(test_unknown_groups_and_keys_are_named),
        cmocka_unit_test(test_missing_and_wrong_values_are_named),
        cmocka_unit_test(test_a_postgresql_url_instead_of_a_path),
        cmocka_unit_test(test_plain_http_off_loopback_needs_allow_plain_http),
        cmocka_unit_test(test_a_short_secret_or_a_bad_profile_stops_the_start),
        cmocka_unit_test(test_ms_turn_profiles_take_the_controllers_mras_answer),
        cmocka_unit_test(test_a_profiles_endpoints_document_goes_to_agents_inline),
        cmocka_unit_test(test_credentials_for_each_dialect_are_checked_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
