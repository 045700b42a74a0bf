/* The controller's configuration (docs/contract.md, "Controller configuration"): a
 * GKeyFile read against a key table; unknown groups and keys are errors naming
 * them; relative paths are relative to the file. Profiles are loaded from
 * [profiles] dir as part of it, so a bad profile stops the start. */
#pragma once

#include "iceprobe/profile.h"
#include "iceprobe/turncred.h"

#define CONFIG_ERROR (config_error_quark())
GQuark config_error_quark(void);
typedef enum {
    CONFIG_ERROR_READ,
    CONFIG_ERROR_UNKNOWN,
    CONFIG_ERROR_VALUE,
    CONFIG_ERROR_MISSING,
} ConfigError;

#define CONFIG_MAX_BYTES     (256 * 1024)
#define CONFIG_MAX_SCHEDULES 256
#define CONFIG_MAX_PROFILES  256
#define CONFIG_MAX_THREADS   64

typedef struct {
    char *name;
    char *cron; /* five fields, local time; NULL: fires on network events only */
    char *on;   /* "vpn-up" or "network-change": fires when an agent reports one; NULL: cron only */
    char *profile;
    char *a, *b;          /* an agent's name, or group:NAME */
    guint min_interval_s; /* on: at most one firing per agent in this long */
    guint catch_up_s;     /* a run whose agent is offline waits this long for it; 0: none */
} ScheduleConfig;

/* Whether a schedule's `on` fires on an agent's network event of this kind
 * ("vpn-up", "vpn-down", "network-change"): vpn-up on vpn-up only,
 * network-change on every kind. */
gboolean config_schedule_fires_on(const ScheduleConfig *s, const char *kind);

/* A profile as the controller holds it: parsed, and its text for the agents. */
typedef struct {
    Profile *profile;
    char *text;
    char *ca_pem; /* the edge CA the profile names, for the agents; NULL if none */
} ControllerProfile;

typedef struct {
    char *path;
    char **listen; /* host:port */
    char *tls_cert_file, *tls_key_file;
    gboolean allow_plain_http;
    char *user;
    guint threads; /* server threads, each with its main loop, SoupServer and store connection;
                    * by default one for each CPU it may run on */
    char *store_path; /* SQLite */
    char *store_url;  /* PostgreSQL instead of store_path */
    char *admin_token;
    gboolean metrics_public, status_public;
    char *turn_secret;
    /* MRAS credentials for ms-turn profiles (docs/sfb.md): the answer, or the
     * two base64 strings; read again at each use, so the operator refreshes the
     * files in place. */
    char *mras_response_file;
    char *mras_username_file, *mras_password_file;
    char *mras_issued_at; /* ISO 8601: when the answer was issued, if not its file's time */
    char *profiles_dir;
    GHashTable *profiles;  /* name -> ControllerProfile */
    GPtrArray *schedules;  /* ScheduleConfig */
    guint order_timeout_s; /* an agent must take its order within this */
    guint setup_s;         /* a paired run's set-up allowance on top of its streams */
    guint silence_s;       /* a running side that calls about its run for none of this is gone */
    guint longpoll_s;      /* the longest an agent's long-poll is held */
    guint history_days;    /* runs older than this are pruned; 0 keeps all */
} ControllerConfig;

ControllerConfig *config_load(const char *path, GError **error);
/* The MRAS credentials as the files hold them now, and when they lapse (Unix
 * seconds: the answer's duration from the file's modification time; 0 when
 * the files do not say). FALSE with the file named when none is configured or
 * one cannot be read. */
gboolean config_mras_read(const ControllerConfig *c, TurnCredentials *out, gint64 *expires_at,
                          GError **error);
void config_free(ControllerConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ControllerConfig, config_free)

const ControllerProfile *config_profile(const ControllerConfig *c, const char *name);
/* Whether every listen address is a loopback address. */
gboolean config_listen_is_loopback(const ControllerConfig *c);
gboolean config_uses_tls(const ControllerConfig *c);

/* What the store is opened with: the PostgreSQL URL, else the SQLite file. */
const char *config_store_target(const ControllerConfig *c);
