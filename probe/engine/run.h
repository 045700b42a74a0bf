/* One ad-hoc run: local checks, then the relay-loop paths (docs/controller.md, "The two ways to
 * run"). */
#pragma once

#include "iceprobe/profile.h"
#include "iceprobe/result.h"

typedef struct {
    guint duration_s;         /* stream length per path; 0: the profile's */
    const char *const *paths; /* the relay-loop paths to run; NULL: all */
} RunOptions;

/* The relay-loop paths by name, comma-separated, as --paths takes them: FALSE
 * with the unknown name in error if one is not a path. */
gboolean run_paths_valid(const char *const *names, GError **error);

RunResult *run_execute(const Profile *profile, const RunOptions *opts);

/* The human report: fits one screen. */
char *report_text(const RunResult *r, gboolean color);
/* JUnit XML: one test case per check and path. */
char *report_junit(const RunResult *r);
