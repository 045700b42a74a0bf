#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/m365.h"

static GPtrArray *fixture(void)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(UNIT_DATA_DIR "/m365-endpoints.json", &data, &len, NULL));
    g_autoptr(GError) e = NULL;
    GPtrArray *a = m365_endpoints_parse(data, len, &e);
    if (!a)
        fail_msg("%s", e->message);
    return a;
}

static const RoutePrefix *find(GPtrArray *a, const char *cidr)
{
    for (guint i = 0; i < a->len; i++) {
        const RoutePrefix *r = a->pdata[i];
        if (strcmp(r->cidr, cidr) == 0)
            return r;
    }
    fail_msg("%s is not among the prefixes", cidr);
    return NULL;
}

/* The document as endpoints.office.com gives it (an excerpt, its shape kept):
 * the Optimize sets only, each prefix with its set's ports. */
static void test_the_optimize_prefixes_of_the_document(void **state)
{
    g_autoptr(GPtrArray) a = fixture();
    assert_int_equal(a->len, 40); /* Exchange 27, Teams 4, SharePoint 9; Allow and Default left */
    const RoutePrefix *teams = find(a, "52.112.0.0/14");
    assert_string_equal(teams->service, "Skype for Business Online and Microsoft Teams");
    assert_string_equal(teams->udp_ports, "3478,3479,3480,3481");
    assert_int_equal(teams->udp_port, 3478);
    assert_null(teams->tcp_ports);
    g_autofree char *ports = route_prefix_ports(teams);
    assert_string_equal(ports, "udp 3478,3479,3480,3481");
    const RoutePrefix *exo = find(a, "13.107.6.152/31");
    assert_int_equal(exo->tcp_port, 80);
    assert_int_equal(exo->udp_port, 0);
    const RoutePrefix *v6 = find(a, "2603:1063::/38");
    assert_int_equal(g_inet_address_mask_get_family(v6->prefix), G_SOCKET_FAMILY_IPV6);
    g_autofree char *spec = route_prefix_spec(teams);
    assert_string_equal(spec, "52.112.0.0/14 udp:3478,3479,3480,3481");
    /* 40.92.0.0/15 is in an Allow set only */
    for (guint i = 0; i < a->len; i++)
        assert_string_not_equal(((RoutePrefix *)a->pdata[i])->cidr, "40.92.0.0/15");
}

static void expect_error(const char *json, int domain_code, const char *needle)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) a = m365_endpoints_parse(json, strlen(json), &e);
    assert_null(a);
    assert_non_null(e);
    if (!strstr(e->message, needle) || (domain_code >= 0 && e->code != domain_code))
        fail_msg("got '%s' (code %d), want '%s'", e->message, e->code, needle);
}

static void test_bad_documents_are_named(void **state)
{
    expect_error("{\"id\": 1}", M365_ERROR_SYNTAX, "a JSON array of endpoint sets");
    expect_error("[1]", -1, "[0]: not an object");
    expect_error("[{\"id\":1,\"category\":\"Optimize\",\"ips\":[\"52.112.0.0\"]}]", -1,
                 "[0].ips: '52.112.0.0' is not an address range");
    expect_error("[{\"id\":1,\"category\":\"Optimize\",\"ips\":[\"52.112.0.0/14\"],"
                 "\"udpPorts\":\"3478-x\"}]",
                 -1, "[0].udpPorts: not a list of ports");
    expect_error("[{\"id\":1,\"category\":7}]", -1, "[0].category");
    expect_error("[", -1, "not JSON");
    GString *many = g_string_new("[");
    for (int i = 0; i <= M365_MAX_ENTRIES; i++)
        g_string_append_printf(many, "%s{}", i ? "," : "");
    g_string_append(many, "]");
    expect_error(many->str, M365_ERROR_SIZE, "more than 1024 endpoint sets");
    g_string_free(many, TRUE);
    g_autofree char *big = g_strnfill(M365_MAX_BYTES + 1, ' ');
    expect_error(big, -1, "the endpoints document is over 1048576 bytes");
}

static void test_a_profiles_prefix_with_its_ports(void **state)
{
    g_autoptr(GError) e = NULL;
    RoutePrefix *r = route_prefix_parse("52.112.0.0/14 udp:3478-3481 tcp:443", &e);
    assert_non_null(r);
    assert_int_equal(r->udp_port, 3478);
    assert_int_equal(r->tcp_port, 443);
    g_autofree char *ports = route_prefix_ports(r);
    assert_string_equal(ports, "udp 3478-3481, tcp 443");
    route_prefix_free(r);
    r = route_prefix_parse("13.107.64.0/18", &e);
    assert_null(route_prefix_ports(r));
    route_prefix_free(r);
    assert_null(route_prefix_parse("13.107.64.0", &e));
    assert_non_null(strstr(e->message, "'13.107.64.0' is not an address range"));
    g_clear_error(&e);
    assert_null(route_prefix_parse("13.107.64.0/18 sctp:5", &e));
    assert_non_null(strstr(e->message, "is not udp:PORTS or tcp:PORTS"));
    g_clear_error(&e);
    assert_null(route_prefix_parse("13.107.64.0/18 udp:70000", &e));
    g_clear_error(&e);
    assert_null(route_prefix_parse("13.107.64.0/18 udp:1 udp:2", &e));
    assert_non_null(strstr(e->message, "give udp ports once"));
}

static void assert_samples(const char *cidr, const char *want)
{
    g_autoptr(GInetAddressMask) m = g_inet_address_mask_new_from_string(cidr, NULL);
    g_autoptr(GPtrArray) s = route_prefix_samples(m);
    GString *got = g_string_new(NULL);
    for (guint i = 0; i < s->len; i++) {
        g_autofree char *a = g_inet_address_to_string(s->pdata[i]);
        g_string_append_printf(got, "%s%s", i ? " " : "", a);
    }
    if (strcmp(got->str, want) != 0)
        fail_msg("%s: got '%s', want '%s'", cidr, got->str, want);
    g_string_free(got, TRUE);
}

static void test_a_prefix_is_sampled_first_middle_last(void **state)
{
    assert_samples("52.112.0.0/14", "52.112.0.1 52.114.0.1 52.115.255.254");
    assert_samples("13.107.6.152/31", "13.107.6.152 13.107.6.153");
    assert_samples("131.253.33.215/32", "131.253.33.215");
    assert_samples("203.0.113.0/24", "203.0.113.1 203.0.113.129 203.0.113.254");
    assert_samples("2603:1063::/38", "2603:1063::1 2603:1063:200::1 2603:1063:3ff:ffff:ffff:ffff:ffff:fffe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_optimize_prefixes_of_the_document),
        cmocka_unit_test(test_bad_documents_are_named),
        cmocka_unit_test(test_a_profiles_prefix_with_its_ports),
        cmocka_unit_test(test_a_prefix_is_sampled_first_middle_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
