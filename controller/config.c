/* Each key the controller knows is a row of `keys` (group, key, kind, field).
 * Loading walks the file, so a key the table lacks is named; [schedule.NAME]
 * groups repeat, with their own small table. */
#include "config.h"
#include "store.h"

#include <stddef.h>
#include <string.h>

#include "iceprobe/keyfile.h"

G_DEFINE_QUARK(iceprobe - config - error - quark, config_error)

typedef enum { K_STRING, K_PATH, K_SECRET_FILE, K_BOOL, K_UINT, K_LIST } KeyKind;

typedef struct {
    const char *group;
    const char *key;
    KeyKind kind;
    gsize offset;
    guint min, max;
} ConfigKey;

#define F(m) offsetof(ControllerConfig, m)
static const ConfigKey keys[] = {
    {"server", "listen", K_LIST, F(listen), 0, 0},
    {"server", "tls_cert_file", K_PATH, F(tls_cert_file), 0, 0},
    {"server", "tls_key_file", K_PATH, F(tls_key_file), 0, 0},
    {"server", "allow_plain_http", K_BOOL, F(allow_plain_http), 0, 0},
    {"server", "user", K_STRING, F(user), 0, 0},
    {"server", "threads", K_UINT, F(threads), 1, CONFIG_MAX_THREADS},
    {"store", "path", K_PATH, F(store_path), 0, 0},
    {"store", "url", K_STRING, F(store_url), 0, 0},
    {"auth", "admin_token_file", K_SECRET_FILE, F(admin_token), 0, 0},
    {"auth", "metrics_public", K_BOOL, F(metrics_public), 0, 0},
    {"auth", "status_public", K_BOOL, F(status_public), 0, 0},
    {"turn", "secret_file", K_SECRET_FILE, F(turn_secret), 0, 0},
    {"turn", "mras_response_file", K_PATH, F(mras_response_file), 0, 0},
    {"turn", "mras_username_file", K_PATH, F(mras_username_file), 0, 0},
    {"turn", "mras_password_file", K_PATH, F(mras_password_file), 0, 0},
    {"turn", "mras_issued_at", K_STRING, F(mras_issued_at), 0, 0},
    {"profiles", "dir", K_PATH, F(profiles_dir), 0, 0},
    {"scheduler", "order_timeout_s", K_UINT, F(order_timeout_s), 1, 3600},
    {"scheduler", "setup_s", K_UINT, F(setup_s), 5, 3600},
    {"scheduler", "silence_s", K_UINT, F(silence_s), 3, 3600},
    {"scheduler", "longpoll_s", K_UINT, F(longpoll_s), 1, 300},
    {"scheduler", "history_days", K_UINT, F(history_days), 0, 36500},
};
#undef F

#define S(m) offsetof(ScheduleConfig, m)
static const ConfigKey schedule_keys[] = {
    {"schedule", "cron", K_STRING, S(cron), 0, 0},
    {"schedule", "on", K_STRING, S(on), 0, 0},
    {"schedule", "profile", K_STRING, S(profile), 0, 0},
    {"schedule", "a", K_STRING, S(a), 0, 0},
    {"schedule", "b", K_STRING, S(b), 0, 0},
    {"schedule", "min_interval_s", K_UINT, S(min_interval_s), 0, 7 * 86400},
    {"schedule", "catch_up_s", K_UINT, S(catch_up_s), 0, 7 * 86400},
};
#undef S

#define SCHEDULE_PREFIX "schedule."

static void set_error(GError **error, ConfigError code, const char *file, const char *group,
                      const char *key, const char *fmt, ...) G_GNUC_PRINTF(6, 7);

static void set_error(GError **error, ConfigError code, const char *file, const char *group,
                      const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, CONFIG_ERROR, code, "%s: [%s] %s: %s", file, group, key, msg);
}

static void schedule_free(gpointer p)
{
    ScheduleConfig *s = p;
    g_free(s->name);
    g_free(s->cron);
    g_free(s->on);
    g_free(s->profile);
    g_free(s->a);
    g_free(s->b);
    g_free(s);
}

static void controller_profile_free(gpointer p)
{
    ControllerProfile *cp = p;
    profile_free(cp->profile);
    g_free(cp->text);
    g_free(cp->ca_pem);
    g_free(cp);
}

void config_free(ControllerConfig *c)
{
    if (!c)
        return;
    g_free(c->path);
    g_strfreev(c->listen);
    g_free(c->tls_cert_file);
    g_free(c->tls_key_file);
    g_free(c->user);
    g_free(c->store_path);
    g_free(c->store_url);
    keyfile_secret_free(c->admin_token);
    keyfile_secret_free(c->turn_secret);
    g_free(c->mras_response_file);
    g_free(c->mras_username_file);
    g_free(c->mras_password_file);
    g_free(c->mras_issued_at);
    g_free(c->profiles_dir);
    if (c->profiles)
        g_hash_table_unref(c->profiles);
    if (c->schedules)
        g_ptr_array_unref(c->schedules);
    g_free(c);
}

static gboolean parse_value(const ConfigKey *k, const char *file, const char *dir,
                            const char *group, const char *raw, void *field, GError **error)
{
    if (*raw == '\0' && k->kind != K_BOOL) {
        set_error(error, CONFIG_ERROR_VALUE, file, group, k->key, "must not be empty");
        return FALSE;
    }
    switch (k->kind) {
    case K_STRING:
        g_free(*(char **)field);
        *(char **)field = g_strdup(raw);
        return TRUE;
    case K_PATH:
        g_free(*(char **)field);
        *(char **)field =
            g_path_is_absolute(raw) ? g_strdup(raw) : g_build_filename(dir, raw, NULL);
        return TRUE;
    case K_SECRET_FILE: {
        g_autofree char *path =
            g_path_is_absolute(raw) ? g_strdup(raw) : g_build_filename(dir, raw, NULL);
        g_autoptr(GError) e = NULL;
        char *secret = keyfile_read_secret(path, 16, 4096, &e);
        if (!secret) {
            set_error(error,
                      keyfile_error_is_unreadable(e) ? CONFIG_ERROR_READ : CONFIG_ERROR_VALUE, file,
                      group, k->key, "%s", e->message);
            return FALSE;
        }
        keyfile_secret_free(*(char **)field);
        *(char **)field = secret;
        return TRUE;
    }
    case K_BOOL:
        if (g_ascii_strcasecmp(raw, "true") == 0 || strcmp(raw, "1") == 0)
            *(gboolean *)field = TRUE;
        else if (g_ascii_strcasecmp(raw, "false") == 0 || strcmp(raw, "0") == 0)
            *(gboolean *)field = FALSE;
        else {
            set_error(error, CONFIG_ERROR_VALUE, file, group, k->key, "'%s' is not true or false",
                      raw);
            return FALSE;
        }
        return TRUE;
    case K_UINT: {
        guint64 v;
        if (!g_ascii_string_to_unsigned(raw, 10, k->min, k->max, &v, NULL)) {
            set_error(error, CONFIG_ERROR_VALUE, file, group, k->key,
                      "'%s' is not a whole number from %u to %u", raw, k->min, k->max);
            return FALSE;
        }
        *(guint *)field = (guint)v;
        return TRUE;
    }
    case K_LIST: {
        g_auto(GStrv) parts = g_strsplit(raw, ";", 64);
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        for (char **p = parts; *p; p++) {
            g_strstrip(*p);
            if (**p)
                g_strv_builder_add(b, *p);
        }
        g_strfreev(*(char ***)field);
        *(char ***)field = g_strv_builder_end(b);
        return TRUE;
    }
    }
    return FALSE;
}

static const ConfigKey *find_key(const ConfigKey *table, gsize n, const char *group,
                                 const char *key)
{
    for (gsize i = 0; i < n; i++) {
        if (strcmp(table[i].group, group) == 0 && (!key || strcmp(table[i].key, key) == 0))
            return &table[i];
    }
    return NULL;
}

static gboolean load_group(GKeyFile *kf, const char *file, const char *dir, const char *group,
                           const ConfigKey *table, gsize n, const char *table_group, void *base,
                           GError **error)
{
    g_auto(GStrv) names = g_key_file_get_keys(kf, group, NULL, NULL);
    for (char **k = names; k && *k; k++) {
        const ConfigKey *spec = find_key(table, n, table_group, *k);
        if (!spec) {
            set_error(error, CONFIG_ERROR_UNKNOWN, file, group, *k, "unknown key");
            return FALSE;
        }
        g_autofree char *raw = g_key_file_get_value(kf, group, *k, NULL);
        g_autofree char *value = keyfile_strip_comment(raw ? raw : "");
        if (!parse_value(spec, file, dir, group, value, (char *)base + spec->offset, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean valid_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return FALSE;
    for (const char *c = s; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
            return FALSE;
    }
    return TRUE;
}

static gboolean load_schedule(GKeyFile *kf, ControllerConfig *c, const char *group, GError **error)
{
    const char *name = group + strlen(SCHEDULE_PREFIX);
    if (!valid_name(name)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "%s: [%s]: a schedule's name is 1-64 letters, digits, '-', '_' or '.'", c->path,
                    group);
        return FALSE;
    }
    if (c->schedules->len >= CONFIG_MAX_SCHEDULES) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s: more than %d schedules", c->path,
                    CONFIG_MAX_SCHEDULES);
        return FALSE;
    }
    ScheduleConfig *s = g_new0(ScheduleConfig, 1);
    s->name = g_strdup(name);
    s->min_interval_s = 600;
    g_ptr_array_add(c->schedules, s);
    g_autofree char *dir = g_path_get_dirname(c->path);
    if (!load_group(kf, c->path, dir, group, schedule_keys, G_N_ELEMENTS(schedule_keys), "schedule",
                    s, error))
        return FALSE;
    static const char *const required[] = {"profile", "a", "b"};
    for (gsize i = 0; i < G_N_ELEMENTS(required); i++) {
        const ConfigKey *k = find_key(schedule_keys, G_N_ELEMENTS(schedule_keys), "schedule",
                                      required[i]);
        if (!G_STRUCT_MEMBER(char *, s, k->offset)) {
            set_error(error, CONFIG_ERROR_MISSING, c->path, group, k->key,
                      "required key is missing");
            return FALSE;
        }
    }
    if (!s->cron && !s->on) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, group, "cron",
                  "a schedule fires on cron, on a network event (on), or both: give one");
        return FALSE;
    }
    if (s->on && strcmp(s->on, "vpn-up") != 0 && strcmp(s->on, "network-change") != 0) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, group, "on",
                  "'%s' is not vpn-up or network-change", s->on);
        return FALSE;
    }
    return TRUE;
}

gboolean config_schedule_fires_on(const ScheduleConfig *s, const char *kind)
{
    if (!s->on || !kind)
        return FALSE;
    if (strcmp(s->on, "network-change") == 0)
        return strcmp(kind, "vpn-up") == 0 || strcmp(kind, "vpn-down") == 0 ||
               strcmp(kind, "network-change") == 0;
    return strcmp(s->on, kind) == 0;
}

static char *read_ca(const Profile *p, GError **error)
{
    if (!p->edge.tls_ca_file)
        return NULL;
    char *pem = NULL;
    if (!g_file_get_contents(p->edge.tls_ca_file, &pem, NULL, error))
        return NULL;
    return pem;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean inline_routes(const Profile *p, char **text, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, *text, strlen(*text), G_KEY_FILE_KEEP_COMMENTS, error))
        return FALSE;
    g_autoptr(GString) list = g_string_new(NULL);
    for (guint i = 0; i < p->routes.bypass->len; i++) {
        g_autofree char *spec = route_prefix_spec(p->routes.bypass->pdata[i]);
        g_string_append_printf(list, "%s%s", i ? ";" : "", spec);
    }
    if (list->len > PROFILE_MAX_ROUTES_STRING || p->routes.bypass->len > PROFILE_MAX_LIST) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "[routes]: %u prefixes (%zu characters) are more than an order can carry "
                    "(%d, %d)",
                    p->routes.bypass->len, list->len, PROFILE_MAX_LIST, PROFILE_MAX_ROUTES_STRING);
        return FALSE;
    }
    g_key_file_remove_key(kf, "routes", "endpoints_file", NULL);
    g_key_file_set_value(kf, "routes", "must_bypass", list->str);
    g_free(*text);
    *text = g_key_file_to_data(kf, NULL, NULL);
    return TRUE;
}

static gboolean load_profiles(ControllerConfig *c, GError **error)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GDir) d = g_dir_open(c->profiles_dir, 0, &e);
    if (!d) {
        set_error(error, CONFIG_ERROR_READ, c->path, "profiles", "dir", "cannot read '%s': %s",
                  c->profiles_dir, e->message);
        return FALSE;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (const char *n; (n = g_dir_read_name(d));) {
        if (g_str_has_suffix(n, ".conf"))
            g_ptr_array_add(names, g_strdup(n));
    }
    g_ptr_array_sort(names, compare_names);
    if (names->len > CONFIG_MAX_PROFILES) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, "profiles", "dir", "more than %d profiles",
                  CONFIG_MAX_PROFILES);
        return FALSE;
    }
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(c->profiles_dir, names->pdata[i], NULL);
        g_autofree char *text = NULL;
        g_autoptr(Profile) p = profile_load_for_controller(path, &text, error);
        if (!p)
            return FALSE;
        if (g_hash_table_contains(c->profiles, p->name)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: profile name '%s' is used by another file in %s too", path, p->name,
                        c->profiles_dir);
            return FALSE;
        }
        g_autoptr(GError) ce = NULL;
        char *ca = read_ca(p, &ce);
        if (ce) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_READ, "%s: %s", path, ce->message);
            return FALSE;
        }
        /* Agents have no copy of the endpoints document: its prefixes go to
         * them inline, as must_bypass (with the profile's own). */
        if (p->routes.endpoints_file && !inline_routes(p, &text, error)) {
            g_prefix_error(error, "%s: ", path);
            return FALSE;
        }
        ControllerProfile *cp = g_new0(ControllerProfile, 1);
        cp->text = g_steal_pointer(&text);
        cp->ca_pem = ca;
        cp->profile = g_steal_pointer(&p);
        g_hash_table_insert(c->profiles, cp->profile->name, cp);
    }
    return TRUE;
}

/* A TURN REST secret for the rfc5766 profiles (and when there is no profile
 * yet), an MRAS source for the ms-turn ones, read once here so that a wrong
 * file stops the start. */
static gboolean check_credentials(ControllerConfig *c, GError **error)
{
    const char *rfc = NULL, *ms = NULL;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, c->profiles);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const Profile *p = ((ControllerProfile *)value)->profile;
        if (p->edge.ms_turn)
            ms = p->name;
        else
            rfc = p->name;
    }
    if (!c->turn_secret && (rfc || !ms)) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "turn", "secret_file",
                  "required key is missing%s%s%s", rfc ? " (profile '" : "", rfc ? rfc : "",
                  rfc ? "' is rfc5766)" : "");
        return FALSE;
    }
    gboolean files = c->mras_username_file || c->mras_password_file;
    if (files && !(c->mras_username_file && c->mras_password_file)) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "turn",
                  c->mras_username_file ? "mras_password_file" : "mras_username_file",
                  "MRAS credentials come in pairs: give mras_username_file and "
                  "mras_password_file");
        return FALSE;
    }
    if (files && c->mras_response_file) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, "turn", "mras_response_file",
                  "give either the MRAS answer or mras_username_file + mras_password_file, "
                  "not both");
        return FALSE;
    }
    if (ms && !files && !c->mras_response_file) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "turn", "mras_response_file",
                  "profile '%s' is ms-turn: give the MRAS answer (mras_response_file), or "
                  "mras_username_file and mras_password_file",
                  ms);
        return FALSE;
    }
    if (files || c->mras_response_file) {
        TurnCredentials tc = {0};
        gint64 expires = 0;
        gboolean ok = config_mras_read(c, &tc, &expires, error);
        turncred_clear(&tc);
        return ok;
    }
    return TRUE;
}

static char *read_small_secret(const char *path, GError **error)
{
    g_autoptr(GError) e = NULL;
    char *data = keyfile_read_secret(path, 1, MRAS_MAX_VALUE, &e);
    if (!data && keyfile_error_is_unreadable(e)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_READ, "%s", e->message);
        return NULL;
    }
    if (!data || !mras_is_base64(data)) {
        keyfile_secret_free(data);
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "'%s' is not an MRAS string (base64, at most %d bytes)", path, MRAS_MAX_VALUE);
        return NULL;
    }
    return data;
}

gboolean config_mras_read(const ControllerConfig *c, TurnCredentials *out, gint64 *expires_at,
                          GError **error)
{
    memset(out, 0, sizeof(*out));
    *expires_at = 0;
    if (c->mras_username_file && c->mras_password_file) {
        out->username = read_small_secret(c->mras_username_file, error);
        out->password = out->username ? read_small_secret(c->mras_password_file, error) : NULL;
        if (!out->password) {
            turncred_clear(out);
            return FALSE;
        }
        return TRUE;
    }
    if (!c->mras_response_file) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_MISSING,
                    "%s: [turn] mras_response_file: no MRAS credentials are configured", c->path);
        return FALSE;
    }
    g_autoptr(GError) e = NULL;
    gsize len = 0;
    gint64 issued = 0;
    g_autofree char *data = keyfile_read_capped(c->mras_response_file, MRAS_MAX_BYTES, &len,
                                                &issued, &e);
    if (!data) {
        g_set_error(error, CONFIG_ERROR,
                    keyfile_error_is_unreadable(e) ? CONFIG_ERROR_READ : CONFIG_ERROR_VALUE, "%s",
                    e->message);
        return FALSE;
    }
    g_autoptr(MrasAnswer) a = mras_parse(data, len, &e);
    keyfile_wipe(data, len);
    if (!a) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s: %s", c->mras_response_file,
                    e->message);
        return FALSE;
    }
    if (c->mras_issued_at) {
        g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(c->mras_issued_at, NULL);
        if (!t) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [turn] mras_issued_at: '%s' is not a time in ISO 8601 with its zone "
                        "(like 2026-12-06T08:00:00Z)",
                        c->path, c->mras_issued_at);
            return FALSE;
        }
        issued = g_date_time_to_unix(t);
    }
    out->username = g_strdup(a->username);
    out->password = g_strdup(a->password);
    *expires_at = mras_expires_at(a, issued);
    return TRUE;
}

static gboolean check_config(ControllerConfig *c, GError **error)
{
    if (c->store_url && c->store_path) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, "store", "url",
                  "give path (SQLite) or url (PostgreSQL), not both");
        return FALSE;
    }
    if (c->store_url && !store_is_url(c->store_url)) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, "store", "url",
                  "'%s' is not a postgresql:// URL", c->store_url);
        return FALSE;
    }
    if (!c->store_url && !c->store_path) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "store", "path",
                  "required key is missing (or give url, for PostgreSQL)");
        return FALSE;
    }
    static const struct {
        const char *group, *key;
        gsize offset;
    } required[] = {
        {"auth", "admin_token_file", offsetof(ControllerConfig, admin_token)},
        {"profiles", "dir", offsetof(ControllerConfig, profiles_dir)},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(required); i++) {
        if (!G_STRUCT_MEMBER(char *, c, required[i].offset)) {
            set_error(error, CONFIG_ERROR_MISSING, c->path, required[i].group, required[i].key,
                      "required key is missing");
            return FALSE;
        }
    }
    if (!c->listen || !c->listen[0]) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "server", "listen",
                  "required key is missing");
        return FALSE;
    }
    for (char **l = c->listen; *l; l++) {
        g_autoptr(GSocketConnectable) a = g_network_address_parse(*l, 0, NULL);
        const char *colon = strrchr(*l, ':');
        guint64 port;
        if (!a || !colon || !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL)) {
            set_error(error, CONFIG_ERROR_VALUE, c->path, "server", "listen",
                      "'%s' is not host:port", *l);
            return FALSE;
        }
    }
    if (!c->tls_cert_file != !c->tls_key_file) {
        set_error(error, CONFIG_ERROR_MISSING, c->path, "server",
                  c->tls_cert_file ? "tls_key_file" : "tls_cert_file",
                  "HTTPS needs both tls_cert_file and tls_key_file");
        return FALSE;
    }
    if (!c->tls_cert_file && !c->allow_plain_http && !config_listen_is_loopback(c)) {
        set_error(error, CONFIG_ERROR_VALUE, c->path, "server", "listen",
                  "plain HTTP on a non-loopback address: give tls_cert_file and tls_key_file, "
                  "or set allow_plain_http = true");
        return FALSE;
    }
    if (!check_credentials(c, error))
        return FALSE;
    for (guint i = 0; i < c->schedules->len; i++) {
        ScheduleConfig *s = c->schedules->pdata[i];
        if (!config_profile(c, s->profile)) {
            g_autofree char *group = g_strconcat(SCHEDULE_PREFIX, s->name, NULL);
            set_error(error, CONFIG_ERROR_VALUE, c->path, group, "profile",
                      "no profile named '%s' in %s", s->profile, c->profiles_dir);
            return FALSE;
        }
    }
    return TRUE;
}

ControllerConfig *config_load(const char *path, GError **error)
{
    g_return_val_if_fail(path, NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(path, &data, &len, &e)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_READ, "%s: cannot read: %s", path,
                    e->message);
        return NULL;
    }
    if (len > CONFIG_MAX_BYTES) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_READ, "%s: larger than %d bytes", path,
                    CONFIG_MAX_BYTES);
        return NULL;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &e)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_READ, "%s: not a key file: %s", path,
                    e->message);
        return NULL;
    }
    g_autoptr(ControllerConfig) c = g_new0(ControllerConfig, 1);
    c->path = g_canonicalize_filename(path, NULL);
    c->metrics_public = TRUE;
    c->status_public = FALSE;
    /* A thread for each CPU it may run on (sched_getaffinity). */
    c->threads = CLAMP(g_get_num_processors(), 1, CONFIG_MAX_THREADS);
    c->order_timeout_s = 60;
    c->setup_s = 60;
    c->silence_s = 8;
    c->longpoll_s = 30;
    c->history_days = 400;
    c->profiles = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, controller_profile_free);
    c->schedules = g_ptr_array_new_with_free_func(schedule_free);
    g_autofree char *dir = g_path_get_dirname(c->path);

    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (g_str_has_prefix(*g, SCHEDULE_PREFIX)) {
            if (!load_schedule(kf, c, *g, error))
                return NULL;
            continue;
        }
        if (!find_key(keys, G_N_ELEMENTS(keys), *g, NULL)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN,
                        "%s: unknown group [%s] (known: server, store, auth, turn, profiles, "
                        "scheduler, schedule.NAME)",
                        path, *g);
            return NULL;
        }
        if (!load_group(kf, path, dir, *g, keys, G_N_ELEMENTS(keys), *g, c, error))
            return NULL;
    }
    if (c->profiles_dir && !load_profiles(c, error))
        return NULL;
    if (!check_config(c, error))
        return NULL;
    return g_steal_pointer(&c);
}

const ControllerProfile *config_profile(const ControllerConfig *c, const char *name)
{
    g_return_val_if_fail(c, NULL);
    return name ? g_hash_table_lookup(c->profiles, name) : NULL;
}

gboolean config_listen_is_loopback(const ControllerConfig *c)
{
    for (char **l = c->listen; l && *l; l++) {
        g_autoptr(GSocketConnectable) a = g_network_address_parse(*l, 0, NULL);
        if (!a)
            return FALSE;
        const char *host = g_network_address_get_hostname(G_NETWORK_ADDRESS(a));
        g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(host);
        if (!(ia ? g_inet_address_get_is_loopback(ia) : strcmp(host, "localhost") == 0))
            return FALSE;
    }
    return TRUE;
}

gboolean config_uses_tls(const ControllerConfig *c)
{
    return c->tls_cert_file != NULL;
}

const char *config_store_target(const ControllerConfig *c)
{
    return c->store_url ? c->store_url : c->store_path;
}
