/* The Windows Firewall, Windows side (firewall.h): COM's INetFwPolicy2.
 *
 * Read in this order: whether Group Policy lets the local rules apply
 * (LocalPolicyModifyState), the active profiles (CurrentProfileTypes), the
 * rules (INetFwRules, enumerated through its _NewEnum, at most
 * FIREWALL_MAX_RULES), then the network profile of the tunnel's own network:
 * its adapter's GUID (ConvertInterfaceIndexToLuid, ConvertInterfaceLuidToGuid)
 * among INetworkListManager's connections, and that network's category
 * (public, private, domain); then, for that profile (or each active one),
 * whether the firewall is on and which adapters it leaves out (rules do
 * nothing there); last, how many rules Group Policy pushes (its registry key:
 * they are not among INetFwPolicy2's). Whatever fails is said in the state's
 * words with the call and its HRESULT, and the judge decides what can still
 * be told.
 *
 * COM is initialised for this thread (multithreaded) if it is not already;
 * the GUIDs are spelled here (netfw.h's and netlistmgr.h's are not all in
 * mingw-w64's libuuid). */
#include "firewall.h"

#define COBJMACROS
#include <winsock2.h>
#include <windows.h>
#include <ole2.h>
#include <oleauto.h>
#include <netfw.h>
#include <netlistmgr.h>
#include <iphlpapi.h>
#include <netioapi.h>

#include <string.h>

static const GUID clsid_fw_policy2 = {
    0xe2b3c97f, 0x6ae1, 0x41ac, {0x81, 0x7a, 0xf6, 0xf9, 0x21, 0x66, 0xd7, 0xdd}};
static const GUID iid_fw_policy2 = {
    0x98325047, 0xc671, 0x4174, {0x8d, 0x81, 0xde, 0xfc, 0xd3, 0xf0, 0x31, 0x86}};
static const GUID iid_fw_rule = {
    0xaf230d27, 0xbaba, 0x4e42, {0xac, 0xed, 0xf5, 0x24, 0xf2, 0x2c, 0xfc, 0xe2}};
static const GUID iid_fw_rule3 = {
    0xb21563ff, 0xd696, 0x4222, {0xab, 0x46, 0x4e, 0x89, 0xb7, 0x3a, 0xb3, 0x4a}};
static const GUID iid_enum_variant = {
    0x00020404, 0x0000, 0x0000, {0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
static const GUID clsid_network_list_manager = {
    0xdcb00c01, 0x570f, 0x4a9b, {0x8d, 0x69, 0x19, 0x9f, 0xdb, 0xa5, 0x72, 0x3b}};
static const GUID iid_network_list_manager = {
    0xdcb00000, 0x570f, 0x4a9b, {0x8d, 0x69, 0x19, 0x9f, 0xdb, 0xa5, 0x72, 0x3b}};

/* "CALL: words (0x80004001)" */
static char *hr_words(const char *call, HRESULT hr)
{
    g_autofree char *m = g_win32_error_message((gint)hr);
    gsize n = m ? strlen(m) : 0;
    while (n && (m[n - 1] == '.' || g_ascii_isspace(m[n - 1])))
        m[--n] = '\0'; /* "Not implemented." */
    return g_strdup_printf("%s: %s (0x%08lx)", call, n ? m : "error", (unsigned long)(ULONG)hr);
}

/* A BSTR as UTF-8; NULL for an empty one. FALSE with *bad when it is over
 * the cap or not valid UTF-16: left NULL, a program or an address list would
 * read as "any" and widen the rule. */
static gboolean bstr_utf8(BSTR b, char **out, const char **bad)
{
    *out = NULL;
    if (!b)
        return TRUE;
    UINT n = SysStringLen(b);
    if (n > FIREWALL_MAX_STRING) {
        *bad = "over the size cap";
        return FALSE;
    }
    if (n && !(*out = g_utf16_to_utf8((const gunichar2 *)b, (glong)n, NULL, NULL, NULL))) {
        *bad = "not valid UTF-16";
        return FALSE;
    }
    return TRUE;
}

/* One of a rule's string properties; FALSE with *why on a failed call. */
#define READ_BSTR(rule, getter, field, why)                                                        \
    do {                                                                                           \
        BSTR b_ = NULL;                                                                            \
        HRESULT hr_ = INetFwRule_##getter((rule), &b_);                                            \
        const char *bad_ = NULL;                                                                   \
        gboolean ok_ = SUCCEEDED(hr_) && bstr_utf8(b_, &(field), &bad_);                           \
        SysFreeString(b_);                                                                         \
        if (!ok_) {                                                                                \
            *(why) = FAILED(hr_) ? hr_words("INetFwRule::" #getter, hr_)                           \
                                 : g_strdup_printf("INetFwRule::" #getter ": %s", bad_);           \
            return FALSE;                                                                          \
        }                                                                                          \
    } while (0)

/* The adapters' names of a VARIANT holding an array of strings (or empty),
 * ","-joined into *out (NULL when it names none). FALSE with *bad when a name
 * cannot be read: a name left out would widen a rule's adapters (none left:
 * every adapter) or narrow the ones a profile excludes. */
static gboolean variant_names(VARIANT *v, char **out, const char **bad)
{
    *out = NULL;
    if (!(V_VT(v) & VT_ARRAY) || !V_ARRAY(v))
        return TRUE;
    SAFEARRAY *sa = V_ARRAY(v);
    LONG lo = 0, hi = -1;
    SafeArrayGetLBound(sa, 1, &lo);
    SafeArrayGetUBound(sa, 1, &hi);
    g_autoptr(GString) g = g_string_new(NULL);
    for (LONG i = lo; i <= hi; i++) {
        VARIANT e;
        VariantInit(&e);
        g_autofree char *name = NULL;
        gboolean ok = SUCCEEDED(SafeArrayGetElement(sa, &i, &e)) && V_VT(&e) == VT_BSTR;
        if (!ok)
            *bad = "an adapter's name cannot be read as a string";
        else
            ok = bstr_utf8(V_BSTR(&e), &name, bad);
        VariantClear(&e);
        if (!ok)
            return FALSE;
        if (name)
            g_string_append_printf(g, "%s%s", g->len ? "," : "", name);
        if (g->len > FIREWALL_MAX_STRING) {
            *bad = "over the size cap";
            return FALSE;
        }
    }
    *out = g->len ? g_string_free(g_steal_pointer(&g), FALSE) : NULL;
    return TRUE;
}

/* The adapters' names of INetFwRule::Interfaces. */
static gboolean read_interfaces(INetFwRule *r, char **out, char **why)
{
    VARIANT v;
    VariantInit(&v);
    HRESULT hr = INetFwRule_get_Interfaces(r, &v);
    if (FAILED(hr)) {
        *why = hr_words("INetFwRule::get_Interfaces", hr);
        return FALSE;
    }
    const char *bad = NULL;
    gboolean ok = variant_names(&v, out, &bad);
    VariantClear(&v);
    if (!ok)
        *why = g_strdup_printf("INetFwRule::get_Interfaces: %s", bad);
    return ok;
}

static gboolean read_rule(INetFwRule *r, FirewallRule *out, char **why)
{
    NET_FW_RULE_DIRECTION dir = NET_FW_RULE_DIR_IN;
    NET_FW_ACTION action = NET_FW_ACTION_ALLOW;
    VARIANT_BOOL enabled = VARIANT_FALSE;
    LONG profiles = 0, protocol = 0;
    HRESULT hr;
    READ_BSTR(r, get_Name, out->name, why);
    if (FAILED(hr = INetFwRule_get_Direction(r, &dir)) ||
        FAILED(hr = INetFwRule_get_Action(r, &action)) ||
        FAILED(hr = INetFwRule_get_Enabled(r, &enabled)) ||
        FAILED(hr = INetFwRule_get_Profiles(r, &profiles)) ||
        FAILED(hr = INetFwRule_get_Protocol(r, &protocol))) {
        *why = hr_words("INetFwRule's direction, action, state, profiles or protocol", hr);
        return FALSE;
    }
    out->direction = dir == NET_FW_RULE_DIR_OUT ? FIREWALL_OUT : FIREWALL_IN;
    out->block = action == NET_FW_ACTION_BLOCK;
    out->enabled = enabled != VARIANT_FALSE;
    out->profiles = (guint)profiles;
    out->protocol = (int)protocol;
    if (!out->enabled || !out->block)
        return TRUE; /* it blocks nothing: its scope is not read (most rules are these) */
    READ_BSTR(r, get_InterfaceTypes, out->interface_types, why);
    READ_BSTR(r, get_LocalAddresses, out->local_addresses, why);
    READ_BSTR(r, get_RemoteAddresses, out->remote_addresses, why);
    READ_BSTR(r, get_ApplicationName, out->application, why);
    READ_BSTR(r, get_ServiceName, out->service, why);
    /* Ports exist for TCP and UDP only (others fail the call). */
    if (protocol == 6 || protocol == 17) {
        READ_BSTR(r, get_LocalPorts, out->local_ports, why);
        READ_BSTR(r, get_RemotePorts, out->remote_ports, why);
    }
    /* Windows 8 on: a rule may be an app package's (the new Teams is one). */
    INetFwRule3 *r3 = NULL;
    if (SUCCEEDED(INetFwRule_QueryInterface(r, &iid_fw_rule3, (void **)&r3))) {
        BSTR b = NULL;
        HRESULT hr3 = INetFwRule3_get_LocalAppPackageId(r3, &b);
        const char *bad = NULL;
        gboolean ok = SUCCEEDED(hr3) && bstr_utf8(b, &out->package, &bad);
        SysFreeString(b);
        INetFwRule3_Release(r3);
        if (!ok) {
            *why = FAILED(hr3) ? hr_words("INetFwRule3::get_LocalAppPackageId", hr3)
                               : g_strdup_printf("INetFwRule3::get_LocalAppPackageId: %s", bad);
            return FALSE;
        }
    }
    return read_interfaces(r, &out->interfaces, why);
}

/* The rules through _NewEnum, into st; st->incomplete says where it stopped. */
static void read_rules(INetFwPolicy2 *pol, FirewallState *st)
{
    INetFwRules *rules = NULL;
    IUnknown *unk = NULL;
    IEnumVARIANT *en = NULL;
    HRESULT hr = INetFwPolicy2_get_Rules(pol, &rules);
    if (FAILED(hr)) {
        st->incomplete = hr_words("INetFwPolicy2::get_Rules", hr);
        return;
    }
    LONG count = 0;
    if (SUCCEEDED(INetFwRules_get_Count(rules, &count)))
        st->rules_counted = count;
    hr = INetFwRules_get__NewEnum(rules, &unk);
    if (FAILED(hr) || !unk) {
        st->incomplete = hr_words("INetFwRules::get__NewEnum", FAILED(hr) ? hr : E_POINTER);
    } else if (FAILED(hr = IUnknown_QueryInterface(unk, &iid_enum_variant, (void **)&en))) {
        st->incomplete = hr_words("INetFwRules::get__NewEnum's IEnumVARIANT", hr);
    }
    while (en && !st->incomplete) {
        VARIANT v;
        VariantInit(&v);
        ULONG got = 0;
        hr = IEnumVARIANT_Next(en, 1, &v, &got);
        if (hr == S_FALSE || got == 0) {
            if (FAILED(hr))
                st->incomplete = hr_words("IEnumVARIANT::Next", hr);
            VariantClear(&v);
            break;
        }
        if (st->rules->len >= FIREWALL_MAX_RULES) {
            st->incomplete =
                g_strdup_printf("more than %d rules: the rest were not read", FIREWALL_MAX_RULES);
            VariantClear(&v);
            break;
        }
        INetFwRule *r = NULL;
        if (V_VT(&v) == VT_DISPATCH && V_DISPATCH(&v) &&
            SUCCEEDED(IDispatch_QueryInterface(V_DISPATCH(&v), &iid_fw_rule, (void **)&r))) {
            FirewallRule *fr = g_new0(FirewallRule, 1);
            char *why = NULL;
            if (read_rule(r, fr, &why)) {
                g_ptr_array_add(st->rules, fr);
            } else {
                st->incomplete = g_strdup_printf("the rule after %u read: %s", st->rules->len, why);
                firewall_rule_free(fr);
            }
            g_free(why);
            INetFwRule_Release(r);
        } else {
            st->incomplete =
                g_strdup_printf("an item after %u rules is not an INetFwRule", st->rules->len);
        }
        VariantClear(&v);
    }
    if (en)
        IEnumVARIANT_Release(en);
    if (unk)
        IUnknown_Release(unk);
    INetFwRules_Release(rules);
}

static void read_local_policy(INetFwPolicy2 *pol, FirewallState *st)
{
    NET_FW_MODIFY_STATE ms = NET_FW_MODIFY_STATE_OK;
    HRESULT hr = INetFwPolicy2_get_LocalPolicyModifyState(pol, &ms);
    if (FAILED(hr)) {
        st->local_policy = FIREWALL_LOCAL_UNKNOWN;
        st->local_policy_why = hr_words("INetFwPolicy2::get_LocalPolicyModifyState", hr);
        return;
    }
    st->local_policy = ms == NET_FW_MODIFY_STATE_GP_OVERRIDE       ? FIREWALL_LOCAL_GP_OVERRIDE
                       : ms == NET_FW_MODIFY_STATE_INBOUND_BLOCKED ? FIREWALL_LOCAL_INBOUND_BLOCKED
                                                                   : FIREWALL_LOCAL_APPLIES;
}

/* The category of the tunnel's network as a profile bit; 0 with *why. */
static guint tunnel_profile(int ifindex, char **why)
{
    NET_LUID luid;
    GUID adapter;
    DWORD rc = ConvertInterfaceIndexToLuid((NET_IFINDEX)ifindex, &luid);
    if (rc == NO_ERROR)
        rc = ConvertInterfaceLuidToGuid(&luid, &adapter);
    if (rc != NO_ERROR) {
        *why = hr_words("the tunnel adapter's GUID", HRESULT_FROM_WIN32(rc));
        return 0;
    }
    INetworkListManager *nlm = NULL;
    HRESULT hr = CoCreateInstance(&clsid_network_list_manager, NULL, CLSCTX_ALL,
                                  &iid_network_list_manager, (void **)&nlm);
    if (FAILED(hr)) {
        *why = hr_words("CoCreateInstance(NetworkListManager)", hr);
        return 0;
    }
    IEnumNetworkConnections *conns = NULL;
    guint bit = 0;
    hr = INetworkListManager_GetNetworkConnections(nlm, &conns);
    if (FAILED(hr))
        *why = hr_words("INetworkListManager::GetNetworkConnections", hr);
    for (guint n = 0; conns && !bit && !*why && n < 1024; n++) {
        INetworkConnection *c = NULL;
        ULONG got = 0;
        if (IEnumNetworkConnections_Next(conns, 1, &c, &got) != S_OK || !got)
            break;
        GUID id;
        INetwork *net = NULL;
        NLM_NETWORK_CATEGORY cat;
        if (SUCCEEDED(INetworkConnection_GetAdapterId(c, &id)) && IsEqualGUID(&id, &adapter)) {
            hr = INetworkConnection_GetNetwork(c, &net);
            if (SUCCEEDED(hr))
                hr = INetwork_GetCategory(net, &cat);
            if (FAILED(hr))
                *why = hr_words("the tunnel network's category", hr);
            else
                bit = cat == NLM_NETWORK_CATEGORY_DOMAIN_AUTHENTICATED ? FIREWALL_PROFILE_DOMAIN
                      : cat == NLM_NETWORK_CATEGORY_PRIVATE            ? FIREWALL_PROFILE_PRIVATE
                                                                       : FIREWALL_PROFILE_PUBLIC;
            if (net)
                INetwork_Release(net);
        }
        INetworkConnection_Release(c);
    }
    if (!bit && !*why)
        *why = g_strdup("INetworkListManager has no connection on the tunnel's adapter");
    if (conns)
        IEnumNetworkConnections_Release(conns);
    INetworkListManager_Release(nlm);
    return bit;
}

/* The tunnel network's profile, else every active one (said in profiles_note). */
static void read_profiles(INetFwPolicy2 *pol, int ifindex, FirewallState *st)
{
    char *why = NULL;
    st->profiles = ifindex ? tunnel_profile(ifindex, &why) : 0;
    if (st->profiles) {
        g_free(why);
        return;
    }
    LONG active = 0;
    HRESULT hr = INetFwPolicy2_get_CurrentProfileTypes(pol, &active);
    g_autofree char *no_active =
        FAILED(hr) ? hr_words("INetFwPolicy2::get_CurrentProfileTypes", hr) : NULL;
    st->profiles = SUCCEEDED(hr) && active ? (guint)active
                                           : FIREWALL_PROFILE_DOMAIN | FIREWALL_PROFILE_PRIVATE |
                                                 FIREWALL_PROFILE_PUBLIC;
    g_autofree char *mine = why ? why : g_strdup("no tunnel");
    st->profiles_note = no_active ? g_strdup_printf("%s; nor the active ones: %s", mine, no_active)
                                  : g_strdup(mine);
    why = NULL;
}

/* For each profile judged: whether its firewall is on, whether it blocks all
 * inbound traffic, and the adapters it leaves out; rules do nothing where it
 * is off or the adapter is left out. */
static void read_profiles_state(INetFwPolicy2 *pol, FirewallState *st)
{
    static const guint bits[] = {FIREWALL_PROFILE_DOMAIN, FIREWALL_PROFILE_PRIVATE,
                                 FIREWALL_PROFILE_PUBLIC};
    for (gsize i = 0; i < G_N_ELEMENTS(bits) && !st->profiles_state_why; i++) {
        if (!(st->profiles & bits[i]))
            continue;
        VARIANT_BOOL on = VARIANT_TRUE;
        HRESULT hr = INetFwPolicy2_get_FirewallEnabled(pol, (NET_FW_PROFILE_TYPE2)bits[i], &on);
        if (FAILED(hr)) {
            st->profiles_state_why = hr_words("INetFwPolicy2::get_FirewallEnabled", hr);
            break;
        }
        if (on == VARIANT_FALSE)
            st->profiles_off |= bits[i];
        VARIANT_BOOL block_in = VARIANT_FALSE;
        hr =
            INetFwPolicy2_get_BlockAllInboundTraffic(pol, (NET_FW_PROFILE_TYPE2)bits[i], &block_in);
        if (FAILED(hr) && !st->block_inbound_why)
            st->block_inbound_why = hr_words("INetFwPolicy2::get_BlockAllInboundTraffic", hr);
        else if (SUCCEEDED(hr) && block_in != VARIANT_FALSE)
            st->profiles_block_inbound |= bits[i];
        VARIANT v;
        VariantInit(&v);
        hr = INetFwPolicy2_get_ExcludedInterfaces(pol, (NET_FW_PROFILE_TYPE2)bits[i], &v);
        const char *bad = NULL;
        if (FAILED(hr))
            st->profiles_state_why = hr_words("INetFwPolicy2::get_ExcludedInterfaces", hr);
        else if (!variant_names(&v, &st->excluded[FIREWALL_PROFILE_INDEX(bits[i])], &bad))
            st->profiles_state_why =
                g_strdup_printf("INetFwPolicy2::get_ExcludedInterfaces: %s", bad);
        VariantClear(&v);
    }
}

/* How many rules Group Policy pushes: INetFwPolicy2::get_Rules lists the
 * local store's, not these (seed 002 recommends deploying its rules so). */
static void read_gp_rules(FirewallState *st)
{
    HKEY k = NULL;
    LONG rc = RegOpenKeyExW(HKEY_LOCAL_MACHINE,
                            L"SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\FirewallRules", 0,
                            KEY_QUERY_VALUE, &k);
    DWORD values = 0;
    if (rc == ERROR_SUCCESS) {
        rc = RegQueryInfoKeyW(k, NULL, NULL, NULL, NULL, NULL, NULL, &values, NULL, NULL, NULL,
                              NULL);
        RegCloseKey(k);
    } else if (rc == ERROR_FILE_NOT_FOUND) {
        rc = ERROR_SUCCESS; /* no rules from Group Policy */
    }
    st->gp_rules = rc == ERROR_SUCCESS ? (long)values : -1;
    if (rc != ERROR_SUCCESS)
        st->gp_rules_why = hr_words("Group Policy's firewall rules (RegOpenKeyEx, "
                                    "RegQueryInfoKey)",
                                    HRESULT_FROM_WIN32(rc));
}

FirewallState *firewall_read(int tunnel_ifindex, GError **error)
{
    HRESULT init = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    INetFwPolicy2 *pol = NULL;
    HRESULT hr = CoCreateInstance(&clsid_fw_policy2, NULL, CLSCTX_INPROC_SERVER, &iid_fw_policy2,
                                  (void **)&pol);
    FirewallState *st = NULL;
    if (FAILED(hr)) {
        g_autofree char *w = hr_words("CoCreateInstance(HNetCfg.FwPolicy2)", hr);
        g_set_error(error, FIREWALL_ERROR, FIREWALL_ERROR_READ,
                    "the Windows Firewall's policy cannot be opened: %s", w);
    } else {
        st = firewall_state_new();
        read_local_policy(pol, st);
        read_rules(pol, st);
        read_profiles(pol, tunnel_ifindex, st);
        read_profiles_state(pol, st);
        read_gp_rules(st);
        INetFwPolicy2_Release(pol);
    }
    if (SUCCEEDED(init))
        CoUninitialize(); /* S_OK and S_FALSE both count; RPC_E_CHANGED_MODE does not */
    return st;
}
