/* Test profiles: GKeyFile files (see profiles/README.md). Loading validates every
 * group and key against a table; anything unknown, mistyped or out of range is
 * an error naming the file, group and key. */
#pragma once

#include <gio/gio.h>

#include "iceprobe/emodel.h"
#include "iceprobe/m365.h"
#include "iceprobe/mras.h"

#define PROFILE_ERROR (profile_error_quark())
GQuark profile_error_quark(void);
typedef enum {
    PROFILE_ERROR_READ,    /* the file (or a file it names) cannot be read */
    PROFILE_ERROR_SYNTAX,  /* not a key file */
    PROFILE_ERROR_UNKNOWN, /* unknown group or key */
    PROFILE_ERROR_VALUE,   /* wrong type, out of range, malformed */
    PROFILE_ERROR_MISSING, /* a required key is absent */
} ProfileError;

#define PROFILE_MAX_BYTES  (64 * 1024)
#define PROFILE_MAX_LIST   64
#define PROFILE_MAX_SECRET 4096
#define PROFILE_MAX_STRING 1024
#define PROFILE_MAX_ROUTES_STRING 16384 /* [routes] must_bypass: a controller inlines a document's */

typedef struct {
    char *name;
    GPtrArray *expected; /* GInetAddress */
} ProfileDnsName;

typedef struct {
    char *path; /* the file it came from ("<data>" when loaded from memory) */
    char *name;
    char *description;

    struct {
        char *host;
        GPtrArray *expected_addresses; /* GInetAddress; may be empty */
        guint udp_port, tcp_port, tls_port;
        char *secret;   /* TURN REST shared secret, or NULL */
        char *username; /* static credentials, when no secret */
        char *password;
        char *tls_ca_file;
        char *tls_pin_sha256;  /* lower-case hex, 64 chars, or NULL */
        char *tls_server_name; /* name the certificate must match; default host */
        guint credential_ttl_s;
        /* The relay's dialect: [edge] turn = rfc5766 (FALSE) | ms-turn (TRUE). */
        gboolean ms_turn;
        /* MRAS credentials (ms-turn): the base64 strings from files, or the
         * answer itself (docs/sfb.md). */
        char *mras_username;
        char *mras_password;
        MrasAnswer *mras;
        char *mras_file;
        gint64 mras_saved_at;  /* the answer file's modification time */
        gint64 mras_issued_at; /* mras_issued_at, when given (else 0) */
    } edge;

    struct {
        GPtrArray *internal_ranges; /* GInetAddressMask */
        GPtrArray *vpn_ranges;      /* GInetAddressMask */
        char **tunnel_names;        /* glob patterns */
        /* The call clients whose media the Windows Firewall must keep off the
         * tunnel (the check firewall): programs' file names, at least one.
         * Left at the default (not given), the block is asked only for those
         * the firewall's block rules name; given, for every one. */
        char **call_clients;
        gboolean call_clients_given;
    } network;

    GPtrArray *dns_names; /* ProfileDnsName */

    /* [routes]: prefixes that must leave by a physical interface (RoutePrefix,
     * iceprobe/m365.h): must_bypass's, then endpoints_file's Optimize ones. */
    struct {
        GPtrArray *bypass;
        char *endpoints_file;
    } routes;

    struct {
        guint ptime_ms;
        guint payload_bytes;
        guint duration_s;
        const EmodelCodec *codec; /* the shape the MOS is rated for; g711 by default */
        guint dscp;               /* the DSCP its packets are marked with (EF 46); 0: none */
        /* [stream] dscp_survives = natural;relay: the paths on which the marking is
         * expected to arrive as sent (QOS_MARKING_LOST when it does not); none by default. */
        gboolean dscp_survives_natural, dscp_survives_relay;
    } stream;

    /* The ICE client being emulated (docs/contract.md, [ice]). */
    struct {
        /* [ice] dialect = rfc8445 (FALSE) | ms-ice2 (TRUE): the SfB client's ICE,
         * which brings MS-TURN with it. */
        gboolean ms_ice2;
        gboolean regular_nomination; /* nomination = regular; default aggressive */
        gboolean compare_nomination; /* nomination = aggressive;regular: the relay loop's
                                        natural path runs once with each */
        gboolean probe_controlled;   /* probe_role = controlled; default controlling */
    } ice;

    struct {
        double loss_ratio_max;
        double jitter_ms_max;
        double rtt_ms_max;
        double mos_min;
        double burst_loss_ratio_max; /* loss in any 200 ms */
        double reorder_ratio_max;
    } thresholds;
} Profile;

Profile *profile_load(const char *path, GError **error);
/* As profile_load, for a profile held in memory; relative paths are resolved
 * against base_dir. */
Profile *profile_load_from_data(const char *data, gsize len, const char *base_dir,
                                const char *display_path, GError **error);
/* As profile_load, under a controller: the TURN credentials may be absent (the
 * controller issues them per run). *text (if given) gets the file's text. */
Profile *profile_load_for_controller(const char *path, char **text, GError **error);
/* A profile as an order carries it (the controller's file): the keys that name
 * files on the controller (TURN secret or password, CA) are dropped; ca_file, if
 * given, is the CA the order brought, written locally. */
Profile *profile_load_order(const char *text, gsize len, const char *ca_file, GError **error);
void profile_free(Profile *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Profile, profile_free)

/* The dialects' names as the profile and the result give them. */
const char *profile_ice_dialect(const Profile *p);
const char *profile_turn_dialect(const Profile *p);
/* The MRAS credentials' expiry (unix) and how it was dated, when the profile
 * gives an MRAS answer; 0 otherwise. */
gint64 profile_mras_expires_at(const Profile *p, const char **dated_from);

/* Whether addr falls in one of the masks. */
gboolean profile_in_ranges(GPtrArray *masks, GInetAddress *addr);
/* Whether addr is one of expected (GInetAddress, an edge name's expected
 * addresses). A list with no address of addr's family says nothing of it: an
 * IPv4-only list leaves a name's IPv6 answer to the ranges (TRUE). */
gboolean profile_address_expected(GPtrArray *expected, GInetAddress *addr);
/* Whether an interface name matches one of the tunnel_names patterns. */
gboolean profile_tunnel_name_matches(const Profile *p, const char *ifname);
