/* Verify: the two agents' reports of a paired run become one result document.
 * Both sides are in probes[]; each path carries `sides` with the pair as each
 * side saw it; the path policy of common/ is applied to each side again with the
 * controller's own copy of the profile (an agent's opinion of its own paths is
 * not taken on trust); the findings of each side's checks (DNS, TURN, TLS) are
 * kept, marked with the side. A tunnel on either end is a finding. */
#pragma once

#include "iceprobe/result.h"

typedef struct {
    const char *run_id;
    const char *profile_name;
    const char *agent[2];
    gint64 started_at; /* Unix seconds */
} VerifyRun;

/* report[i] may be NULL (that side never reported): the run is then an error. */
RunResult *verify_paired(const VerifyRun *run, const Profile *profile, const RunResult *report_a,
                         const RunResult *report_b);

/* A run that could not be carried out: verdict error with one finding (code
 * AGENT_OFFLINE or RUN_TIMEOUT) whose evidence names the agents concerned, or
 * (code NULL) none: the message is the run's error. */
RunResult *verify_failed_run(const VerifyRun *run, const char *code, const char *const *agents,
                             const char *message);
