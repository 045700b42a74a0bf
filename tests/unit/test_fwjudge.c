/* The firewall judge (probe/engine/fwjudge.h): seed 002's fix passes, and each
 * way it can fall short is found: a direction, a protocol, the network profile,
 * a program other than the call client, Group Policy's store, a read that
 * stopped part way. Then the parsers of the rules' strings, and the finding
 * once a path through the tunnel connected (policy_judge_firewall). The rules
 * are as INetFwRule gives them; the same test runs under Wine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fwjudge.h"
#include "iceprobe/policy.h"
#include "iceprobe/profile.h"

/* The seed's network: corporate subnets in 10.0.0.0/8, the VPN pool 172.16.1.0/24
 * (the article's "172.16.1.0/8" is a slip for a /24 inside 172.16.0.0/12), the
 * client at 172.16.1.23 on the VPN's adapter, a Domain network. */
#define SEED_LOCAL  "172.16.1.0/255.255.255.0"
#define SEED_REMOTE "10.0.0.0/255.0.0.0,172.16.1.0/255.255.255.0"
#define SEED_APP    "C:\\Program Files (x86)\\Microsoft Lync\\communicator.exe"

typedef struct {
    FirewallState *st;
    GPtrArray *addrs, *internal, *vpn;
    char **clients;
    FwJudgeInput in;
} Fixture;

static GPtrArray *masks(const char *const *cidrs)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_object_unref);
    for (; *cidrs; cidrs++)
        g_ptr_array_add(a, g_inet_address_mask_new_from_string(*cidrs, NULL));
    return a;
}

static FirewallRule *rule(const char *name, FirewallDirection dir, int protocol)
{
    FirewallRule *r = g_new0(FirewallRule, 1);
    r->name = g_strdup(name);
    r->direction = dir;
    r->enabled = TRUE;
    r->block = TRUE;
    r->profiles = FIREWALL_PROFILE_DOMAIN;
    r->protocol = protocol;
    r->interface_types = g_strdup("RemoteAccess");
    r->local_addresses = g_strdup(SEED_LOCAL);
    r->remote_addresses = g_strdup(SEED_REMOTE);
    r->application = g_strdup(SEED_APP);
    return r;
}

/* The fix as the article builds it: a custom rule for the program, all
 * protocols and ports, both directions. */
static void add_seed_fix(Fixture *f)
{
    g_ptr_array_add(f->st->rules,
                    rule("Block Lync over VPN (in)", FIREWALL_IN, FIREWALL_PROTOCOL_ANY));
    g_ptr_array_add(f->st->rules,
                    rule("Block Lync over VPN (out)", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    f->st = firewall_state_new();
    f->st->local_policy = FIREWALL_LOCAL_APPLIES;
    f->st->profiles = FIREWALL_PROFILE_DOMAIN;
    f->addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(f->addrs, g_inet_address_new_from_string("172.16.1.23"));
    static const char *const internal[] = {"10.0.0.0/8", NULL};
    static const char *const vpn[] = {"172.16.1.0/24", NULL};
    f->internal = masks(internal);
    f->vpn = masks(vpn);
    f->clients = g_strsplit("communicator.exe", ";", -1);
    f->in = (FwJudgeInput){.tunnel_name = "Ethernet 3",
                           .tunnel_if_type = 23, /* PPP: Windows' own VPN client, as the seed's */
                           .tunnel_addresses = f->addrs,
                           .internal_ranges = f->internal,
                           .vpn_ranges = f->vpn,
                           .call_clients = f->clients};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    firewall_state_free(f->st);
    g_ptr_array_unref(f->addrs);
    g_ptr_array_unref(f->internal);
    g_ptr_array_unref(f->vpn);
    g_strfreev(f->clients);
    g_free(f);
    return 0;
}

static FwVerdict *judge(Fixture *f)
{
    return fwjudge_judge(f->st, &f->in);
}

/* The directions and protocols the detail lists as missing, "in/tcp,out/udp". */
static char *missing_of(const FwVerdict *v)
{
    JsonArray *a = json_object_get_array_member(v->detail, "missing");
    GString *g = g_string_new(NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_string_append_printf(g, "%s%s:%s/%s", g->len ? "," : "",
                               json_object_get_string_member(o, "client"),
                               json_object_get_string_member(o, "direction"),
                               json_object_get_string_member(o, "protocol"));
    }
    return g_string_free(g, FALSE);
}

static const char *first_not_counted(const FwVerdict *v)
{
    JsonArray *a = json_object_get_array_member(v->detail, "rules_not_counted");
    if (json_array_get_length(a) == 0)
        return "";
    return json_object_get_string_member(json_array_get_object_element(a, 0), "why");
}

static void test_seed_002_s_fix_passes(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_PASS);
    assert_false(v->block_missing);
    assert_string_equal(v->reason, "the Windows Firewall blocks 172.16.1.23 from 10.0.0.0/8, "
                                   "172.16.1.0/24, inbound and outbound, TCP and UDP, for "
                                   "communicator.exe (by rules for their programs alone: "
                                   "iceprobe's own checks are not blocked by them, so one of its "
                                   "tunnel paths that reaches these ranges says the VPN "
                                   "gateway's block is missing, GATEWAY_BLOCK_MISSING, a "
                                   "warning)");
    assert_int_equal(json_object_get_int_member(v->detail, "block_rules_counted"), 2);
    assert_true(json_object_get_boolean_member(v->detail, "programs_only"));
    /* The same rules for every program: iceprobe.exe is held too. */
    for (guint i = 0; i < f->st->rules->len; i++)
        g_clear_pointer(&((FirewallRule *)f->st->rules->pdata[i])->application, g_free);
    g_autoptr(FwVerdict) all = judge(f);
    assert_int_equal(all->verdict, VERDICT_PASS);
    assert_false(json_object_get_boolean_member(all->detail, "programs_only"));
}

static void test_a_missing_outbound_rule_is_found(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("in only", FIREWALL_IN, FIREWALL_PROTOCOL_ANY));
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    assert_true(v->block_missing);
    g_autofree char *m = missing_of(v);
    assert_string_equal(m, "communicator.exe:out/tcp,communicator.exe:out/udp");
    assert_non_null(strstr(v->reason, "172.16.1.23 outbound TCP (communicator.exe); "
                                      "172.16.1.23 outbound UDP (communicator.exe)"));
}

static void test_a_block_of_tcp_alone_misses_udp(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("tcp in", FIREWALL_IN, 6));
    g_ptr_array_add(f->st->rules, rule("tcp out", FIREWALL_OUT, 6));
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    g_autofree char *m = missing_of(v);
    assert_string_equal(m, "communicator.exe:in/udp,communicator.exe:out/udp");
}

static void test_rules_of_another_network_profile_do_not_count(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    for (guint i = 0; i < f->st->rules->len; i++)
        ((FirewallRule *)f->st->rules->pdata[i])->profiles = FIREWALL_PROFILE_PRIVATE;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    assert_string_equal(first_not_counted(v),
                        "its profiles (Private) are not the tunnel network's (Domain)");
    /* Every profile includes the tunnel's. */
    for (guint i = 0; i < f->st->rules->len; i++)
        ((FirewallRule *)f->st->rules->pdata[i])->profiles = FIREWALL_PROFILE_ALL;
    g_autoptr(FwVerdict) all = judge(f);
    assert_int_equal(all->verdict, VERDICT_PASS);
}

/* Where the tunnel network's profile could not be read, the rules must apply
 * to every active one to prove the block: a Domain-only rule may not be the
 * tunnel's. Nor is the block then proved missing: the Domain one may be. */
static void test_an_unknown_profile_asks_for_every_active_one(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    f->st->profiles = FIREWALL_PROFILE_DOMAIN | FIREWALL_PROFILE_PUBLIC;
    f->st->profiles_note = g_strdup("INetworkListManager: no network for the adapter");
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_false(v->block_missing);
    assert_string_equal(first_not_counted(v),
                        "its profiles (Domain) are not every active one (Domain, Public)");
    assert_non_null(strstr(v->reason, "and which one is the tunnel network's cannot be told: "
                                      "its own may block it"));
    assert_non_null(strstr(v->reason, "the tunnel network's profile could not be read "
                                      "(INetworkListManager: no network for the adapter)"));
    assert_string_equal(json_object_get_string_member(v->detail, "profiles_from"), "active");
    /* A firewall off for one of them: the same; off for both, the tunnel's is off. */
    for (guint i = 0; i < f->st->rules->len; i++)
        ((FirewallRule *)f->st->rules->pdata[i])->profiles |= FIREWALL_PROFILE_PUBLIC;
    f->st->profiles_off = FIREWALL_PROFILE_PUBLIC;
    g_autoptr(FwVerdict) off = judge(f);
    assert_int_equal(off->verdict, VERDICT_SKIP);
    assert_non_null(strstr(off->reason, "the Windows Firewall is off for Public, and which "));
    f->st->profiles_off = FIREWALL_PROFILE_PUBLIC | FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) both_off = judge(f);
    assert_int_equal(both_off->verdict, VERDICT_WARN);
    assert_true(both_off->block_missing);
    assert_non_null(
        strstr(both_off->reason, "the Windows Firewall is off for Domain, Public, so "));
    f->st->profiles_off = 0;
    g_autoptr(FwVerdict) both = judge(f);
    assert_int_equal(both->verdict, VERDICT_PASS);
}

/* Block rules do nothing where the tunnel's profile has the firewall off, or
 * leaves the tunnel's adapter out: the block is missing, whatever the rules. */
static void test_a_firewall_off_or_an_excluded_adapter_blocks_nothing(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    f->st->profiles_off = FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) off = judge(f);
    assert_int_equal(off->verdict, VERDICT_WARN);
    assert_true(off->block_missing);
    assert_string_equal(off->reason, "the Windows Firewall does not block the tunnel's address "
                                     "from 10.0.0.0/8, 172.16.1.0/24: the Windows Firewall is "
                                     "off for Domain, so its rules do nothing there");
    /* Off for another profile: the tunnel's still blocks. */
    f->st->profiles_off = FIREWALL_PROFILE_PUBLIC;
    g_autoptr(FwVerdict) other = judge(f);
    assert_int_equal(other->verdict, VERDICT_PASS);
    f->st->profiles_off = 0;
    f->st->excluded[FIREWALL_PROFILE_INDEX(FIREWALL_PROFILE_DOMAIN)] = g_strdup("Wi-Fi,ethernet 3");
    g_autoptr(FwVerdict) ex = judge(f);
    assert_int_equal(ex->verdict, VERDICT_WARN);
    assert_true(ex->block_missing);
    assert_non_null(strstr(ex->reason, "the tunnel adapter Ethernet 3 is excluded from the "
                                       "Windows Firewall for Domain (ExcludedInterfaces)"));
    assert_string_equal(json_object_get_string_member(ex->detail, "tunnel_excluded"), "Domain");
    g_free(f->st->excluded[0]);
    f->st->excluded[0] = g_strdup("Wi-Fi");
    g_autoptr(FwVerdict) wifi = judge(f);
    assert_int_equal(wifi->verdict, VERDICT_PASS);
    /* Whether it is on could not be read: the rules prove no block. */
    f->st->profiles_state_why = g_strdup("INetFwPolicy2::get_FirewallEnabled: error (0x80004005)");
    g_autoptr(FwVerdict) unknown = judge(f);
    assert_int_equal(unknown->verdict, VERDICT_SKIP);
    assert_false(unknown->block_missing);
    assert_non_null(strstr(unknown->reason, "cannot be read (INetFwPolicy2::get_FirewallEnabled"));
}

static void test_a_rule_for_another_program_does_not_count(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    for (guint i = 0; i < f->st->rules->len; i++) {
        FirewallRule *r = f->st->rules->pdata[i];
        g_free(r->application);
        r->application = g_strdup("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe");
    }
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    assert_string_equal(first_not_counted(v),
                        "it is for C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe, "
                        "not a call client ([network] call_clients)");
}

/* Every call client of the profile needs its block: one program's rules
 * leave the others' media free. A rule for any program covers them all. */
static void test_each_call_client_needs_its_block(void **state)
{
    Fixture *f = *state;
    g_strfreev(f->clients);
    f->clients = g_strsplit("lync.exe;Teams.exe", ";", -1);
    f->in.call_clients = f->clients;
    add_seed_fix(f);
    for (guint i = 0; i < f->st->rules->len; i++) {
        FirewallRule *r = f->st->rules->pdata[i];
        g_free(r->application);
        r->application = g_strdup("%ProgramFiles%\\Microsoft Office\\root\\Office16\\LYNC.EXE");
    }
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    g_autofree char *m = missing_of(v);
    assert_string_equal(m, "Teams.exe:in/tcp,Teams.exe:in/udp,Teams.exe:out/tcp,Teams.exe:out/udp");
    for (guint i = 0; i < f->st->rules->len; i++)
        g_clear_pointer(&((FirewallRule *)f->st->rules->pdata[i])->application, g_free);
    g_autoptr(FwVerdict) any = judge(f);
    assert_int_equal(any->verdict, VERDICT_PASS);
    assert_null(strstr(any->reason, "programs alone")); /* they block iceprobe too */
}

/* The default call clients (a profile that leaves the key out): the block is
 * asked for those the block rules name, here seed 002's Communicator.exe,
 * not for clients the laptops may not run. A list the profile gives is asked
 * for in full. */
static void test_the_default_call_clients_are_those_the_rules_name(void **state)
{
    Fixture *f = *state;
    static const char text[] = "[profile]\nname=seed-002\n[edge]\nhost=192.0.2.1\n";
    g_autoptr(GError) e = NULL;
    g_autoptr(Profile) def = profile_load_order(text, sizeof text - 1, NULL, &e);
    assert_non_null(def);
    assert_false(def->network.call_clients_given);
    f->in.call_clients = def->network.call_clients;
    f->in.call_clients_default = TRUE;
    add_seed_fix(f);
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_PASS);
    assert_non_null(strstr(v->reason, "TCP and UDP, for communicator.exe (by rules"));
    JsonArray *judged = json_object_get_array_member(v->detail, "call_clients_judged");
    assert_int_equal(json_array_get_length(judged), 1);
    /* A rule for any program that does not count (another profile) adds none. */
    FirewallRule *other = rule("Block SMB (Private)", FIREWALL_IN, 6);
    other->profiles = FIREWALL_PROFILE_PRIVATE;
    g_clear_pointer(&other->application, g_free);
    g_ptr_array_add(f->st->rules, other);
    g_autoptr(FwVerdict) smb = judge(f);
    assert_int_equal(smb->verdict, VERDICT_PASS);
    /* One that counts covers every client: each needs the whole block. */
    other->profiles = FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) any = judge(f);
    assert_int_equal(any->verdict, VERDICT_WARN);
    g_autofree char *any_m = missing_of(any);
    assert_non_null(strstr(any_m, "Teams.exe:in/udp"));
    assert_null(strstr(any_m, "Teams.exe:in/tcp"));
    g_ptr_array_remove_index(f->st->rules, 2);
    /* The same list given in the profile: every client needs its block. */
    f->in.call_clients_default = FALSE;
    g_autoptr(FwVerdict) given = judge(f);
    assert_int_equal(given->verdict, VERDICT_WARN);
    g_autofree char *m = missing_of(given);
    assert_non_null(strstr(m, "lync.exe:in/tcp"));
    assert_non_null(strstr(m, "ms-teams.exe:out/udp"));
    assert_null(strstr(m, "communicator.exe"));
    /* No rule names any call client: every default one lacks its block. */
    f->in.call_clients_default = TRUE;
    for (guint i = 0; i < f->st->rules->len; i++) {
        FirewallRule *r = f->st->rules->pdata[i];
        g_free(r->application);
        r->application = g_strdup("C:\\Program Files\\Zoom\\bin\\Zoom.exe");
    }
    g_autoptr(FwVerdict) none = judge(f);
    assert_int_equal(none->verdict, VERDICT_WARN);
    assert_non_null(strstr(none->reason, "(lync.exe, Teams.exe, ms-teams.exe, communicator.exe)"));
}

static void test_group_policy_s_store_is_not_judged(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    f->st->local_policy = FIREWALL_LOCAL_GP_OVERRIDE;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_false(v->block_missing);
    assert_string_equal(v->reason,
                        "Group Policy's firewall settings override the local rules "
                        "(LocalPolicyModifyState is FW_MODIFY_STATE_GP_OVERRIDE): the rules "
                        "that apply are Group Policy's, which this check does not judge");
}

/* Rules Group Policy pushes are not among INetFwPolicy2's (the local store's):
 * a block missing from the local rules may be there, so it is not told. */
static void test_rules_from_group_policy_make_a_missing_block_a_skip(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("in only", FIREWALL_IN, FIREWALL_PROTOCOL_ANY));
    f->st->gp_rules = 2;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_false(v->block_missing);
    assert_string_equal(v->reason, "the block was not found among the local rules (172.16.1.23 "
                                   "outbound TCP (communicator.exe); 172.16.1.23 outbound UDP "
                                   "(communicator.exe)), but rules from Group Policy (2) are not "
                                   "read by this check");
    assert_int_equal(json_object_get_int_member(v->detail, "gp_rules"), 2);
    /* The key could not be read: the same. */
    f->st->gp_rules = -1;
    f->st->gp_rules_why = g_strdup("RegOpenKeyEx: Access is denied (0x80070005)");
    g_autoptr(FwVerdict) unread = judge(f);
    assert_int_equal(unread->verdict, VERDICT_SKIP);
    assert_non_null(strstr(unread->reason, "cannot be told (RegOpenKeyEx: Access is denied"));
    /* A block found among the local rules holds whatever Group Policy adds. */
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    f->st->gp_rules = 2;
    g_autoptr(FwVerdict) found = judge(f);
    assert_int_equal(found->verdict, VERDICT_PASS);
    /* None pushed: the block is missing. */
    g_ptr_array_remove_index(f->st->rules, 1);
    f->st->gp_rules = 0;
    g_autoptr(FwVerdict) none = judge(f);
    assert_int_equal(none->verdict, VERDICT_WARN);
}

/* A read that stopped part way proves a block it found (block rules win),
 * never one missing. */
static void test_an_incomplete_read_proves_no_block_missing(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("in only", FIREWALL_IN, FIREWALL_PROTOCOL_ANY));
    f->st->incomplete = g_strdup("IEnumVARIANT::Next after 1 rule: 0x80004005");
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_false(v->block_missing);
    assert_non_null(strstr(v->reason, "the block was not found among the rules read, which are "
                                      "not all of them"));
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    g_autoptr(FwVerdict) found = judge(f);
    assert_int_equal(found->verdict, VERDICT_PASS);
    assert_non_null(strstr(found->reason, "; not every rule was read (IEnumVARIANT::Next after "
                                          "1 rule: 0x80004005)"));
}

static void test_rules_that_cannot_be_read_are_said(void **state)
{
    Fixture *f = *state;
    f->st->incomplete = g_strdup("INetFwRules::get__NewEnum: Not implemented");
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_string_equal(v->reason, "the firewall's rules cannot be read: "
                                   "INetFwRules::get__NewEnum: Not implemented");
    /* Unknown local policy: a block found proves nothing. */
    g_free(f->st->incomplete);
    f->st->incomplete = NULL;
    add_seed_fix(f);
    f->st->local_policy = FIREWALL_LOCAL_UNKNOWN;
    f->st->local_policy_why = g_strdup("0x80004001");
    g_autoptr(FwVerdict) u = judge(f);
    assert_int_equal(u->verdict, VERDICT_SKIP);
    assert_non_null(strstr(u->reason, "whether Group Policy lets the local rules apply cannot be "
                                      "read (0x80004001)"));
}

static void test_without_a_tunnel_nothing_is_judged(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    f->in.tunnel_name = NULL;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_SKIP);
    assert_string_equal(v->reason,
                        "no tunnel is up: the block is the tunnel address's (2 rules read)");
}

static void test_interface_types_ports_and_state_decide(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    FirewallRule *in = f->st->rules->pdata[0];
    g_free(in->interface_types);
    in->interface_types = g_strdup("Lan,Wireless");
    g_autoptr(FwVerdict) lan = judge(f);
    assert_string_equal(first_not_counted(lan),
                        "its interface types (Lan,Wireless) are not remote access");
    g_free(in->interface_types);
    in->interface_types = g_strdup("All");
    in->protocol = 17;
    in->remote_ports = g_strdup("443");
    g_autoptr(FwVerdict) port = judge(f);
    assert_string_equal(first_not_counted(port),
                        "its remote ports (443) do not hold the media's 1024-65535");
    g_free(in->remote_ports);
    in->remote_ports = g_strdup("1024-3000, 3001-65535");
    g_ptr_array_add(f->st->rules, rule("tcp in", FIREWALL_IN, 6));
    g_autoptr(FwVerdict) split = judge(f);
    assert_int_equal(split->verdict, VERDICT_PASS);
    /* A disabled rule, or an allow rule, blocks nothing. */
    in->enabled = FALSE;
    g_autoptr(FwVerdict) off = judge(f);
    assert_int_equal(off->verdict, VERDICT_WARN);
    in->enabled = TRUE;
    in->block = FALSE;
    g_autoptr(FwVerdict) allow = judge(f);
    assert_int_equal(allow->verdict, VERDICT_WARN);
    /* A rule of a service, or of an app package, is not the call client's. */
    in->block = TRUE;
    in->service = g_strdup("*");
    g_autoptr(FwVerdict) svc = judge(f);
    assert_string_equal(first_not_counted(svc), "it is for services, not a program");
    g_clear_pointer(&in->service, g_free);
    g_clear_pointer(&in->application, g_free);
    in->package = g_strdup("S-1-15-2-1430448594-2639229838-973813799");
    g_autoptr(FwVerdict) pkg = judge(f);
    assert_int_equal(pkg->verdict, VERDICT_WARN);
    assert_string_equal(first_not_counted(pkg),
                        "it is for the app package S-1-15-2-1430448594-2639229838-973813799, "
                        "not a call client's program");
}

/* The firewall's Remote Access interface type is PPP adapters': a tunnel
 * presenting as Ethernet (GlobalProtect, AnyConnect) or a virtual adapter
 * (Wintun) is not one, so the seed's rules scoped to it do not hold it. */
static void test_remote_access_rules_hold_a_ppp_tunnel_alone(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    static const guint not_ppp[] = {6, 53, 1, 0};
    for (gsize i = 0; i < G_N_ELEMENTS(not_ppp); i++) {
        f->in.tunnel_if_type = not_ppp[i];
        g_autoptr(FwVerdict) v = judge(f);
        assert_int_equal(v->verdict, VERDICT_WARN);
        g_autofree char *want = g_strdup_printf(
            "its interface types (RemoteAccess) hold remote access, which the Windows Firewall "
            "gives PPP adapters (IfType 23) alone, and the tunnel's adapter is %s",
            i == 0   ? "IfType 6"
            : i == 1 ? "IfType 53"
            : i == 2 ? "IfType 1"
                     : "of an unknown type");
        assert_string_equal(first_not_counted(v), want);
    }
    /* Rules for every interface type hold it. */
    f->in.tunnel_if_type = 6;
    for (guint i = 0; i < f->st->rules->len; i++) {
        FirewallRule *r = f->st->rules->pdata[i];
        g_free(r->interface_types);
        r->interface_types = g_strdup("All");
    }
    g_autoptr(FwVerdict) all = judge(f);
    assert_int_equal(all->verdict, VERDICT_PASS);
    assert_int_equal(json_object_get_int_member(all->detail, "tunnel_if_type"), 6);
}

/* The remote ranges may come from several rules; a range left out is named. */
static void test_ranges_are_covered_by_the_rules_together(void **state)
{
    Fixture *f = *state;
    const char *halves[] = {"10.0.0.0-10.127.255.255,172.16.1.0/24", "10.128.0.0/9,LocalSubnet"};
    for (int h = 0; h < 2; h++) {
        for (FirewallDirection d = FIREWALL_IN; d <= FIREWALL_OUT; d++) {
            FirewallRule *r = rule("half", d, FIREWALL_PROTOCOL_ANY);
            g_free(r->remote_addresses);
            r->remote_addresses = g_strdup(halves[h]);
            g_ptr_array_add(f->st->rules, r);
        }
    }
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_PASS);
    /* The profile's RFC 1918 ranges: 172.16.0.0/12 and 192.168.0.0/16 are not blocked. */
    static const char *const rfc1918[] = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                          "fc00::/7", NULL};
    g_ptr_array_unref(f->internal);
    f->internal = masks(rfc1918);
    f->in.internal_ranges = f->internal;
    g_autoptr(FwVerdict) wide = judge(f);
    assert_int_equal(wide->verdict, VERDICT_WARN);
    JsonObject *first =
        json_array_get_object_element(json_object_get_array_member(wide->detail, "missing"), 0);
    JsonArray *unc = json_object_get_array_member(first, "uncovered");
    assert_int_equal(json_array_get_length(unc), 2);
    assert_string_equal(json_array_get_string_element(unc, 0), "172.16.0.0/12");
    assert_string_equal(json_array_get_string_element(unc, 1), "192.168.0.0/16");
    /* The tunnel has no IPv6 address: fc00::/7 is not judged, and said so. */
    JsonArray *nj = json_object_get_array_member(wide->detail, "ranges_not_judged");
    assert_int_equal(json_array_get_length(nj), 1);
    assert_string_equal(json_array_get_string_element(nj, 0), "fc00::/7");
}

/* A tunnel with an IPv6 address: the profile's IPv6 ranges are judged for it,
 * and a rule naming them (or any address) passes. */
static void test_ipv6_ranges_are_judged_for_an_ipv6_tunnel_address(void **state)
{
    Fixture *f = *state;
    static const char *const with_ula[] = {"10.0.0.0/8", "fc00::/7", NULL};
    g_ptr_array_unref(f->internal);
    f->internal = masks(with_ula);
    f->in.internal_ranges = f->internal;
    g_ptr_array_add(f->addrs, g_inet_address_new_from_string("fd00:64::17"));
    add_seed_fix(f);
    g_autoptr(FwVerdict) v4only = judge(f);
    assert_int_equal(v4only->verdict, VERDICT_WARN);
    assert_non_null(strstr(v4only->reason, "fd00:64::17 inbound TCP (communicator.exe)"));
    for (guint i = 0; i < f->st->rules->len; i++) {
        FirewallRule *r = f->st->rules->pdata[i];
        g_free(r->local_addresses);
        g_free(r->remote_addresses);
        r->local_addresses = g_strdup(SEED_LOCAL ",fd00:64::/64");
        r->remote_addresses = g_strdup(SEED_REMOTE ",fc00::/7");
    }
    g_autoptr(FwVerdict) both = judge(f);
    assert_int_equal(both->verdict, VERDICT_PASS);
}

static void test_all_inbound_blocked_covers_inbound(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    f->st->local_policy = FIREWALL_LOCAL_INBOUND_BLOCKED;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_PASS);
    assert_non_null(strstr(v->reason, "all inbound traffic is blocked"));
}

/* BlockAllInboundTraffic for the tunnel's profile, with its firewall on:
 * inbound is blocked for every program, so outbound rules alone pass. */
static void test_block_all_inbound_for_the_tunnels_profile_covers_inbound(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    g_autoptr(FwVerdict) rules_only = judge(f);
    assert_int_equal(rules_only->verdict, VERDICT_WARN);
    assert_false(json_object_get_boolean_member(rules_only->detail, "inbound_all_blocked"));
    f->st->profiles_block_inbound = FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_PASS);
    assert_non_null(strstr(v->reason, "; all inbound traffic is blocked for Domain "
                                      "(BlockAllInboundTraffic), whatever the rules say: inbound "
                                      "counts as blocked"));
    assert_true(json_object_get_boolean_member(v->detail, "inbound_all_blocked"));
    assert_string_equal(json_object_get_string_member(v->detail, "block_all_inbound"), "Domain");
    /* Outbound still has to be blocked by the rules. */
    g_ptr_array_remove_index(f->st->rules, 0);
    g_autoptr(FwVerdict) none = judge(f);
    assert_int_equal(none->verdict, VERDICT_WARN);
    g_autofree char *missing = missing_of(none);
    assert_string_equal(missing, "communicator.exe:out/tcp,communicator.exe:out/udp");
}

/* Set for another profile only, or for one of two active profiles when the
 * tunnel's is not known: inbound is judged by the rules. */
static void test_block_all_inbound_for_another_profile_does_not_count(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    f->st->profiles_block_inbound = FIREWALL_PROFILE_PUBLIC;
    g_autoptr(FwVerdict) other = judge(f);
    assert_int_equal(other->verdict, VERDICT_WARN);
    g_autofree char *missing = missing_of(other);
    assert_string_equal(missing, "communicator.exe:in/tcp,communicator.exe:in/udp");
    assert_false(json_object_get_boolean_member(other->detail, "inbound_all_blocked"));
    assert_null(strstr(other->reason, "BlockAllInboundTraffic"));
    f->st->profiles = FIREWALL_PROFILE_DOMAIN | FIREWALL_PROFILE_PUBLIC;
    f->st->profiles_note = g_strdup("INetworkListManager: no network for the adapter");
    ((FirewallRule *)f->st->rules->pdata[0])->profiles |= FIREWALL_PROFILE_PUBLIC;
    g_autoptr(FwVerdict) one_of_two = judge(f);
    assert_int_equal(one_of_two->verdict, VERDICT_SKIP);
    assert_false(json_object_get_boolean_member(one_of_two->detail, "inbound_all_blocked"));
    f->st->profiles_block_inbound |= FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) both = judge(f);
    assert_int_equal(both->verdict, VERDICT_PASS);
}

/* The firewall off for the tunnel's profile: BlockAllInboundTraffic does
 * nothing there either, and the block is missing. */
static void test_block_all_inbound_with_the_firewall_off_blocks_nothing(void **state)
{
    Fixture *f = *state;
    add_seed_fix(f);
    f->st->profiles_block_inbound = FIREWALL_PROFILE_DOMAIN;
    f->st->profiles_off = FIREWALL_PROFILE_DOMAIN;
    g_autoptr(FwVerdict) v = judge(f);
    assert_int_equal(v->verdict, VERDICT_WARN);
    assert_true(v->block_missing);
    assert_non_null(strstr(v->reason, "the Windows Firewall is off for Domain"));
}

/* Whether all inbound is blocked could not be read: a block missing inbound
 * only is not told (skip); one missing outbound still is (warn); a block
 * found by the rules is still found. */
static void test_block_all_inbound_unread_leaves_inbound_untold(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("out", FIREWALL_OUT, FIREWALL_PROTOCOL_ANY));
    f->st->block_inbound_why =
        g_strdup("INetFwPolicy2::get_BlockAllInboundTraffic: error (0x80004005)");
    g_autoptr(FwVerdict) in_only = judge(f);
    assert_int_equal(in_only->verdict, VERDICT_SKIP);
    assert_false(in_only->block_missing);
    assert_non_null(strstr(in_only->reason, "whether the Windows Firewall blocks all inbound "
                                            "traffic for the tunnel's profile cannot be read "
                                            "(INetFwPolicy2::get_BlockAllInboundTraffic"));
    assert_string_equal(json_object_get_string_member(in_only->detail, "block_all_inbound_why"),
                        "INetFwPolicy2::get_BlockAllInboundTraffic: error (0x80004005)");
    g_ptr_array_remove_index(f->st->rules, 0);
    g_autoptr(FwVerdict) out_too = judge(f);
    assert_int_equal(out_too->verdict, VERDICT_WARN);
    add_seed_fix(f);
    g_autoptr(FwVerdict) fixed = judge(f);
    assert_int_equal(fixed->verdict, VERDICT_PASS);
}

static void test_address_lists_parse(void **state)
{
    (void)state;
    g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(FwRange));
    g_autoptr(GPtrArray) kw = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) e = NULL;
    assert_true(fwjudge_parse_addresses("10.0.0.0/255.0.0.0, 10.1.1.1-10.1.1.9,LocalSubnet,"
                                        "fc00::/7,192.0.2.7,Internet",
                                        a, kw, &e));
    assert_int_equal(a->len, 4);
    assert_int_equal(kw->len, 2);
    assert_string_equal(kw->pdata[0], "LocalSubnet");
    FwRange want = {.family = 4, .lo = {10, 200}, .hi = {10, 255, 255, 255}};
    assert_true(fwjudge_ranges_cover(a, &want));
    FwRange gap = {.family = 4, .lo = {11}, .hi = {11}};
    assert_false(fwjudge_ranges_cover(a, &gap));
    FwRange ula = {.family = 6, .lo = {0xfd}, .hi = {0xfd, 0xff}};
    assert_true(fwjudge_ranges_cover(a, &ula));
    /* "*" and the empty list: every address of both families. */
    g_autoptr(GArray) any = g_array_new(FALSE, FALSE, sizeof(FwRange));
    assert_true(fwjudge_parse_addresses("*", any, NULL, NULL));
    assert_true(fwjudge_ranges_cover(any, &gap) && fwjudge_ranges_cover(any, &ula));
    static const char *const bad[] = {"10.0.0.0/255.0.255.0",
                                      "10.0.0.9-10.0.0.1",
                                      "10.0.0.1-fc00::1",
                                      "10.0.0.0/33",
                                      "10.0.0.300",
                                      "",
                                      "10.0.0.0/8,,",
                                      "bad!",
                                      NULL};
    for (const char *const *b = bad; *b; b++) {
        g_autoptr(GError) be = NULL;
        g_autoptr(GArray) x = g_array_new(FALSE, FALSE, sizeof(FwRange));
        gboolean ok = fwjudge_parse_addresses(**b ? *b : ",", x, NULL, &be);
        assert_false(ok);
        assert_non_null(be);
    }
}

static void test_port_lists_parse(void **state)
{
    (void)state;
    g_autoptr(GArray) p = g_array_new(FALSE, FALSE, sizeof(guint32));
    assert_true(fwjudge_parse_ports("3478, 1024-2000,RPC-EPMap,IPHTTPSIn", p, NULL));
    assert_int_equal(p->len, 4);
    static const char *const bad[] = {"70000", "80-79", "1-", "-5", "12a", NULL};
    for (const char *const *b = bad; *b; b++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(GArray) x = g_array_new(FALSE, FALSE, sizeof(guint32));
        assert_false(fwjudge_parse_ports(*b, x, &e));
        assert_non_null(e);
    }
}

/* A result with the firewall check's verdict and a tunnel path's finding. */
static RunResult *result_with(const FwVerdict *v, const char *tunnel_code)
{
    RunResult *r = run_result_new("seed-002");
    CheckRecord *c = run_result_add_check(r, "firewall", v->verdict, "%s", v->reason);
    json_object_unref(c->detail);
    c->detail = json_object_ref(v->detail);
    if (tunnel_code) {
        JsonObject *e = json_object_new();
        json_object_set_string_member(e, "path", "tunnel-only");
        run_result_add_finding(r, tunnel_code, e, "a check through the tunnel reached the peer.");
    }
    return r;
}

static guint count_code(const RunResult *r, const char *code)
{
    guint n = 0;
    for (guint i = 0; i < r->findings->len; i++)
        n += strcmp(((Finding *)r->findings->pdata[i])->code, code) == 0;
    return n;
}

static void test_the_finding_needs_a_tunnel_path_that_connected(void **state)
{
    Fixture *f = *state;
    g_ptr_array_add(f->st->rules, rule("in only", FIREWALL_IN, FIREWALL_PROTOCOL_ANY));
    g_autoptr(FwVerdict) missing = judge(f);
    g_autoptr(RunResult) open = result_with(missing, "TUNNEL_PATH_OPEN");
    policy_judge_firewall(open);
    policy_judge_firewall(open); /* once */
    assert_int_equal(count_code(open, "FIREWALL_BLOCK_MISSING"), 1);
    const Finding *fb = open->findings->pdata[1];
    assert_int_equal(fb->severity, VERDICT_FAIL);
    assert_string_equal(json_object_get_string_member(fb->evidence, "path"), "tunnel-only");
    assert_int_equal(json_array_get_length(json_object_get_array_member(fb->evidence, "missing")),
                     2);
    /* No tunnel path connected: the gateway may be the block (the check warns). */
    g_autoptr(RunResult) closed = result_with(missing, NULL);
    policy_judge_firewall(closed);
    assert_int_equal(count_code(closed, "FIREWALL_BLOCK_MISSING"), 0);
    /* The block is there: a tunnel path that connected is TUNNEL_PATH_OPEN's alone. */
    add_seed_fix(f);
    g_autoptr(FwVerdict) fine = judge(f);
    g_autoptr(RunResult) media = result_with(fine, "MEDIA_VIA_TUNNEL");
    policy_judge_firewall(media);
    assert_int_equal(count_code(media, "FIREWALL_BLOCK_MISSING"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_seed_002_s_fix_passes),
        T(test_a_missing_outbound_rule_is_found),
        T(test_a_block_of_tcp_alone_misses_udp),
        T(test_rules_of_another_network_profile_do_not_count),
        T(test_an_unknown_profile_asks_for_every_active_one),
        T(test_a_firewall_off_or_an_excluded_adapter_blocks_nothing),
        T(test_a_rule_for_another_program_does_not_count),
        T(test_each_call_client_needs_its_block),
        T(test_the_default_call_clients_are_those_the_rules_name),
        T(test_group_policy_s_store_is_not_judged),
        T(test_rules_from_group_policy_make_a_missing_block_a_skip),
        T(test_an_incomplete_read_proves_no_block_missing),
        T(test_rules_that_cannot_be_read_are_said),
        T(test_without_a_tunnel_nothing_is_judged),
        T(test_interface_types_ports_and_state_decide),
        T(test_remote_access_rules_hold_a_ppp_tunnel_alone),
        T(test_ranges_are_covered_by_the_rules_together),
        T(test_ipv6_ranges_are_judged_for_an_ipv6_tunnel_address),
        T(test_all_inbound_blocked_covers_inbound),
        T(test_block_all_inbound_for_the_tunnels_profile_covers_inbound),
        T(test_block_all_inbound_for_another_profile_does_not_count),
        T(test_block_all_inbound_with_the_firewall_off_blocks_nothing),
        T(test_block_all_inbound_unread_leaves_inbound_untold),
        cmocka_unit_test(test_address_lists_parse),
        cmocka_unit_test(test_port_lists_parse),
        T(test_the_finding_needs_a_tunnel_path_that_connected),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
