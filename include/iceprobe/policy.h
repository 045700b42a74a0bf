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
 * half of what was sent (background traffic through a tunnel is far less). A
 * connection counted in bytes (SIO_TCP_INFO): that many packets of
 * POLICY_MEDIA_MIN_BYTES each. */
guint64 policy_tunnel_threshold(const PathRecord *p);
/* The smallest SRTP media packet a profile makes: an RTP header (12), the
 * smallest payload [stream] payload_bytes allows (32), the auth tag (10). */
#define POLICY_MEDIA_MIN_BYTES (12 + 32 + 10)
gboolean policy_egress_complete(const PathRecord *p);

/* Adds the path's findings to r and sets p->verdict. */
void policy_judge_path(RunResult *r, PathRecord *p, PolicyPathKind kind, const Profile *profile);
/* After the paths: the check firewall found the Windows Firewall's block of
 * the tunnel's address missing (its detail's block_missing) and a path through
 * the tunnel connected (TUNNEL_PATH_OPEN or MEDIA_VIA_TUNNEL among r's
 * findings): FIREWALL_BLOCK_MISSING, once. */
void policy_judge_firewall(RunResult *r);
/* A direction's QoS sample is judged from this many packets on. */
#define POLICY_QOS_MIN_SAMPLE 10
/* A DSCP value with its name: "46 (EF)", "0 (CS0)", "34 (AF41)", else the number. */
char *policy_dscp_name(guint dscp);
