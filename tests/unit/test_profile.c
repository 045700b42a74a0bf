#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <string.h>

#include "iceprobe/profile.h"

/* A temp dir holding a secret and a CA, for profiles that name them relatively. */
typedef struct {
    char *dir;
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    f->dir = g_dir_make_tmp("iceprobe-profile-XXXXXX", NULL);
    g_autofree char *secret = g_build_filename(f->dir, "turn.secret", NULL);
    g_autofree char *ca = g_build_filename(f->dir, "edge-ca.pem", NULL);
    g_autofree char *pem = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/test-ca.pem", &pem, NULL, NULL));
    assert_true(g_file_set_contents(secret, "s3cret\n", -1, NULL));
    assert_true(g_file_set_contents(ca, pem, -1, NULL));
    g_autofree char *xml = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/mras-answer.xml", &xml, NULL, NULL));
    g_autofree char *mras = g_build_filename(f->dir, "mras.xml", NULL);
    g_autofree char *user = g_build_filename(f->dir, "mras.user", NULL);
    g_autofree char *pass = g_build_filename(f->dir, "mras.pass", NULL);
    assert_true(g_file_set_contents(mras, xml, -1, NULL));
    assert_true(g_file_set_contents(user, "AgAAJPYqY5EB\n", -1, NULL));
    assert_true(g_file_set_contents(pass, "v0ZA/mqnuMHy\n", -1, NULL));
    g_autofree char *endpoints = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/m365-endpoints.json", &endpoints, NULL, NULL));
    g_autofree char *m365 = g_build_filename(f->dir, "m365.json", NULL);
    assert_true(g_file_set_contents(m365, endpoints, -1, NULL));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    const char *names[] = {"turn.secret", "edge-ca.pem", "p.conf",    "pw",
                           "mras.xml",    "mras.user",   "mras.pass", "m365.json", "bad-ca.pem"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = g_build_filename(f->dir, names[i], NULL);
        g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static Profile *load(Fixture *f, const char *text, GError **error)
{
    return profile_load_from_data(text, strlen(text), f->dir, "p.conf", error);
}

/* The example of docs/contract.md, as written there (inline comments included). */
static const char contract_example[] =
    "[profile]\n"
    "name = corp-vpn\n"
    "description = VPN laptops against the A/V edge\n"
    "\n"
    "[edge]\n"
    "host = av.corp.example            ; name or address of the A/V Edge TURN relay\n"
    "expected_addresses = 203.0.113.10 ; what host must resolve to (optional; a list uses ';')\n"
    "udp_port = 3478\n"
    "tcp_port = 3478\n"
    "tls_port = 443\n"
    "secret_file = turn.secret   ; TURN REST shared secret (or: username + password_file)\n"
    "tls_ca_file = edge-ca.pem   ; and/or tls_pin_sha256 = <hex of the leaf certificate>\n"
    "\n"
    "[network]\n"
    "internal_ranges = 10.0.0.0/8;172.16.0.0/12;192.168.0.0/16\n"
    "vpn_ranges = 100.64.0.0/10\n"
    "tunnel_names = gpd*;tun*;utun*;wg*;ppp*   ; extra hints; the kernel's facts come first\n"
    "\n"
    "[dns]\n"
    "names = sip.corp.example=203.0.113.9;meet.corp.example=203.0.113.11   ; name=expected\n"
    "\n"
    "[stream]\n"
    "ptime_ms = 20\n"
    "payload_bytes = 160\n"
    "duration_s = 10\n"
    "\n"
    "[thresholds]\n"
    "loss_ratio_max = 0.01\n"
    "jitter_ms_max = 30\n"
    "rtt_ms_max = 100\n"
    "mos_min = 3.6\n";

static void test_contract_example_loads_as_written(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = load(*state, contract_example, &error);
    assert_null(error);
    assert_non_null(p);
    assert_string_equal(p->name, "corp-vpn");
    assert_string_equal(p->edge.host, "av.corp.example");
    assert_string_equal(p->edge.tls_server_name, "av.corp.example");
    assert_int_equal(p->edge.expected_addresses->len, 1);
    g_autofree char *a = g_inet_address_to_string(p->edge.expected_addresses->pdata[0]);
    assert_string_equal(a, "203.0.113.10");
    assert_string_equal(p->edge.secret, "s3cret");
    assert_int_equal(p->network.internal_ranges->len, 3);
    assert_int_equal(p->network.vpn_ranges->len, 1);
    assert_int_equal(g_strv_length(p->network.tunnel_names), 5);
    assert_int_equal(p->dns_names->len, 2);
    ProfileDnsName *meet = p->dns_names->pdata[1];
    assert_string_equal(meet->name, "meet.corp.example");
    assert_int_equal(p->stream.ptime_ms, 20);
    assert_float_equal(p->thresholds.mos_min, 3.6, 1e-12);
}

static void test_defaults_are_microsofts_targets(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = load(
        *state, "[profile]\nname=x\n[edge]\nhost=192.0.2.1\nsecret_file=turn.secret\n", &error);
    assert_non_null(p);
    assert_int_equal(p->edge.udp_port, 3478);
    assert_int_equal(p->edge.tls_port, 443);
    assert_float_equal(p->thresholds.loss_ratio_max, 0.01, 1e-12);
    assert_float_equal(p->thresholds.jitter_ms_max, 30, 1e-12);
    assert_float_equal(p->thresholds.rtt_ms_max, 100, 1e-12);
    assert_int_equal(p->stream.duration_s, 10);
}

static void assert_refused(Fixture *f, const char *text, ProfileError code, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = load(f, text, &error);
    assert_null(p);
    assert_non_null(error);
    if (!g_error_matches(error, PROFILE_ERROR, code) || !strstr(error->message, needle))
        fail_msg("got error %d '%s', want %d containing '%s'", error->code, error->message, code,
                 needle);
}

#define BASE "[profile]\nname=x\n[edge]\nhost=192.0.2.1\nsecret_file=turn.secret\n"

static void test_unknown_group_is_named(void **state)
{
    assert_refused(*state, BASE "[treshold]\nmos_min=3\n", PROFILE_ERROR_UNKNOWN,
                   "p.conf: unknown group [treshold]");
}

static void test_unknown_key_is_named_with_its_group(void **state)
{
    assert_refused(*state, BASE "[stream]\nptime=20\n", PROFILE_ERROR_UNKNOWN,
                   "p.conf: [stream] ptime: unknown key");
}

static void test_wrong_type_is_named(void **state)
{
    assert_refused(*state, BASE "[stream]\nptime_ms=twenty\n", PROFILE_ERROR_VALUE,
                   "[stream] ptime_ms: 'twenty' is not a whole number from 10 to 120");
    assert_refused(*state, BASE "[thresholds]\nmos_min=5\n", PROFILE_ERROR_VALUE,
                   "[thresholds] mos_min: '5' is not a number from 1 to 4.5");
    assert_refused(*state, BASE "[network]\nvpn_ranges=100.64.0.0\n", PROFILE_ERROR_VALUE,
                   "[network] vpn_ranges: '100.64.0.0' is not an address range");
    assert_refused(*state, BASE "[dns]\nnames=sip.corp.example\n", PROFILE_ERROR_VALUE,
                   "[dns] names: 'sip.corp.example' is not name=address");
    assert_refused(*state, BASE "[edge]\ntls_pin_sha256=abcd\n", PROFILE_ERROR_VALUE,
                   "[edge] tls_pin_sha256: not a SHA-256");
}

/* [network] call_clients: the programs whose firewall rules count (the check
 * firewall), Skype for Business, both Teams and Lync 2010 by default. */
static void test_call_clients_are_program_names(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) def = load(*state, BASE, &error);
    assert_non_null(def);
    g_autofree char *d = g_strjoinv(";", def->network.call_clients);
    assert_string_equal(d, "lync.exe;Teams.exe;ms-teams.exe;communicator.exe");
    assert_false(def->network.call_clients_given);
    g_autoptr(Profile) p =
        load(*state, BASE "[network]\ncall_clients = communicator.exe;lync.exe\n", &error);
    assert_non_null(p);
    g_autofree char *got = g_strjoinv(";", p->network.call_clients);
    assert_string_equal(got, "communicator.exe;lync.exe");
    assert_true(p->network.call_clients_given);
    assert_refused(*state, BASE "[network]\ncall_clients = C:\\Lync\\lync.exe\n",
                   PROFILE_ERROR_VALUE,
                   "[network] call_clients: 'C:\\Lync\\lync.exe' is not a program's file name "
                   "(like lync.exe; no folder)");
    assert_refused(*state, BASE "[network]\ncall_clients = ;\n", PROFILE_ERROR_VALUE,
                   "[network] call_clients: needs at least one program (like lync.exe)");
}

static void test_ice_client_is_a_profile_setting(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) d = load(*state, BASE, &error);
    assert_non_null(d);
    assert_false(d->ice.regular_nomination); /* aggressive, libnice's and MS-ICE2's */
    assert_false(d->ice.probe_controlled);
    g_autoptr(Profile) p =
        load(*state, BASE "[ice]\nnomination = regular\nprobe_role = Controlled\n", &error);
    assert_non_null(p);
    assert_true(p->ice.regular_nomination);
    assert_true(p->ice.probe_controlled);
    g_autoptr(Profile) both =
        load(*state, BASE "[ice]\nnomination = regular; aggressive\n", &error);
    assert_non_null(both);
    assert_true(both->ice.regular_nomination); /* the first is the paths' */
    assert_true(both->ice.compare_nomination); /* the other runs once more */
    assert_false(p->ice.compare_nomination);
    assert_refused(*state, BASE "[ice]\nnomination = regular;regular\n", PROFILE_ERROR_VALUE,
                   "give aggressive, regular, or both once");
    assert_refused(*state, BASE "[ice]\nnomination = eager\n", PROFILE_ERROR_VALUE,
                   "[ice] nomination: 'eager' is neither aggressive nor regular");
    assert_refused(*state, BASE "[ice]\nprobe_role = both\n", PROFILE_ERROR_VALUE,
                   "[ice] probe_role: 'both' is neither controlling nor controlled");
}

#define SFB "[profile]\nname=x\n[edge]\nhost=192.0.2.1\n"

static void test_dialect_is_a_profile_setting(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) d = load(*state, BASE, &error);
    assert_non_null(d);
    assert_string_equal(profile_ice_dialect(d), "rfc8445");
    assert_string_equal(profile_turn_dialect(d), "rfc5766");
    /* Either key brings the other: libnice ties MS-TURN to MS-ICE2. */
    g_autoptr(Profile) ice =
        load(*state, SFB "mras_response_file=mras.xml\n[ice]\ndialect = ms-ice2\n", &error);
    assert_non_null(ice);
    assert_true(ice->edge.ms_turn);
    assert_string_equal(profile_turn_dialect(ice), "ms-turn");
    g_autoptr(Profile) turn =
        load(*state, SFB "turn = ms-turn\nmras_response_file=mras.xml\n", &error);
    assert_non_null(turn);
    assert_string_equal(profile_ice_dialect(turn), "ms-ice2");
    assert_refused(*state, BASE "turn = rfc5766\n[ice]\ndialect = ms-ice2\n",
                   PROFILE_ERROR_VALUE,
                   "[edge] turn: 'rfc5766' does not go with [ice] dialect = ms-ice2");
    assert_refused(*state, BASE "[ice]\ndialect = ms-ice\n", PROFILE_ERROR_VALUE,
                   "[ice] dialect: 'ms-ice' is neither rfc8445 nor ms-ice2");
    assert_refused(*state, BASE "turn = ms-turn\n", PROFILE_ERROR_VALUE,
                   "an MS-TURN edge takes MRAS credentials, not a TURN REST secret");
}

static void test_mras_credentials(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) a =
        load(*state, SFB "turn = ms-turn\nmras_response_file=mras.xml\n", &error);
    assert_non_null(a);
    assert_int_equal(a->edge.mras->duration_min, 480);
    const char *from = NULL;
    gint64 saved = a->edge.mras_saved_at;
    assert_true(saved > 0);
    assert_int_equal(profile_mras_expires_at(a, &from), saved + 480 * 60);
    assert_non_null(strstr(from, "saved"));
    g_autoptr(Profile) dated = load(*state,
                                    SFB "turn = ms-turn\nmras_response_file=mras.xml\n"
                                        "mras_issued_at = 2026-12-06T08:00:00Z\n",
                                    &error);
    assert_non_null(dated);
    assert_int_equal(profile_mras_expires_at(dated, &from), 1796544000 + 480 * 60);
    g_autoptr(Profile) files = load(*state,
                                    SFB "turn = ms-turn\nmras_username_file=mras.user\n"
                                        "mras_password_file=mras.pass\n",
                                    &error);
    assert_non_null(files);
    assert_string_equal(files->edge.mras_username, "AgAAJPYqY5EB");
    assert_int_equal(profile_mras_expires_at(files, NULL), 0);
    assert_refused(*state, SFB "turn = ms-turn\n", PROFILE_ERROR_MISSING,
                   "MRAS credentials are missing");
    assert_refused(*state, SFB "turn = ms-turn\nmras_username_file=mras.user\n",
                   PROFILE_ERROR_MISSING, "[edge] mras_password_file: MRAS credentials come in");
    assert_refused(*state, BASE "mras_response_file=mras.xml\n", PROFILE_ERROR_VALUE,
                   "MRAS credentials are for an SfB edge");
    assert_refused(*state, SFB "turn = ms-turn\nmras_response_file=turn.secret\n",
                   PROFILE_ERROR_VALUE, "not an MRAS answer");
    assert_refused(*state, SFB "turn = ms-turn\nmras_response_file=mras.xml\n"
                               "mras_issued_at = yesterday\n",
                   PROFILE_ERROR_VALUE, "[edge] mras_issued_at: 'yesterday' is not a time");
    /* An order never carries the controller's files. */
    const char *text = SFB "turn = ms-turn\nmras_response_file=/nonexistent/mras.xml\n";
    g_autoptr(Profile) order = profile_load_order(text, strlen(text), NULL, &error);
    assert_non_null(order);
    assert_null(order->edge.mras);
    assert_true(order->edge.ms_turn);
}

static void test_routes_that_must_bypass_the_tunnel(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) d = load(*state, BASE, &error);
    assert_int_equal(d->routes.bypass->len, 0);
    g_autoptr(Profile) p = load(*state,
                                BASE "[routes]\nmust_bypass = 198.51.100.0/24 udp:3478-3481; "
                                     "192.0.2.0/25   ; the lab's\nendpoints_file = m365.json\n",
                                &error);
    if (!p)
        fail_msg("%s", error->message);
    assert_int_equal(p->routes.bypass->len, 42); /* 2 of the profile's, 40 Optimize */
    const RoutePrefix *first = p->routes.bypass->pdata[0];
    assert_string_equal(first->cidr, "198.51.100.0/24");
    assert_int_equal(first->udp_port, 3478);
    assert_string_equal(first->service, "the profile");
    assert_true(g_str_has_suffix(p->routes.endpoints_file, G_DIR_SEPARATOR_S "m365.json"));
    assert_refused(*state, BASE "[routes]\nmust_bypass = 52.112.0.0\n", PROFILE_ERROR_VALUE,
                   "[routes] must_bypass: '52.112.0.0' is not an address range");
    assert_refused(*state, BASE "[routes]\nendpoints_file = p.conf\n", PROFILE_ERROR_READ,
                   "[routes] endpoints_file: cannot read");
    assert_refused(*state, BASE "[routes]\nendpoints_file = turn.secret\n", PROFILE_ERROR_VALUE,
                   "turn.secret': the endpoints document is not JSON");
    /* an order never names the controller's file */
    const char *text = BASE "[routes]\nendpoints_file = /nonexistent.json\n";
    g_autoptr(Profile) order = profile_load_order(text, strlen(text), NULL, &error);
    assert_non_null(order);
    assert_int_equal(order->routes.bypass->len, 0);
}

static void test_codec_names_the_mos_shape(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) d = load(*state, BASE, &error);
    assert_non_null(d);
    assert_string_equal(d->stream.codec->name, "g711");
    assert_int_equal(d->stream.payload_bytes, 160);
    /* A codec brings its packet shape... */
    g_autoptr(Profile) wb = load(*state, BASE "[stream]\ncodec = AMR-WB\n", &error);
    assert_non_null(wb);
    assert_string_equal(wb->stream.codec->name, "amr-wb");
    assert_true(wb->stream.codec->wideband);
    assert_int_equal(wb->stream.payload_bytes, 33);
    assert_int_equal(wb->stream.ptime_ms, 20);
    /* ...unless the profile gives its own. */
    g_autoptr(Profile) own =
        load(*state, BASE "[stream]\npayload_bytes = 200\ncodec = g729a\nptime_ms = 30\n", &error);
    assert_non_null(own);
    assert_int_equal(own->stream.payload_bytes, 200);
    assert_int_equal(own->stream.ptime_ms, 30);
    assert_refused(
        *state, BASE "[stream]\ncodec = opus\n", PROFILE_ERROR_VALUE,
        "[stream] codec: 'opus': unknown codec (known: g711, g711-noplc, g729a, amr-wb)");
}

static void test_missing_secret_file_is_named(void **state)
{
    assert_refused(*state, "[profile]\nname=x\n[edge]\nhost=h\nsecret_file=nope.secret\n",
                   PROFILE_ERROR_READ, "[edge] secret_file: cannot read");
}

static void test_missing_credentials_are_refused(void **state)
{
    assert_refused(*state, "[profile]\nname=x\n[edge]\nhost=h\n", PROFILE_ERROR_MISSING,
                   "TURN credentials are missing");
}

static void test_unreadable_ca_is_refused(void **state)
{
    Fixture *f = *state;
    assert_refused(f, BASE "tls_ca_file=turn.secret\n", PROFILE_ERROR_READ, "[edge] tls_ca_file:");
    assert_refused(f, BASE "tls_ca_file=missing.pem\n", PROFILE_ERROR_READ,
                   G_DIR_SEPARATOR_S "missing.pem' is not a readable file");
}

/* A bundle whose second certificate is damaged is refused at load, naming
 * it, not taken for a bundle of one. */
static void test_a_ca_bundle_with_a_damaged_certificate_is_refused(void **state)
{
    Fixture *f = *state;
    g_autofree char *pem = NULL;
    assert_true(g_file_get_contents(UNIT_DATA_DIR "/test-ca.pem", &pem, NULL, NULL));
    const char *body = strstr(pem, "-----BEGIN CERTIFICATE-----\n");
    assert_non_null(body);
    g_autofree char *damaged = g_strdup(body);
    damaged[40] = '*'; /* not base64: the second certificate's DER does not decode */
    g_autofree char *both = g_strconcat(pem, damaged, NULL);
    g_autofree char *path = g_build_filename(f->dir, "bad-ca.pem", NULL);
    assert_true(g_file_set_contents(path, both, -1, NULL));
    assert_refused(f, BASE "tls_ca_file=bad-ca.pem\n", PROFILE_ERROR_READ,
                   "certificate 2 does not parse");
}

static void test_required_key_missing_is_named(void **state)
{
    assert_refused(*state, "[edge]\nhost=h\nsecret_file=turn.secret\n", PROFILE_ERROR_MISSING,
                   "[profile] name: required key is missing");
}

static void test_not_a_key_file_is_refused(void **state)
{
    assert_refused(*state, "this is not\x01 a profile", PROFILE_ERROR_SYNTAX, "not a profile");
}

static void test_oversized_profile_is_refused(void **state)
{
    g_autofree char *big = g_strnfill(PROFILE_MAX_BYTES + 1, '#');
    assert_refused(*state, big, PROFILE_ERROR_READ, "larger than");
}

static void test_pin_accepts_openssl_colon_form(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strconcat(
        BASE, "tls_pin_sha256=",
        "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
        "67:89\n",
        NULL);
    g_autoptr(Profile) p = load(*state, text, &error);
    assert_non_null(p);
    assert_string_equal(p->edge.tls_pin_sha256,
                        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
}

static void test_relative_paths_are_relative_to_the_profile_file(void **state)
{
    Fixture *f = *state;
    g_autofree char *path = g_build_filename(f->dir, "p.conf", NULL);
    assert_true(g_file_set_contents(path, BASE "tls_ca_file=edge-ca.pem\n", -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = profile_load(path, &error);
    assert_null(error);
    g_autofree char *ca = g_build_filename(f->dir, "edge-ca.pem", NULL);
    assert_string_equal(p->edge.tls_ca_file, ca);
}

static void test_ranges_and_tunnel_names_match(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = load(*state, contract_example, &error);
    g_autoptr(GInetAddress) vpn = g_inet_address_new_from_string("100.64.0.2");
    g_autoptr(GInetAddress) pub = g_inet_address_new_from_string("203.0.113.10");
    g_autoptr(GInetAddress) v6 = g_inet_address_new_from_string("2001:db8::1");
    assert_true(profile_in_ranges(p->network.vpn_ranges, vpn));
    assert_false(profile_in_ranges(p->network.internal_ranges, pub));
    assert_false(profile_in_ranges(p->network.internal_ranges, v6));
    assert_true(profile_tunnel_name_matches(p, "gpd0"));
    assert_false(profile_tunnel_name_matches(p, "corpvpn3"));
}

/* Left unset, internal_ranges are IPv4's private ranges and IPv6's (ULA,
 * fc00::/7, RFC 4193), so an edge name that answers a ULA is internal too. */
static void test_default_internal_ranges_are_private_in_both_families(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = load(*state, BASE, &error);
    assert_null(error);
    static const struct {
        const char *addr;
        gboolean internal;
    } cases[] = {
        {"10.1.0.20", TRUE},   {"192.168.1.1", TRUE},      {"fd00:10:1::20", TRUE},
        {"fc12::1", TRUE},     {"203.0.113.10", FALSE},    {"2001:db8::1", FALSE},
        {"fe80::1", FALSE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GInetAddress) a = g_inet_address_new_from_string(cases[i].addr);
        if (profile_in_ranges(p->network.internal_ranges, a) != cases[i].internal)
            fail_msg("%s: internal should be %d", cases[i].addr, cases[i].internal);
    }
}

/* The edge's expected addresses say nothing of a family they do not list: an
 * edge name that also answers IPv6 is not wrong for an IPv4-only list. */
static void test_expected_addresses_judge_only_their_own_family(void **state)
{
    g_autoptr(GPtrArray) v4 = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(v4, g_inet_address_new_from_string("203.0.113.10"));
    g_autoptr(GInetAddress) right = g_inet_address_new_from_string("203.0.113.10");
    g_autoptr(GInetAddress) wrong = g_inet_address_new_from_string("203.0.113.99");
    g_autoptr(GInetAddress) six = g_inet_address_new_from_string("2001:db8:e::10");
    g_autoptr(GInetAddress) other6 = g_inet_address_new_from_string("2001:db8:e::99");
    assert_true(profile_address_expected(v4, right));
    assert_false(profile_address_expected(v4, wrong));
    assert_true(profile_address_expected(v4, six));
    /* Once the list names an IPv6 address, IPv6 answers are held to it too. */
    g_ptr_array_add(v4, g_inet_address_new_from_string("2001:db8:e::10"));
    assert_true(profile_address_expected(v4, six));
    assert_false(profile_address_expected(v4, other6));
    assert_false(profile_address_expected(v4, wrong));
}

/* Every shipped profile loads, given its secret and CA beside it. */
static void test_shipped_profiles_load(void **state)
{
    Fixture *f = *state;
    g_autoptr(GDir) d = g_dir_open(PROFILES_DIR, 0, NULL);
    assert_non_null(d);
    int n = 0;
    for (const char *name; (name = g_dir_read_name(d));) {
        if (!g_str_has_suffix(name, ".conf"))
            continue;
        g_autofree char *src = g_build_filename(PROFILES_DIR, name, NULL);
        g_autofree char *text = NULL;
        assert_true(g_file_get_contents(src, &text, NULL, NULL));
        g_autoptr(GError) error = NULL;
        g_autoptr(Profile) p = load(f, text, &error);
        if (!p)
            fail_msg("%s: %s", name, error->message);
        n++;
    }
    assert_true(n > 0);
}

/* ---- numbers parsed by threads at once, first in the process ---- */

static const char *self; /* argv[0] */
static GMutex start_lock;
static GCond start_cond;
static gboolean started;

static gpointer load_when_told(gpointer data)
{
    g_mutex_lock(&start_lock);
    while (!started)
        g_cond_wait(&start_cond, &start_lock);
    g_mutex_unlock(&start_lock);
    const char *text = "[profile]\nname=t\n[edge]\nhost=127.0.0.1\nudp_port=9\nusername=u\n"
                       "password_file=" UNIT_DATA_DIR "/turn.password\n";
    g_autoptr(GError) e = NULL;
    g_autoptr(Profile) p = profile_load_from_data(text, strlen(text), NULL, "t", &e);
    if (!p)
        g_printerr("%s\n", e->message);
    return GINT_TO_POINTER(p != NULL);
}

/* The child: eight threads load a profile at the same moment, the process's
 * first numbers; 0 when all of them could. */
static int load_at_once(void)
{
    GThread *t[8];
    for (gsize i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("load", load_when_told, NULL);
    g_usleep(2000);
    g_mutex_lock(&start_lock);
    started = TRUE;
    g_cond_broadcast(&start_cond);
    g_mutex_unlock(&start_lock);
    int failed = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(t); i++)
        failed += !GPOINTER_TO_INT(g_thread_join(t[i]));
    return failed ? 1 : 0;
}

/* Two sides of a paired run load their profiles at once: neither is refused
 * (GLib 2.74 refused "9" in about one such process in ten, profile.c). */
static void test_threads_loading_profiles_at_once_are_all_answered(void **state)
{
#ifdef G_OS_WIN32
    /* No child here: a static GLib spawns through a helper program that is
     * not installed beside the tests. The threads run in this process. */
    assert_int_equal(load_at_once(), 0);
#else
    const int runs = 200;
    for (int i = 0; i < runs; i++) {
        const char *argv[] = {self, "--load-at-once", NULL};
        g_autofree char *err = NULL;
        int status = -1;
        g_autoptr(GError) e = NULL;
        assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                                 &err, &status, &e));
        if (!g_spawn_check_wait_status(status, NULL))
            fail_msg("run %d of %d: a thread's profile was refused: %s", i + 1, runs, err);
    }
#endif
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc > 1 && strcmp(argv[1], "--load-at-once") == 0)
        return load_at_once();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_loading_profiles_at_once_are_all_answered),
        cmocka_unit_test_setup_teardown(test_contract_example_loads_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_are_microsofts_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_group_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_is_named_with_its_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_clients_are_program_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ice_client_is_a_profile_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dialect_is_a_profile_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mras_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_that_must_bypass_the_tunnel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_names_the_mos_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_secret_file_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_credentials_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_ca_bundle_with_a_damaged_certificate_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_key_missing_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_key_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_profile_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_accepts_openssl_colon_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths_are_relative_to_the_profile_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ranges_and_tunnel_names_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_internal_ranges_are_private_in_both_families,
                                        setup, teardown),
        cmocka_unit_test(test_expected_addresses_judge_only_their_own_family),
        cmocka_unit_test_setup_teardown(test_shipped_profiles_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
