#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/mras.h"

/* Not inlined: GCC 12 at -O3 (a release build) takes the inlined &data for a pointer that
 * outlives it (a false -Wdangling-pointer). */
G_GNUC_NO_INLINE static char *fixture(gsize *len)
{
    char *data = NULL;
    g_assert_true(g_file_get_contents(UNIT_DATA_DIR "/mras-answer.xml", &data, len, NULL));
    return data;
}

static void test_the_answer_gives_credentials_duration_and_relays(void **state)
{
    gsize len = 0;
    g_autofree char *data = fixture(&len);
    g_autoptr(GError) e = NULL;
    g_autoptr(MrasAnswer) a = mras_parse(data, len, &e);
    assert_non_null(a);
    assert_string_equal(a->username, "AgAAJPYqY5EB2PVOdklDPZ8mN8pwqWgyXyQ8xRV2g9Ic4XwSAAAAAB1xg7k=");
    assert_string_equal(a->password, "v0ZA/mqnuMHyW8v0cdfJgxw1L2k=");
    assert_int_equal(a->duration_min, 480);
    assert_string_equal(a->request_id, "8812637");
    assert_int_equal(a->relays->len, 2);
    const MrasRelay *r = a->relays->pdata[0];
    assert_string_equal(r->location, "internet");
    assert_string_equal(r->host_name, "av.corp.example");
    assert_int_equal(r->udp_port, 3478);
    assert_int_equal(r->tcp_port, 443);
    r = a->relays->pdata[1];
    assert_string_equal(r->host_name, "av-int.corp.example");
}

/* As a client's log shows it: the SIP 200 OK around the XML, other lines after. */
static void test_the_answer_is_found_in_a_log_excerpt(void **state)
{
    gsize len = 0;
    g_autofree char *data = fixture(&len);
    g_autofree char *log = g_strdup_printf(
        "12/06/2026|08:00:01.123 1A2C:1F30 INFO  :: data received, size 1874\n"
        "SIP/2.0 200 OK\nContent-Type: application/msrtc-media-relay-auth+xml\n\n%s\n"
        "12/06/2026|08:00:01.125 1A2C:1F30 INFO  :: End of data received\n",
        strstr(data, "<response"));
    g_autoptr(GError) e = NULL;
    g_autoptr(MrasAnswer) a = mras_parse(log, strlen(log), &e);
    assert_non_null(a);
    assert_int_equal(a->duration_min, 480);
}

static void expect_error(const char *xml, MrasError code, const char *needle)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(MrasAnswer) a = mras_parse(xml, strlen(xml), &e);
    assert_null(a);
    assert_non_null(e);
    if (!g_error_matches(e, MRAS_ERROR, (gint)code) || !strstr(e->message, needle))
        fail_msg("got '%s' (code %d), want code %d naming '%s'", e->message, e->code, code,
                 needle);
}

static void test_bad_answers_are_named(void **state)
{
    expect_error("hello", MRAS_ERROR_SYNTAX, "not an MRAS answer");
    expect_error("<response><credentialsResponse><credentials>", MRAS_ERROR_SYNTAX, "not XML");
    expect_error("<response reasonPhrase=\"Forbidden\"></response>", MRAS_ERROR_SYNTAX,
                 "no <credentialsResponse>");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<duration>480</duration></credentials></credentialsResponse>",
                 MRAS_ERROR_FIELD, "credentials/password");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<password>QQ==</password></credentials></credentialsResponse>",
                 MRAS_ERROR_FIELD, "credentials/duration");
    expect_error("<credentialsResponse><credentials><username>not base64!</username>"
                 "</credentials></credentialsResponse>",
                 MRAS_ERROR_FIELD, "<username>: not a base64 string");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<password>QQ==</password><duration>-5</duration></credentials>"
                 "</credentialsResponse>",
                 MRAS_ERROR_FIELD, "<duration>: '-5'");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<username>QQ==</username></credentials></credentialsResponse>",
                 MRAS_ERROR_FIELD, "two <username>");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<password>QQ==</password><duration>480</duration></credentials>"
                 "<mediaRelayList><mediaRelay><hostName>av.example</hostName></mediaRelay>"
                 "</mediaRelayList></credentialsResponse>",
                 MRAS_ERROR_FIELD, "mediaRelay 1: needs");
    expect_error("<credentialsResponse><credentials><username>QQ==</username>"
                 "<password>QQ==</password><duration>480</duration></credentials>"
                 "<mediaRelayList><mediaRelay><hostName>av.example</hostName>"
                 "<udpPort>70000</udpPort></mediaRelay></mediaRelayList></credentialsResponse>",
                 MRAS_ERROR_FIELD, "<udpPort>: '70000'");
}

static void test_sizes_are_capped(void **state)
{
    GString *deep = g_string_new("<response>");
    for (int i = 0; i < MRAS_MAX_DEPTH + 2; i++)
        g_string_append(deep, "<a>");
    expect_error(deep->str, MRAS_ERROR_SIZE, "deeper than");
    g_string_free(deep, TRUE);

    GString *relays = g_string_new("<credentialsResponse><mediaRelayList>");
    for (int i = 0; i < MRAS_MAX_RELAYS + 1; i++)
        g_string_append(relays, "<mediaRelay><hostName>a</hostName><udpPort>1</udpPort>"
                                "</mediaRelay>");
    g_string_append(relays, "</mediaRelayList></credentialsResponse>");
    expect_error(relays->str, MRAS_ERROR_SIZE, "mediaRelay elements");
    g_string_free(relays, TRUE);

    g_autofree char *long_value = g_strnfill(MRAS_MAX_VALUE + 1, 'Q');
    g_autofree char *xml = g_strdup_printf(
        "<credentialsResponse><credentials><username>%s</username></credentials>"
        "</credentialsResponse>",
        long_value);
    expect_error(xml, MRAS_ERROR_SIZE, "<username>: longer than");

    g_autofree char *big = g_strnfill(MRAS_MAX_BYTES + 1, ' ');
    expect_error(big, MRAS_ERROR_SIZE, "larger than");
}

static void test_expiry_names_when(void **state)
{
    gsize len = 0;
    g_autofree char *data = fixture(&len);
    g_autoptr(MrasAnswer) a = mras_parse(data, len, NULL);
    assert_non_null(a);
    gint64 issued = 1796544000; /* 2026-12-06T08:00:00Z */
    gint64 expires = mras_expires_at(a, issued);
    assert_int_equal(expires, issued + 480 * 60);
    assert_true(mras_check_fresh(expires, expires - 1, "saved", NULL));
    g_autoptr(GError) e = NULL;
    assert_false(mras_check_fresh(expires, expires + 600, "counted from when it was saved", &e));
    assert_true(g_error_matches(e, MRAS_ERROR, MRAS_ERROR_EXPIRED));
    assert_non_null(strstr(e->message, "expired at 2026-12-06T16:00:00Z (10 min ago; counted"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_answer_gives_credentials_duration_and_relays),
        cmocka_unit_test(test_the_answer_is_found_in_a_log_excerpt),
        cmocka_unit_test(test_bad_answers_are_named),
        cmocka_unit_test(test_sizes_are_capped),
        cmocka_unit_test(test_expiry_names_when),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
