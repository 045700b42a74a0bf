/* The matrix of who reaches whom, and what its failing pairs share.
 *
 * Per profile: the agents (those of its runs and of its schedules, grouped by
 * their first group) against each other, each cell the newest finished run of
 * that ordered pair (side a the row, side b the column); and an analysis
 * across the pairs. A pair's verdict is the newest run of either direction;
 * pass and warn pass, fail fails, error (an agent offline, a run timed out)
 * says nothing of the network and is left out.
 *
 * A pattern is a side, one agent or one group, such that every failing pair
 * has exactly one end in it, every judged pair with exactly one end in it
 * fails, at least two pairs fail and at least one passes (seed 003: every pair
 * with the branch office fails, every other works). Of the sides that fit, one
 * that holds another is dropped (the evidence names the smaller); when two
 * unrelated sides fit (a tie), the analysis says so instead of choosing. The
 * cause is read from the failing runs' finding codes, as the seed articles
 * name them: the edge's route to that subnet (EDGE_NO_ROUTE_TO_PEER), the VPN
 * pool's block (TUNNEL_PATH_OPEN, MEDIA_VIA_TUNNEL), the DNS view
 * (EDGE_DNS_INTERNAL); the code most of the runs show decides. */
#pragma once

#include <json-glib/json-glib.h>

#include "store.h"

typedef enum {
    ANALYSIS_CAUSE_EDGE_ROUTE,
    ANALYSIS_CAUSE_VPN_BLOCK,
    ANALYSIS_CAUSE_DNS_VIEW,
    ANALYSIS_CAUSE_UNKNOWN,
} AnalysisCause;
/* "edge_route", "vpn_block", "dns_view", "unknown". */
const char *analysis_cause_key(AnalysisCause c);

/* The newest finished run of one ordered pair of a profile. */
typedef struct {
    char *profile;
    char *a, *b; /* side a, side b, as the store keeps the run */
    char *run_id;
    char *verdict; /* pass, warn, fail, error */
    char **codes;  /* its distinct finding codes, sorted */
    gint64 finished_at;
} AnalysisCell;
AnalysisCell *analysis_cell_new(const char *profile, const char *a, const char *b,
                                const char *run_id, const char *verdict, const char *const *codes,
                                gint64 finished_at);
void analysis_cell_free(AnalysisCell *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AnalysisCell, analysis_cell_free)

typedef struct {
    char *name;
    char **groups;         /* as registered; empty for an agent no longer registered */
    char *group;           /* the one it is shown under: its first, "" if none */
    char **subnets;        /* the networks of its physical interfaces (heartbeats), sorted */
    char **tunnel_subnets; /* of its tunnel interfaces */
    gboolean registered;
} AnalysisAgent;

typedef struct {
    char *side;     /* an agent's name, or a group's */
    gboolean group; /* side names a group */
    char **agents;  /* the side's agents in the matrix */
    char *subnet;   /* its networks, ", "-joined; "" when its heartbeats gave none */
    AnalysisCause cause;
    guint failing_pairs;
    GPtrArray *run_ids; /* char*, NULL-terminated: the failing runs that show it, newest first */
    char *sentence;
} AnalysisPattern;

typedef struct {
    char *profile;
    GPtrArray *agents;     /* AnalysisAgent, by group then name */
    GPtrArray *cells;      /* AnalysisCell, by side a then side b */
    GPtrArray *patterns;   /* AnalysisPattern: none, or one */
    char *note;            /* what the analysis says when there is no pattern; NULL: nothing */
    guint judged, failing; /* pairs (either direction) with a verdict, and those failing */
    GHashTable *by_pair;   /* "a\x1fb" -> AnalysisCell (cells') */
} AnalysisMatrix;
void analysis_matrix_free(AnalysisMatrix *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AnalysisMatrix, analysis_matrix_free)

/* The cell of row against col: the newest run with row as side a and col as
 * side b, else the other way (*reversed set then, if given); NULL: never run. */
const AnalysisCell *analysis_cell(const AnalysisMatrix *m, const char *row, const char *col,
                                  gboolean *reversed);

/* One matrix per profile (by name) from the newest cells of each ordered pair
 * (AnalysisCell, taken), the agents (StoreAgent) and, if not NULL, the
 * schedules (ScheduleConfig: their agents and groups join their profile's
 * matrix, never run or not). */
GPtrArray *analysis_build(GPtrArray *cells, const GPtrArray *agents, const GPtrArray *schedules);

/* The same from the store: latest is store_latest_per_pair()'s, agents
 * store_agent_list()'s (both borrowed); each run's codes are read. */
GPtrArray *analysis_load(Store *s, const GPtrArray *latest, const GPtrArray *agents,
                         const GPtrArray *schedules, GError **error);

/* The same, the runs and agents read from the store too. */
GPtrArray *analysis_read(Store *s, const GPtrArray *schedules, GError **error);

/* GET /api/v1/analysis's document (docs/contract.md). */
JsonNode *analysis_to_json(const GPtrArray *matrices, gint64 now);
