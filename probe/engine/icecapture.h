/* libnice's debug reports, captured per agent (docs/libnice.md §42). libnice
 * logs its check pairs' states and its TURN allocations' answers only as
 * debug lines of the GLib log domain "libnice", each naming its agent by
 * pointer ("Agent 0x55d0c2a8e0c0 : pair 0x... state FAILED (...)"). While at
 * least one agent is attached, libnice's debugging is on and a log handler
 * hands each line about an attached agent to that agent's IceLog (icelog.h);
 * lines about other agents are dropped. The paths of one process run on
 * threads of their own, each agent on its own context: the pointer attributes
 * a line to its agent whatever thread logged it.
 *
 * The log handler is process-wide, as GLib's handlers are: the one global
 * table here is the agents attached, under a lock. */
#pragma once

#include "icelog.h"

/* FALSE when ICEPROBE_ICE_RECORD=off (a measurement aid: the record then
 * holds only what libnice's public API gives). */
gboolean icecapture_enabled(void);
/* Starts recording what libnice says about agent (a NiceAgent *). Attach it
 * before it is given its TURN servers: the record learns them from libnice's
 * own lines. */
void icecapture_attach(gconstpointer agent);
/* Stops it; libnice's debugging goes off with the last agent detached (unless
 * NICE_DEBUG or G_MESSAGES_DEBUG turned it on). */
void icecapture_detach(gconstpointer agent);
/* What the log handler does with one debug line of domain "libnice" or
 * "libnice-stun" (the tests feed libnice's own lines through it). */
void icecapture_line(const char *domain, const char *message);
/* What was recorded about agent so far (a copy), or NULL if it is not attached. */
IceLog *icecapture_copy(gconstpointer agent);
