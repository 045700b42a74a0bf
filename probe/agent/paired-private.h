/* Shared by the paired run's two files (not installed): paired.c, the run
 * (the peer's messages routed to each path, hello, reruns, the report), and
 * paired_path.c, one path against the peer. */
#pragma once

#include "iceprobe/policy.h"
#include "mailbox.h"
#include "paired.h"
#include "run-private.h"

#define CONNECT_TIMEOUT_MS 15000
#define PEER_END_SLACK_MS  5000 /* how long after its own stream a side waits for the peer's */
#define STATS_TIMEOUT_MS   5000
#define CLOSE_SLACK_MS     2000 /* beyond the peer's own wait for its pair to settle */
#define TICK_MS            50

typedef struct {
    RunCtx c;
    const Order *order;
    const PairedEnv *env;
    GMainContext *ctx; /* the run's own: hello, reruns */
    GSource *tick;
    Mailbox *mb;
    /* Under lock: the routing of the peer's messages, and who to wake. */
    GMutex lock;
    gboolean hello, peer_tunnel, peer_closes, peer_at_once, peer_starts;
    char *peer_version;
    guint64 peer_ptime_ms; /* its hello's ptime_ms, 0 if it said none */
    char **peer_reruns; /* the peer's `reruns`, once it came */
    GHashTable *inboxes; /* path name -> GAsyncQueue of PeerMessage */
    GPtrArray *waiting;  /* GMainContext: woken when messages arrive */
    char *bad_message;   /* the first message from the peer that did not parse */
    GMutex result_lock;  /* findings added by paths on their threads */
    gulong stop_handler; /* a stop wakes every waiting context at once */
} Paired;

/* A message for the peer: {type, path} (path may be NULL), for the caller to
 * fill and hand to paired_post(), which takes it. */
JsonObject *paired_message_new(const char *type, const char *path);
void paired_post(Paired *P, JsonObject *o);
/* Takes the peer's messages from the mailbox into each path's queue (any thread). */
void paired_route(Paired *P);
/* The queue of the peer's messages about a path (a reference). */
GAsyncQueue *paired_inbox(Paired *P, const char *name);
/* A context to wake when the peer's messages arrive, and no longer. */
void paired_watch(Paired *P, GMainContext *ctx);
void paired_unwatch(Paired *P, GMainContext *ctx);
/* SIGTERM (the env's stop cancelled): the run ends cleanly. */
gboolean paired_stopped(const Paired *P);
/* A timeout source's callback that only wakes its context (TICK_MS): the
 * clock of the waits' deadlines (a stop and the peer's messages wake them at
 * once). */
gboolean paired_tick(gpointer data);
/* Something the peer said that was refused, for the report's peer-messages
 * check (the first is kept), from any path's thread. */
void paired_note_refused(Paired *P, const char *why);
/* A finding of the run, from any path's thread. */
void paired_add_finding(Paired *P, const char *code, JsonObject *ev, const char *message);

/* paired_path.c: one path against the peer into rec (rec->total_ms too); TRUE when the policy should judge it (the run
 * does, once every path is done: a path may run on a thread of its own). */
gboolean paired_path_run(Paired *P, const char *name, PathRecord *rec);
