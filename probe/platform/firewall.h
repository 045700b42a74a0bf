/* The Windows Firewall's rules, as the check `firewall` judges them
 * (engine/fwjudge.h, engine/fwcheck.c): seed 002's fix is a pair of block rules
 * on the laptop (the VPN address from the internal and VPN subnets, inbound and
 * outbound, for the call client, on the remote-access interface type, in the
 * VPN's network profile). Windows side (firewall_windows.c): the rules through
 * COM's INetFwPolicy2 (INetFwRules enumerated), whether Group Policy lets the
 * local rules apply (LocalPolicyModifyState), and the network profile of the
 * tunnel's network (INetworkListManager). Linux side: there is none; the check
 * says it is for Windows. What is read is kept as the API gives it (strings):
 * the judge parses it (firewall.c frees it). */
#pragma once

#include <glib.h>

#define FIREWALL_ERROR (firewall_error_quark())
GQuark firewall_error_quark(void);
typedef enum {
    FIREWALL_ERROR_UNAVAILABLE, /* no Windows Firewall here (Linux) */
    FIREWALL_ERROR_READ,        /* the policy could not be opened */
} FirewallError;

/* NET_FW_RULE_DIRECTION's values. */
typedef enum {
    FIREWALL_IN = 1,
    FIREWALL_OUT = 2,
} FirewallDirection;

/* NET_FW_PROFILE_TYPE2's bits. */
#define FIREWALL_PROFILE_DOMAIN  0x1u
#define FIREWALL_PROFILE_PRIVATE 0x2u
#define FIREWALL_PROFILE_PUBLIC  0x4u
#define FIREWALL_PROFILE_ALL     0x7FFFFFFFu
/* NET_FW_IP_PROTOCOL_ANY; otherwise IANA's numbers (6 TCP, 17 UDP). */
#define FIREWALL_PROTOCOL_ANY 256

/* At most this many rules are read (the rest: the read is incomplete), and a
 * rule with a string longer than this is not read. */
#define FIREWALL_MAX_RULES  8192
#define FIREWALL_MAX_STRING 65536

typedef struct {
    char *name;
    FirewallDirection direction;
    gboolean enabled;
    gboolean block; /* NET_FW_ACTION_BLOCK; else allow */
    guint profiles; /* FIREWALL_PROFILE_* */
    int protocol;   /* 6, 17, FIREWALL_PROTOCOL_ANY, ... */
    /* As INetFwRule gives them; NULL when empty. Read for enabled block rules
     * only: the others block nothing. */
    char *interface_types; /* "All", "RemoteAccess", "Lan", "Wireless", ","-joined */
    char *interfaces;      /* adapters' names, ","-joined; NULL: every adapter */
    char *local_addresses, *remote_addresses; /* "*", "10.0.0.0/255.0.0.0,LocalSubnet", ... */
    char *local_ports, *remote_ports;         /* "*", "1024-65535,3478", ... */
    char *application;                        /* the program's path, or NULL: any */
    char *service;                            /* a service's name, "*", or NULL: any process */
    char *package; /* INetFwRule3's LocalAppPackageId: an app package's SID, or NULL: none */
} FirewallRule;

void firewall_rule_free(FirewallRule *r);

/* Whether the local rules apply (INetFwPolicy2::LocalPolicyModifyState). */
typedef enum {
    FIREWALL_LOCAL_APPLIES,         /* FW_MODIFY_STATE_OK */
    FIREWALL_LOCAL_GP_OVERRIDE,     /* FW_MODIFY_STATE_GP_OVERRIDE: Group Policy's rules only */
    FIREWALL_LOCAL_INBOUND_BLOCKED, /* FW_MODIFY_STATE_INBOUND_BLOCKED: all inbound is blocked */
    FIREWALL_LOCAL_UNKNOWN,         /* it could not be read (local_policy_why) */
} FirewallLocalPolicy;

typedef struct {
    GPtrArray *rules;   /* FirewallRule, as read */
    long rules_counted; /* INetFwRules::Count, -1 when it would not say */
    char *incomplete;   /* why not every rule was read; NULL: all were */
    FirewallLocalPolicy local_policy;
    char *local_policy_why;
    /* The profile (FIREWALL_PROFILE_*) of the tunnel's network; when that
     * could not be read (profiles_note says why), every active profile. */
    guint profiles;
    char *profiles_note; /* NULL: the tunnel's own network's */
    /* For each profile of profiles (INetFwPolicy2::get_FirewallEnabled and
     * get_ExcludedInterfaces): those whose firewall is off, and the adapters'
     * names each leaves out of the firewall, ","-joined (NULL: none), by
     * FIREWALL_PROFILE_INDEX. profiles_state_why: why a profile's state could
     * not be read (NULL: it was); then no rule proves a block. */
    guint profiles_off;
    char *excluded[3];
    char *profiles_state_why;
    /* Those of profiles whose BlockAllInboundTraffic is set
     * (INetFwPolicy2::get_BlockAllInboundTraffic): there, with the firewall
     * on, inbound is blocked for every program whatever the rules say.
     * block_inbound_why: why it could not be read (NULL: it was); then the
     * rules alone are judged, and a block missing inbound only is not told. */
    guint profiles_block_inbound;
    char *block_inbound_why;
    /* The rules Group Policy pushes (values of HKLM\SOFTWARE\Policies\Microsoft\
     * WindowsFirewall\FirewallRules), which INetFwPolicy2's rules, the local
     * store's, do not hold: how many (0: none), or -1 with gp_rules_why when
     * the key could not be read. */
    long gp_rules;
    char *gp_rules_why;
} FirewallState;

/* The index of excluded[] for a profile's bit: Domain 0, Private 1, Public 2. */
#define FIREWALL_PROFILE_INDEX(bit)                                                                \
    ((bit) == FIREWALL_PROFILE_DOMAIN ? 0 : (bit) == FIREWALL_PROFILE_PRIVATE ? 1 : 2)

FirewallState *firewall_state_new(void);
void firewall_state_free(FirewallState *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FirewallState, firewall_state_free)

/* The rules, the local policy, and the network profile of the adapter with
 * index tunnel_ifindex (0: no tunnel, no profile read). NULL with error when
 * the firewall cannot be asked at all; a state whose read failed part way
 * says so in incomplete. */
FirewallState *firewall_read(int tunnel_ifindex, GError **error);
