/* Judging paths: what the selected pair, the tunnel's counters and the stream's
 * quality say, as findings. Shared by the probe and the controller. */
#pragma once

#include "iceprobe/result.h"

typedef enum {
    POLICY_PATH_NATURAL, /* all candidates offered, as a call client does */
    POLICY_PATH_FORCED_RELAY,
    POLICY_PATH_TUNNEL_ONLY,
} PolicyPathKind;

/* How many tunnel packets during a stream count as the stream having crossed it:
 * half of what was sent (background traffic through a tunnel is far less). */
guint64 policy_tunnel_threshold(const PathRecord *p);
gboolean policy_egress_complete(const PathRecord *p);

/* Adds the path's findings to r and sets p->verdict. */
void policy_judge_path(RunResult *r, PathRecord *p, PolicyPathKind kind, const Profile *profile);
