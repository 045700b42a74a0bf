/* Shared by the status page's files (status.c: the page and a run's page;
 * status_chart.c: the history charts; status_matrix.c: the matrix and its
 * analysis); not part of any other module's interface. */
#pragma once

#include "analysis.h"
#include "api-private.h"

/* text (NULL: nothing), escaped for HTML text and attribute values. */
void status_esc(GString *s, const char *text);
/* "2026-01-01 00:00:00 UTC", or "never" for 0. */
char *status_when(gint64 t);
/* "profile: a ↔ b", escaped. */
void status_pair_title(GString *s, const StoreRun *r);
/* A verdict as a coloured badge ("pending" for NULL). */
void status_verdict_badge(GString *s, const char *verdict);

/* The history charts of one pair of a profile (latest is its newest run):
 * loss, jitter, RTT and MOS of the natural path as side a saw it. */
void status_history(GString *s, Api *api, const StoreRun *latest);

/* The matrix of each profile and, under it, its analysis across pairs. */
void status_matrix_section(GString *s, const GPtrArray *matrices);
