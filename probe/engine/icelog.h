/* libnice's own account of one agent's ICE, read from the debug lines libnice
 * 0.1.21 logs about that agent (docs/libnice.md §42): each check pair's state
 * as libnice set it, why it failed, whether it was nominated; each TURN
 * allocation it asked for, which server it asked and the answers it got.
 * libnice has no public API for any of this.
 *
 * A parser of text, nothing else (icecapture.c routes the lines here): it
 * keeps no line (libnice's lines carry the TURN username, its STUN lines
 * passwords), holds at most ICELOG_MAX_* of anything, takes fields of fixed
 * length, and ignores any line it does not know. */
#pragma once

#include <glib.h>

#define ICELOG_MAX_LINE    1024 /* a longer line is ignored */
#define ICELOG_MAX_PAIRS   512
#define ICELOG_MAX_ITEMS   64 /* discovery items: reflexive and relay */
#define ICELOG_MAX_SERVERS 8  /* libnice's own (NICE_CANDIDATE_MAX_TURN_SERVERS) */
#define ICELOG_ADDR_LEN    48 /* an IPv6 address as text, and its NUL */
#define ICELOG_WORD_LEN    16

typedef enum {
    ICELOG_STATE_UNKNOWN,
    ICELOG_STATE_FROZEN,
    ICELOG_STATE_WAITING,
    ICELOG_STATE_IN_PROGRESS,
    ICELOG_STATE_SUCCEEDED,
    ICELOG_STATE_FAILED,
    ICELOG_STATE_DISCOVERED,
    ICELOG_STATE_CANCELLED, /* removed from the check list before it was checked */
} IceLogState;

/* "frozen", "waiting", "in-progress", "succeeded", "failed", "discovered",
 * "cancelled"; NULL for ICELOG_STATE_UNKNOWN. */
const char *icelog_state_name(IceLogState s);

/* Why a pair failed, or was cancelled, as libnice said it. */
typedef enum {
    ICELOG_WHY_NONE,
    ICELOG_WHY_TIMEOUT,         /* retransmissions ran out without an answer */
    ICELOG_WHY_SOCKET,          /* its socket went away (a TCP connection closed) */
    ICELOG_WHY_ERROR,           /* an error answer: code, or libnice's res= in detail */
    ICELOG_WHY_SOURCE_MISMATCH, /* the answer came from another address */
    ICELOG_WHY_NO_REMOTE,       /* an answer matched, without a known remote candidate */
    ICELOG_WHY_CONSENT,         /* consent expired or was revoked after it worked */
    ICELOG_WHY_PRUNED,          /* removed before it was checked: a pair was nominated */
    ICELOG_WHY_STOPPED,         /* retransmissions stopped: a higher pair was nominated */
    ICELOG_WHY_ROLE_CONFLICT,   /* a 487 role conflict (the check is then repeated) */
    ICELOG_WHY_OTHER,           /* failed in libnice's function named in detail */
} IceLogWhy;

typedef struct {
    guint64 id; /* libnice's pointer to the pair (unique while it lives) */
    char local_ip[ICELOG_ADDR_LEN], remote_ip[ICELOG_ADDR_LEN];
    guint local_port, remote_port;
    /* libnice's names: "udp", "tcp-act", "tcp-pass", "tcp-so"; "" until said */
    char local_transport[ICELOG_WORD_LEN], remote_transport[ICELOG_WORD_LEN];
    IceLogState state;
    gboolean nominated;
    IceLogWhy why;
    guint code;      /* the STUN error code of ICELOG_WHY_ERROR, 0 if not logged */
    char detail[48]; /* libnice's res= value, or its function (cut) */
} IceLogPair;

/* A TURN server as libnice was given it (its index is its place in the list). */
typedef struct {
    char ip[ICELOG_ADDR_LEN];
    guint port;
    guint type; /* NiceRelayType as libnice logs it: 0 UDP, 1 TCP, 2 TLS */
} IceLogServer;

/* One allocation (or STUN binding) libnice asked for while gathering. */
typedef struct {
    guint64 id;                    /* libnice's pointer to the discovery item */
    gboolean relay;                /* FALSE: a server-reflexive discovery (STUN) */
    int server;                    /* index of the TURN server it asks; -1 when not known */
    char base_ip[ICELOG_ADDR_LEN]; /* the host candidate it was made for */
    char base_transport[ICELOG_WORD_LEN];
    guint answers, errors;
    guint first_code, last_code; /* STUN error codes of its first and last error answers */
    gboolean allocated;          /* a success answer came */
    gboolean redundant;          /* libnice dropped the relay candidate it gave */
} IceLogItem;

typedef struct IceLog IceLog;

IceLog *icelog_new(void);
void icelog_free(IceLog *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IceLog, icelog_free)
IceLog *icelog_copy(const IceLog *l);

/* The agent a libnice line is about ("Agent 0x55d0c2a8e0c0 : ...", also with
 * a function's name before it, or "Agent:%p"), and the text after it. FALSE
 * for a line that names no agent. */
gboolean icelog_agent_of(const char *line, guint64 *agent, const char **rest);
/* libnice's STUN library's line for an error answer (" STUN error message
 * received (code: 401)"): its code. It names no agent: it comes just before
 * the agent's own line about that answer, on the same thread. */
gboolean icelog_stun_error_code(const char *line, guint *code);
/* One line about the agent (the text after its name, icelog_agent_of's rest),
 * with the STUN error code logged just before it on the same thread (0: none).
 * Lines not known are counted and ignored. */
void icelog_feed(IceLog *l, const char *rest, guint stun_code);

guint icelog_n_pairs(const IceLog *l);
const IceLogPair *icelog_pair(const IceLog *l, guint i);
guint icelog_pairs_over(const IceLog *l); /* pairs past ICELOG_MAX_PAIRS, not kept */
guint icelog_n_items(const IceLog *l);
const IceLogItem *icelog_item(const IceLog *l, guint i);
guint icelog_n_servers(const IceLog *l);
const IceLogServer *icelog_server(const IceLog *l, guint i);
/* libnice said gathering finished: every item not answered has timed out. */
gboolean icelog_gathered(const IceLog *l);
/* Discovery items libnice said timed out (it does not say which). */
guint icelog_timeouts(const IceLog *l);
guint icelog_lines(const IceLog *l, guint *unknown);
