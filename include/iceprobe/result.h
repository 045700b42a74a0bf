/* The result of one run (schema iceprobe.run/1, docs/contract.md): checks, paths,
 * findings and the verdict, and their JSON. */
#pragma once

#include <json-glib/json-glib.h>

#include "iceprobe/metrics.h"
#include "iceprobe/profile.h"

typedef enum {
    VERDICT_PASS,
    VERDICT_WARN,
    VERDICT_FAIL,
    VERDICT_ERROR,
    VERDICT_SKIP, /* a check that did not apply (never a run's verdict) */
} Verdict;

const char *verdict_to_string(Verdict v);
/* The verdict named by s ("pass", "warn", "fail", "error", "skip"); FALSE if none. */
gboolean verdict_from_string(const char *s, Verdict *out);
/* The exit code of a verdict's name (3 for NULL or an unknown name, "pending"). */
int verdict_name_exit_code(const char *name);
/* The worse of two verdicts (skip counts as pass). */
Verdict verdict_worst(Verdict a, Verdict b);
/* Exit code of the monitoring-plugin convention: 0 pass, 1 warn, 2 fail, 3 error. */
int verdict_exit_code(Verdict v);

typedef struct {
    char *code;
    Verdict severity;
    char *message; /* what happened, then what to change */
    JsonObject *evidence;
} Finding;

typedef struct {
    char *name;
    Verdict verdict;
    char *reason;       /* one line for the report */
    JsonObject *detail; /* extra members of the check record */
    double duration_ms;
} CheckRecord;

typedef struct {
    char *type;      /* host, srflx, prflx, relay */
    char *transport; /* udp, tcp */
    char *address;   /* ip:port */
    char *base_address;
    char *interface;
    char *interface_class;
    char *egress_interface;
    char *egress_class;
    char *relay_transport; /* a relay candidate's TURN server's: udp, tcp, tls (NULL: not known) */
} CandidateInfo;

/* One change of a path's selected pair, as ICE made it. */
typedef struct {
    double at_ms; /* from the path's start */
    char *local;  /* "relay 203.0.113.10:49152/udp" */
    char *local_interface;
    char *remote;
    gboolean have_counters; /* the tunnel's packet counters at that moment */
    guint64 tunnel_tx, tunnel_rx;
} PairChange;

void pair_change_free(PairChange *c);
/* At most this many changes are kept (and read) per path. */
#define RESULT_MAX_PAIR_CHANGES 32

/* A direction's QoS markings as the media arrived (probe/engine/qos.c): a
 * sample of its packets, how many carried the DSCP expected, and the values
 * seen (bit v: DSCP v). */
typedef struct {
    gboolean have;
    guint64 seen, marked, values;
} QosSample;

/* One check pair as libnice reported it (the ICE record). */
typedef struct {
    char *local, *remote; /* "relay 203.0.113.10:49152/udp", as pair_changes writes them */
    char *state; /* succeeded, failed, frozen, waiting, in-progress, cancelled, discovered */
    gboolean nominated;
    char *why; /* why it failed or was cancelled, as libnice said it; NULL: it did not say */
} IcePair;

/* A transport the path gave up: a TURN server that gave no relay candidate,
 * or a relay candidate all of whose pairs failed. */
typedef struct {
    char *transport; /* udp, tcp, tls */
    char *what;      /* "TURN UDP allocation", "pairs of the TURN UDP relay candidate" */
    char *why;
} IceGivenUp;

/* The ICE record of a path (docs/contract.md, `ice`): every candidate
 * gathered, every check pair as libnice reported it, what was given up and
 * why. Capped when made and when read. */
typedef struct {
    GPtrArray *local, *remote; /* CandidateInfo */
    GPtrArray *pairs;          /* IcePair */
    guint pairs_omitted;       /* pairs past RESULT_ICE_MAX_PAIRS, not kept */
    GPtrArray *given_up;       /* IceGivenUp */
} IceRecord;

#define RESULT_ICE_MAX_CANDIDATES 64 /* each side */
#define RESULT_ICE_MAX_PAIRS      256
#define RESULT_ICE_MAX_GIVEN_UP   16
#define RESULT_ICE_MAX_STRING     512

/* The states a pair's record may have. */
gboolean ice_pair_state_known(const char *state);
IceRecord *ice_record_new(void);
void ice_record_free(IceRecord *r);
IceRecord *ice_record_copy(const IceRecord *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IceRecord, ice_record_free)
void ice_pair_free(IcePair *p);
void ice_given_up_free(IceGivenUp *g);
/* "type address/transport", as pair changes and the record's pairs name candidates. */
char *candidate_info_label(const CandidateInfo *c);
CandidateInfo *candidate_info_new(void);
CandidateInfo *candidate_info_dup(const CandidateInfo *c);
void candidate_info_free(CandidateInfo *c);

/* What counted a path's own TCP connection to the edge: the kernel's segments
 * (Linux TCP_INFO; Windows' extended TCP statistics, for an elevated process)
 * or Windows' SIO_TCP_INFO, which any process may ask but which counts bytes. */
typedef enum {
    CONN_COUNTER_UNSAID, /* not said (a document from before 0.9.0) */
    CONN_COUNTER_TCP_INFO,
    CONN_COUNTER_ESTATS,
    CONN_COUNTER_SIO_TCP_INFO,
} ConnCounter;
/* Its name in the JSON ("TCP_INFO", "GetPerTcpConnectionEStats",
 * "SIO_TCP_INFO"; NULL when unsaid), and the one a name gives (FALSE: none). */
const char *conn_counter_name(ConnCounter c);
gboolean conn_counter_parse(const char *name, ConnCounter *c);
/* Whether it counts bytes (else segments, one per packet the path sent). */
gboolean conn_counter_bytes(ConnCounter c);

typedef struct PathRecord PathRecord;
struct PathRecord {
    char *name; /* natural, relay-udp, relay-tcp, relay-tls, relay, tunnel-only */
    Verdict verdict;
    char *reason;
    gboolean have_pair;
    CandidateInfo local, remote;
    gboolean have_counters;
    char *tunnel_interface;
    guint64 tunnel_tx, tunnel_rx; /* packets during the stream (bytes: counted_by) */
    /* FALSE: the tunnel interface's own counters (nothing else ran then); TRUE:
     * the path's own TCP connection to the edge (its segments, counted as the
     * tunnel's when that connection leaves through the tunnel), exact while
     * other paths run at the same time. */
    gboolean counters_per_connection;
    /* With counters_per_connection, what counted the connection
     * (tunnel_counters.counted_by); SIO_TCP_INFO counts bytes, so tunnel_tx
     * and tunnel_rx are then bytes, not packets. */
    ConnCounter counted_by;
    /* The kernel's account of the probe's own media out (probe/egress.c): the
     * media packets its UDP sockets sent during the stream, how many of them
     * the kernel named a device for, how many of those left through the tunnel,
     * and the ICE and TURN messages that did. Other traffic on the tunnel is not
     * in these counts. */
    gboolean have_egress;
    guint64 egress_media_sent, egress_media_seen, egress_media_tunnel, egress_other_tunnel;
    /* [stream] dscp, the marking the stream's packets carried (0: none, and no
     * QoS record); how they arrived, out (at the peer) and in (here). */
    guint dscp;
    QosSample qos_out, qos_in;
    gboolean have_metrics;
    MetricsSummary metrics; /* both directions together */
    MetricsSummary out, in; /* out: probe to its peer; in: the reverse */
    double gather_ms;       /* from the path's start to both agents' gathering done */
    double connect_ms;      /* to READY, else the first pair (for older readers) */
    double connected_ms;    /* to the first selected pair (media starts there); < 0: none */
    double ready_ms;        /* to READY (all checks done); < 0: never */
    double total_ms;        /* the whole path, stream and teardown included */
    /* ICE as emulated and what it did: nomination ("aggressive" or "regular"),
     * whether this side was controlling, why the reported pair is final
     * ("unbeatable": no pair still possible outranks it; "ready": all checks
     * done; "stream-end": checks still running when the stream ended), and the
     * selected pair's changes (PairChange). */
    char *nomination;
    gboolean controlling;
    char *pair_final;
    GPtrArray *pair_changes;
    IceRecord *ice_record; /* NULL: none (no ICE ran, or an older document) */
    /* Paired runs: the same path as side a and side b saw it (docs/contract.md's `sides`);
     * NULL in a one-probe document. The members above are then side a's view. */
    PathRecord *sides[2];
};

typedef struct {
    char *run_id;
    char *profile;
    GDateTime *started_at;
    Verdict verdict;
    char *error;         /* why the run itself failed, when verdict is error */
    char *ice_dialect;   /* "rfc8445" or "ms-ice2": the ICE that ran (NULL: not said) */
    char *turn_dialect;  /* "rfc5766" or "ms-turn" */
    GPtrArray *findings; /* Finding */
    GPtrArray *checks;   /* CheckRecord */
    GPtrArray *paths;    /* PathRecord */
    JsonArray *probes;   /* [{name, interfaces: [...]}] */
} RunResult;

RunResult *run_result_new(const char *profile_name);
void run_result_free(RunResult *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RunResult, run_result_free)

CheckRecord *run_result_add_check(RunResult *r, const char *name, Verdict v, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
PathRecord *run_result_add_path(RunResult *r, const char *name);
const CheckRecord *run_result_find_check(const RunResult *r, const char *name);
const PathRecord *run_result_find_path(const RunResult *r, const char *name);
gboolean run_result_has_finding(const RunResult *r, const char *code);

/* Adds a finding with the code's severity; the message is fmt's text followed
 * by the code's remedy. Takes evidence (may be NULL). */
Finding *run_result_add_finding(RunResult *r, const char *code, JsonObject *evidence,
                                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* As run_result_add_finding, for a known cause: the evidence gets "cause" and
 * the message the cause's remedy. */
Finding *run_result_add_finding_cause(RunResult *r, const char *code, const char *cause,
                                      JsonObject *evidence, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);
/* Records the dialects the profile runs in (ice_dialect, turn_dialect). */
void run_result_set_dialect(RunResult *r, const Profile *p);
/* Sets r->verdict from the findings (and error, when set). */
void run_result_conclude(RunResult *r);

void candidate_info_clear(CandidateInfo *c);
/* The address of a candidate's "ip:port" ("[ip]:port" for IPv6; a bare
 * address too), parsed by GIO; NULL when it holds none. */
GInetAddress *candidate_inet_address(const char *ip_port);
PathRecord *path_record_new(const char *name);
void path_record_free(PathRecord *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PathRecord, path_record_free)
/* A deep copy (sides included), for a document made of others. */
PathRecord *path_record_copy(const PathRecord *p);

/* ---- JSON (result_write.c, result_read.c) ---- */

#define RESULT_MAX_JSON_BYTES (1024 * 1024)
#define RESULT_MAX_DEPTH      32
#define RESULT_MAX_ITEMS      256 /* findings, checks, paths, probes */
#define RESULT_MAX_STRING     8192

JsonNode *run_result_to_json(const RunResult *r);
char *run_result_to_string(const RunResult *r, gboolean pretty);
/* Reads an iceprobe.run/1 document back. Sizes and depth are capped; an error
 * (JSONIN_ERROR, jsonin.h) names the member that was wrong ("paths[1].metrics.loss_ratio: ..."). */
RunResult *run_result_from_json(const char *data, gsize len, GError **error);
/* One direction's figures as the document writes them ({packets_sent, ...,
 * rtt_ms}), and back (errors name where.member). */
JsonNode *metrics_summary_to_json(const MetricsSummary *m);
gboolean metrics_summary_from_json(JsonObject *o, const char *where, MetricsSummary *m,
                                   GError **error);

/* Finding codes: their severity and what to change. */
typedef struct {
    const char *code;
    Verdict severity;
    const char *remedy;
} FindingSpec;

const FindingSpec *finding_spec_lookup(const char *code);
/* What to change for a code when the evidence shows a particular cause (NULL:
 * the code's own remedy). Causes: "gateway-passes-pool" (the route to the edge
 * is physical, yet something on the tunnel reached the edge: the VPN gateway
 * lets the pool through to it). */
const char *finding_cause_remedy(const char *code, const char *cause);
