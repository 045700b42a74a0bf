/* The paired run: this agent and its peer on another host, signalled through
 * the controller's mailbox (trickle ICE), run each path of an order against
 * each other (at the same time when both sides can tell each path's media
 * apart) and stream SRTP both ways; the report is this side's
 * iceprobe.run/1 document (docs/contract.md, "Paired runs").
 *
 * The messages between the two sides (each a JSON object with a "type"):
 *   hello     {tunnel, version, closes?, at_once?, starts?}  once, after the local checks
 *   connected {path}                                   this side has its first pair (both said starts:
 *                                                      each streams once the other has one too)
 *   session   {path, ufrag, pwd, key}                  ICE credentials, this side's SRTP key
 *   candidate {path, line}                             one local candidate as gathered
 *   gathered  {path}                                   this side's gathering is done
 *   sent      {path, packets}                          this side's stream has ended
 *   stats     {path, in: {packets_sent, ...}}          what this side received
 *   skip      {path, reason}                           this side cannot run the path
 *   closing   {path}                                   done with the path's ICE (both said closes)
 *   reruns    {paths}                                  after paths run at once (both said at_once):
 *                                                      which to run again alone, on both sides
 * A message from the peer is outside data: peer_message_parse() checks it
 * (peer_message.c). */
#pragma once

#include <gio/gio.h>

#include <gio/gio.h>

#include "iceprobe/protocol.h"
#include "iceprobe/result.h"
#include "mailbox.h"
#include "peer_message.h"

typedef struct {
    const char *url, *token, *ca_file; /* the controller */
    GCancellable *stop;                /* cancelled (SIGTERM, stop.h): end the run cleanly */
    /* Both NULL in the agent. Two runs in one process (tests): one end of
     * mailbox_open_pair() instead of the controller's mailbox (borrowed: the
     * caller closes it), and the one local address every path but
     * tunnel-only gathers on (loopback), where a client gathers on all. */
    Mailbox *mailbox;
    GInetAddress *local_address;
} PairedEnv;

/* Carries out one order; never NULL. The document's run_id is the order's. */
RunResult *paired_execute(const Order *order, const PairedEnv *env);
