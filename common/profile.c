/* Profile loading. Every key the format knows is a row of `specs`: its group,
 * type, where it lands in Profile, and its range. Loading walks the file, not
 * the table, so a key the table lacks is found and named; then the table's
 * required keys are checked. A value may carry a trailing comment: a ';' or '#'
 * that follows white space starts it (lists separate items with a bare ';'). */
#include "iceprobe/profile.h"

#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stddef.h>
#include <string.h>

#include "iceprobe/keyfile.h"

/* GLib 2.74's g_ascii_string_to_unsigned (and its kin) clears errno, then
 * makes the process's C locale on its first call (a g_once around newlocale),
 * then reads errno: threads making that first call at once see errno set by
 * the wait, and "9" is refused as not a number (seen in a paired run's two
 * sides loading their profiles together: about one process in ten with 8
 * threads, tests/unit/test_profile.c). The locale is made here, before main
 * and any thread. */
__attribute__((constructor)) static void c_locale_made_first(void)
{
    (void)g_ascii_strtoull("0", NULL, 10);
}

G_DEFINE_QUARK(iceprobe - profile - error - quark, profile_error)

typedef struct {
    const char *display_path;
    const char *base_dir;
    const char *group;
    const char *key;
} Where;

typedef gboolean (*ParseFn)(const Where *w, const char *raw, void *field, double min, double max,
                            GError **error);

typedef struct {
    const char *group;
    const char *key;
    ParseFn parse;
    gsize offset;
    gboolean required;
    double min, max;
} KeySpec;

static void set_error(GError **error, ProfileError code, const Where *w, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void set_error(GError **error, ProfileError code, const Where *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, PROFILE_ERROR, code, "%s: [%s] %s: %s", w->display_path, w->group, w->key,
                msg);
}

static char *resolve_path(const Where *w, const char *raw)
{
    if (g_path_is_absolute(raw) || !w->base_dir)
        return g_strdup(raw);
    return g_build_filename(w->base_dir, raw, NULL);
}

/* Splits a list value on ';', trimming items and dropping empty ones. */
static char **split_list(const Where *w, const char *raw, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(raw, ";", -1);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    guint n = 0;
    for (char **p = parts; *p; p++) {
        g_strstrip(*p);
        if (**p == '\0')
            continue;
        if (++n > PROFILE_MAX_LIST) {
            set_error(error, PROFILE_ERROR_VALUE, w, "more than %d items", PROFILE_MAX_LIST);
            return NULL;
        }
        g_strv_builder_add(b, *p);
    }
    return g_strv_builder_end(b);
}

static gboolean parse_string(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    if (*raw == '\0' && min > 0) {
        set_error(error, PROFILE_ERROR_VALUE, w, "must not be empty");
        return FALSE;
    }
    g_free(*(char **)field);
    *(char **)field = g_strdup(raw);
    return TRUE;
}

static gboolean parse_uint(const Where *w, const char *raw, void *field, double min, double max,
                           GError **error)
{
    guint64 v;
    g_autoptr(GError) e = NULL;
    if (!g_ascii_string_to_unsigned(raw, 10, (guint64)min, (guint64)max, &v, &e)) {
        set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not a whole number from %.0f to %.0f",
                  raw, min, max);
        return FALSE;
    }
    *(guint *)field = (guint)v;
    return TRUE;
}

/* dscp_survives: path kinds, natural and/or relay (every relay path), into two
 * gbooleans side by side. */
static gboolean parse_survives(const Where *w, const char *raw, void *field, double min,
                               double max, GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    gboolean *natural = field, *relay = natural + 1;
    *natural = *relay = FALSE;
    for (char **i = items; *i; i++) {
        if (strcmp(*i, "natural") == 0) {
            *natural = TRUE;
        } else if (strcmp(*i, "relay") == 0) {
            *relay = TRUE;
        } else {
            set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not natural or relay", *i);
            return FALSE;
        }
    }
    return TRUE;
}

/* One of two words: the first sets the gboolean field FALSE, the second TRUE
 * (the words are the spec's, given through its min/max as table indexes). */
static const char *const choice_words[][2] = {
    {"aggressive", "regular"},
    {"controlling", "controlled"},
    {"rfc8445", "ms-ice2"},
    {"rfc5766", "ms-turn"},
};

static gboolean parse_choice(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    const char *const *words = choice_words[(gsize)min];
    for (int i = 0; i < 2; i++) {
        if (g_ascii_strcasecmp(raw, words[i]) == 0) {
            *(gboolean *)field = i == 1;
            return TRUE;
        }
    }
    set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is neither %s nor %s", raw, words[0], words[1]);
    return FALSE;
}

/* nomination: one of aggressive, regular, or both (';'): the first is the one
 * the paths use, the second adds a natural path with it. */
static gboolean parse_nomination(const Where *w, const char *raw, void *field, double min,
                                 double max, GError **error)
{
    g_auto(GStrv) words = g_strsplit(raw, ";", -1);
    guint n = g_strv_length(words);
    gboolean first = FALSE, seen[2] = {FALSE, FALSE};
    for (guint i = 0; i < n; i++) {
        char *word = g_strstrip(words[i]);
        gboolean regular = FALSE;
        if (!parse_choice(w, word, &regular, 0, 0, error))
            return FALSE;
        if (n > 2 || seen[regular]) {
            set_error(error, PROFILE_ERROR_VALUE, w, "'%s': give aggressive, regular, or both once",
                      raw);
            return FALSE;
        }
        seen[regular] = TRUE;
        if (i == 0)
            first = regular;
    }
    gboolean *ice = field; /* regular_nomination, then compare_nomination */
    ice[0] = first;
    ice[1] = n == 2;
    return TRUE;
}

/* codec: a codec the E-model knows (iceprobe/emodel.h). */
static gboolean parse_codec(const Where *w, const char *raw, void *field, double min, double max,
                            GError **error)
{
    const EmodelCodec *c = emodel_codec_lookup(raw);
    if (!c) {
        set_error(error, PROFILE_ERROR_VALUE, w, "'%s': unknown codec (known: %s)", raw,
                  emodel_codec_names());
        return FALSE;
    }
    *(const EmodelCodec **)field = c;
    return TRUE;
}

static gboolean parse_double(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    char *end = NULL;
    double v = g_ascii_strtod(raw, &end);
    if (*raw == '\0' || *end != '\0' || !(v >= min && v <= max)) {
        set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not a number from %g to %g", raw, min,
                  max);
        return FALSE;
    }
    *(double *)field = v;
    return TRUE;
}

static gboolean parse_readable_file(const Where *w, const char *raw, void *field, double min,
                                    double max, GError **error)
{
    g_autofree char *path = resolve_path(w, raw);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        set_error(error, PROFILE_ERROR_READ, w, "'%s' is not a readable file", path);
        return FALSE;
    }
    g_free(*(char **)field);
    *(char **)field = g_steal_pointer(&path);
    return TRUE;
}

#define PROFILE_MAX_CA_FILE (16 * 1024 * 1024) /* a CA bundle larger than this is no CA bundle */

/* How many PEM certificates the file holds (OpenSSL reads them, as the relay
 * and libcurl will: GIO's TLS needs a backend, which a Windows build has not);
 * -1 with *why when it cannot be read, is too large, or a certificate in it
 * does not parse (as GIO refused such a bundle: one bad certificate after good
 * ones is not taken for a shorter bundle). */
static int pem_certificates(const char *path, char **why)
{
    GStatBuf st;
    if (g_stat(path, &st) == 0 && st.st_size > PROFILE_MAX_CA_FILE) {
        *why = g_strdup_printf("over %d bytes", PROFILE_MAX_CA_FILE);
        return -1;
    }
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(path, &data, &len, &e)) {
        *why = g_strdup(e->message);
        return -1;
    }
    if (len > PROFILE_MAX_CA_FILE) { /* it grew since */
        *why = g_strdup_printf("over %d bytes", PROFILE_MAX_CA_FILE);
        return -1;
    }
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    /* The end of the data reads as "no start line"; anything else is a
     * certificate that does not parse. */
    unsigned long err = ERR_peek_last_error();
    gboolean at_end = !err || (ERR_GET_LIB(err) == ERR_LIB_PEM &&
                               ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
    if (!at_end) {
        char text[256];
        ERR_error_string_n(err, text, sizeof(text));
        *why = g_strdup_printf("certificate %d does not parse (%s)", n + 1, text);
        n = -1;
    } else if (!n) {
        *why = g_strdup("No PEM-encoded certificate found");
    }
    ERR_clear_error();
    return n;
}

/* A CA bundle: must hold at least one PEM certificate. */
static gboolean parse_ca_file(const Where *w, const char *raw, void *field, double min, double max,
                              GError **error)
{
    if (!parse_readable_file(w, raw, field, min, max, error))
        return FALSE;
    g_autofree char *why = NULL;
    if (pem_certificates(*(char **)field, &why) <= 0) {
        set_error(error, PROFILE_ERROR_READ, w, "'%s' holds no PEM certificate: %s",
                  *(char **)field, why);
        return FALSE;
    }
    return TRUE;
}

/* A small file's secret (a TURN secret, a password): keyfile_read_secret's rules. */
static gboolean parse_secret_file(const Where *w, const char *raw, void *field, double min,
                                  double max, GError **error)
{
    g_autofree char *path = resolve_path(w, raw);
    g_autoptr(GError) e = NULL;
    char *secret = keyfile_read_secret(path, 1, PROFILE_MAX_SECRET, &e);
    if (!secret) {
        set_error(error, keyfile_error_is_unreadable(e) ? PROFILE_ERROR_READ : PROFILE_ERROR_VALUE,
                  w, "%s", e->message);
        return FALSE;
    }
    keyfile_secret_free(*(char **)field);
    *(char **)field = secret;
    return TRUE;
}

/* A file a key names, at most max bytes: the error READ (cannot read) or VALUE
 * (too large), naming the key. */
static char *read_capped(const Where *w, const char *path, gsize max, gsize *len, gint64 *mtime,
                         GError **error)
{
    g_autoptr(GError) e = NULL;
    char *data = keyfile_read_capped(path, max, len, mtime, &e);
    if (!data)
        set_error(error, keyfile_error_is_unreadable(e) ? PROFILE_ERROR_READ : PROFILE_ERROR_VALUE,
                  w, "%s", e->message);
    return data;
}

/* An MRAS credentialsResponse (iceprobe/mras.h), and when it was saved. */
static gboolean parse_mras_response(const Where *w, const char *raw, void *field, double min,
                                    double max, GError **error)
{
    g_autofree char *path = resolve_path(w, raw);
    g_autoptr(GError) e = NULL;
    gsize len = 0;
    gint64 saved = 0;
    g_autofree char *data = read_capped(w, path, MRAS_MAX_BYTES, &len, &saved, error);
    if (!data)
        return FALSE;
    MrasAnswer *a = mras_parse(data, len, &e);
    keyfile_wipe(data, len);
    if (!a) {
        set_error(error, PROFILE_ERROR_VALUE, w, "'%s': %s", path, e->message);
        return FALSE;
    }
    Profile *p = (Profile *)((char *)field - offsetof(Profile, edge.mras));
    mras_answer_free(p->edge.mras);
    p->edge.mras = a;
    g_free(p->edge.mras_file);
    p->edge.mras_file = g_steal_pointer(&path);
    p->edge.mras_saved_at = saved;
    return TRUE;
}

/* must_bypass: "CIDR [udp:PORTS] [tcp:PORTS]" items, appended to the list. */
static gboolean parse_routes(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    GPtrArray *out = *(GPtrArray **)field;
    for (char **i = items; *i; i++) {
        g_autoptr(GError) e = NULL;
        RoutePrefix *r = route_prefix_parse(*i, &e);
        if (!r) {
            set_error(error, PROFILE_ERROR_VALUE, w, "%s", e->message);
            return FALSE;
        }
        g_ptr_array_add(out, r);
    }
    return TRUE;
}

/* Microsoft's endpoints document: its Optimize prefixes are appended. */
static gboolean parse_endpoints(const Where *w, const char *raw, void *field, double min,
                                double max, GError **error)
{
    g_autofree char *path = resolve_path(w, raw);
    g_autoptr(GError) e = NULL;
    gsize len = 0;
    g_autofree char *data = read_capped(w, path, M365_MAX_BYTES, &len, NULL, error);
    if (!data)
        return FALSE;
    g_autoptr(GPtrArray) found = m365_endpoints_parse(data, len, &e);
    if (!found) {
        set_error(error, PROFILE_ERROR_VALUE, w, "'%s': %s", path, e->message);
        return FALSE;
    }
    Profile *p = (Profile *)((char *)field - offsetof(Profile, routes.endpoints_file));
    for (guint i = 0; i < found->len; i++)
        g_ptr_array_add(p->routes.bypass, g_steal_pointer(&found->pdata[i]));
    g_ptr_array_set_free_func(found, NULL);
    g_free(p->routes.endpoints_file);
    p->routes.endpoints_file = g_steal_pointer(&path);
    return TRUE;
}

/* A moment in ISO 8601 with its zone ("2026-12-06T08:00:00Z"), as unix seconds. */
static gboolean parse_time(const Where *w, const char *raw, void *field, double min, double max,
                           GError **error)
{
    g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(raw, NULL);
    if (!t) {
        set_error(error, PROFILE_ERROR_VALUE, w,
                  "'%s' is not a time in ISO 8601 with its zone (like 2026-12-06T08:00:00Z)", raw);
        return FALSE;
    }
    *(gint64 *)field = g_date_time_to_unix(t);
    return TRUE;
}

static gboolean parse_addresses(const Where *w, const char *raw, void *field, double min,
                                double max, GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);
    for (char **i = items; *i; i++) {
        GInetAddress *a = g_inet_address_new_from_string(*i);
        if (!a) {
            set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not an IP address", *i);
            return FALSE;
        }
        g_ptr_array_add(out, a);
    }
    g_ptr_array_unref(*(GPtrArray **)field);
    *(GPtrArray **)field = g_steal_pointer(&out);
    return TRUE;
}

static gboolean parse_ranges(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);
    for (char **i = items; *i; i++) {
        GInetAddressMask *m =
            strchr(*i, '/') ? g_inet_address_mask_new_from_string(*i, NULL) : NULL;
        if (!m) {
            set_error(error, PROFILE_ERROR_VALUE, w,
                      "'%s' is not an address range (like 10.0.0.0/8)", *i);
            return FALSE;
        }
        g_ptr_array_add(out, m);
    }
    g_ptr_array_unref(*(GPtrArray **)field);
    *(GPtrArray **)field = g_steal_pointer(&out);
    return TRUE;
}

static gboolean parse_globs(const Where *w, const char *raw, void *field, double min, double max,
                            GError **error)
{
    char **items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    g_strfreev(*(char ***)field);
    *(char ***)field = items;
    return TRUE;
}

/* [network] call_clients: programs' file names (lync.exe), as a firewall
 * rule's program path ends. */
static gboolean parse_programs(const Where *w, const char *raw, void *field, double min,
                               double max, GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    if (!*items) {
        set_error(error, PROFILE_ERROR_VALUE, w, "needs at least one program (like lync.exe)");
        return FALSE;
    }
    for (char **i = items; *i; i++) {
        gboolean ok = strlen(*i) <= 255;
        for (const char *c = *i; ok && *c; c++)
            ok = g_ascii_isprint(*c) && !strchr("\\/:*?\"<>|", *c);
        if (!ok) {
            set_error(error, PROFILE_ERROR_VALUE, w,
                      "'%s' is not a program's file name (like lync.exe; no folder)", *i);
            return FALSE;
        }
    }
    g_strfreev(*(char ***)field);
    *(char ***)field = g_steal_pointer(&items);
    return TRUE;
}

static gboolean valid_hostname(const char *s)
{
    gsize n = strlen(s);
    if (n == 0 || n > 253)
        return FALSE;
    for (const char *c = s; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '-' && *c != '.' && *c != '_')
            return FALSE;
    }
    return TRUE;
}

static void dns_name_free(gpointer p)
{
    ProfileDnsName *n = p;
    g_free(n->name);
    g_ptr_array_unref(n->expected);
    g_free(n);
}

/* name=address[,address];name=address */
static gboolean parse_dns_names(const Where *w, const char *raw, void *field, double min,
                                double max, GError **error)
{
    g_auto(GStrv) items = split_list(w, raw, error);
    if (!items)
        return FALSE;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(dns_name_free);
    for (char **i = items; *i; i++) {
        char *eq = strchr(*i, '=');
        if (!eq) {
            set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not name=address", *i);
            return FALSE;
        }
        *eq = '\0';
        g_autofree char *name = g_strstrip(g_strdup(*i));
        if (!valid_hostname(name)) {
            set_error(error, PROFILE_ERROR_VALUE, w, "'%s' is not a host name", name);
            return FALSE;
        }
        g_auto(GStrv) addrs = g_strsplit(eq + 1, ",", PROFILE_MAX_LIST);
        ProfileDnsName *n = g_new0(ProfileDnsName, 1);
        n->name = g_steal_pointer(&name);
        n->expected = g_ptr_array_new_with_free_func(g_object_unref);
        g_ptr_array_add(out, n);
        for (char **a = addrs; *a; a++) {
            g_strstrip(*a);
            GInetAddress *ia = g_inet_address_new_from_string(*a);
            if (!ia) {
                set_error(error, PROFILE_ERROR_VALUE, w, "'%s' (for %s) is not an IP address", *a,
                          n->name);
                return FALSE;
            }
            g_ptr_array_add(n->expected, ia);
        }
        if (n->expected->len == 0) {
            set_error(error, PROFILE_ERROR_VALUE, w, "%s has no expected address", n->name);
            return FALSE;
        }
    }
    g_ptr_array_unref(*(GPtrArray **)field);
    *(GPtrArray **)field = g_steal_pointer(&out);
    return TRUE;
}

/* SHA-256 as 64 hex digits, optionally with ':' between bytes (openssl's form). */
static gboolean parse_sha256(const Where *w, const char *raw, void *field, double min, double max,
                             GError **error)
{
    GString *hex = g_string_new(NULL);
    for (const char *c = raw; *c; c++) {
        if (*c == ':')
            continue;
        if (!g_ascii_isxdigit(*c) || hex->len >= 64) {
            g_string_free(hex, TRUE);
            set_error(error, PROFILE_ERROR_VALUE, w, "not a SHA-256 in hex (64 hex digits)");
            return FALSE;
        }
        g_string_append_c(hex, g_ascii_tolower(*c));
    }
    if (hex->len != 64) {
        g_string_free(hex, TRUE);
        set_error(error, PROFILE_ERROR_VALUE, w, "not a SHA-256 in hex (64 hex digits)");
        return FALSE;
    }
    g_free(*(char **)field);
    *(char **)field = g_string_free(hex, FALSE);
    return TRUE;
}

#define F(member) offsetof(Profile, member)
static const KeySpec specs[] = {
    {"profile", "name", parse_string, F(name), TRUE, 1, 0},
    {"profile", "description", parse_string, F(description), FALSE, 0, 0},
    {"edge", "host", parse_string, F(edge.host), TRUE, 1, 0},
    {"edge", "expected_addresses", parse_addresses, F(edge.expected_addresses), FALSE, 0, 0},
    {"edge", "udp_port", parse_uint, F(edge.udp_port), FALSE, 1, 65535},
    {"edge", "tcp_port", parse_uint, F(edge.tcp_port), FALSE, 1, 65535},
    {"edge", "tls_port", parse_uint, F(edge.tls_port), FALSE, 1, 65535},
    {"edge", "secret_file", parse_secret_file, F(edge.secret), FALSE, 0, 0},
    {"edge", "username", parse_string, F(edge.username), FALSE, 1, 0},
    {"edge", "password_file", parse_secret_file, F(edge.password), FALSE, 0, 0},
    {"edge", "tls_ca_file", parse_ca_file, F(edge.tls_ca_file), FALSE, 0, 0},
    {"edge", "tls_pin_sha256", parse_sha256, F(edge.tls_pin_sha256), FALSE, 0, 0},
    {"edge", "tls_server_name", parse_string, F(edge.tls_server_name), FALSE, 1, 0},
    {"edge", "credential_ttl_s", parse_uint, F(edge.credential_ttl_s), FALSE, 60, 86400 * 7},
    {"edge", "turn", parse_choice, F(edge.ms_turn), FALSE, 3, 3},
    {"edge", "mras_username_file", parse_secret_file, F(edge.mras_username), FALSE, 0, 0},
    {"edge", "mras_password_file", parse_secret_file, F(edge.mras_password), FALSE, 0, 0},
    {"edge", "mras_response_file", parse_mras_response, F(edge.mras), FALSE, 0, 0},
    {"edge", "mras_issued_at", parse_time, F(edge.mras_issued_at), FALSE, 0, 0},
    {"network", "internal_ranges", parse_ranges, F(network.internal_ranges), FALSE, 0, 0},
    {"network", "vpn_ranges", parse_ranges, F(network.vpn_ranges), FALSE, 0, 0},
    {"network", "tunnel_names", parse_globs, F(network.tunnel_names), FALSE, 0, 0},
    {"network", "call_clients", parse_programs, F(network.call_clients), FALSE, 0, 0},
    {"dns", "names", parse_dns_names, F(dns_names), FALSE, 0, 0},
    {"routes", "must_bypass", parse_routes, F(routes.bypass), FALSE, 0, 0},
    {"routes", "endpoints_file", parse_endpoints, F(routes.endpoints_file), FALSE, 0, 0},
    {"stream", "ptime_ms", parse_uint, F(stream.ptime_ms), FALSE, 10, 120},
    {"stream", "payload_bytes", parse_uint, F(stream.payload_bytes), FALSE, 32, 1200},
    {"stream", "duration_s", parse_uint, F(stream.duration_s), FALSE, 1, 3600},
    {"stream", "codec", parse_codec, F(stream.codec), FALSE, 0, 0},
    {"stream", "dscp", parse_uint, F(stream.dscp), FALSE, 0, 63},
    {"stream", "dscp_survives", parse_survives, F(stream.dscp_survives_natural), FALSE, 0, 0},
    {"ice", "dialect", parse_choice, F(ice.ms_ice2), FALSE, 2, 2},
    {"ice", "nomination", parse_nomination, F(ice.regular_nomination), FALSE, 0, 0},
    {"ice", "probe_role", parse_choice, F(ice.probe_controlled), FALSE, 1, 1},
    {"thresholds", "loss_ratio_max", parse_double, F(thresholds.loss_ratio_max), FALSE, 0, 1},
    {"thresholds", "jitter_ms_max", parse_double, F(thresholds.jitter_ms_max), FALSE, 0, 10000},
    {"thresholds", "rtt_ms_max", parse_double, F(thresholds.rtt_ms_max), FALSE, 0, 60000},
    {"thresholds", "mos_min", parse_double, F(thresholds.mos_min), FALSE, 1, 4.5},
    {"thresholds", "burst_loss_ratio_max", parse_double, F(thresholds.burst_loss_ratio_max), FALSE,
     0, 1},
    {"thresholds", "reorder_ratio_max", parse_double, F(thresholds.reorder_ratio_max), FALSE, 0, 1},
};
#undef F
/* parse_nomination and parse_survives write both members through one pointer. */
G_STATIC_ASSERT(offsetof(Profile, stream.dscp_survives_relay) ==
                offsetof(Profile, stream.dscp_survives_natural) + sizeof(gboolean));
G_STATIC_ASSERT(offsetof(Profile, ice.compare_nomination) ==
                offsetof(Profile, ice.regular_nomination) + sizeof(gboolean));

static const KeySpec *find_spec(const char *group, const char *key)
{
    for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
        if (strcmp(specs[i].group, group) == 0 && (!key || strcmp(specs[i].key, key) == 0))
            return &specs[i];
    }
    return NULL;
}

static GPtrArray *ranges_from(const char *const *cidrs)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_object_unref);
    for (; *cidrs; cidrs++)
        g_ptr_array_add(a, g_inet_address_mask_new_from_string(*cidrs, NULL));
    return a;
}

static Profile *profile_new_defaults(void)
{
    /* RFC 1918, and IPv6's unique local addresses (RFC 4193). */
    static const char *const private_ranges[] = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                 "fc00::/7", NULL};
    static const char *const no_ranges[] = {NULL};
    /* Skype for Business (Lync 2013 on), Teams classic, the new Teams, Lync
     * 2010 (seed 002's rules name Communicator.exe). */
    static const char *const call_clients[] = {"lync.exe", "Teams.exe", "ms-teams.exe",
                                               "communicator.exe", NULL};
    static const char *const tunnel_hints[] = {"gpd*", "tun*",   "utun*", "wg*",      "ppp*",
                                               "tap*", "ipsec*", "vti*",  "cscotun*", NULL};
    Profile *p = g_new0(Profile, 1);
    p->edge.expected_addresses = g_ptr_array_new_with_free_func(g_object_unref);
    p->edge.udp_port = 3478;
    p->edge.tcp_port = 3478;
    p->edge.tls_port = 443;
    p->edge.credential_ttl_s = 3600;
    p->network.internal_ranges = ranges_from(private_ranges);
    p->network.vpn_ranges = ranges_from(no_ranges);
    p->network.tunnel_names = g_strdupv((char **)tunnel_hints);
    p->network.call_clients = g_strdupv((char **)call_clients);
    p->dns_names = g_ptr_array_new_with_free_func(dns_name_free);
    p->routes.bypass = g_ptr_array_new_with_free_func(route_prefix_free);
    p->stream.ptime_ms = 20;
    p->stream.payload_bytes = 160;
    p->stream.duration_s = 10;
    p->stream.codec = emodel_codec_default();
    p->stream.dscp = 46; /* EF, as SfB and Teams mark audio */
    /* Microsoft's network targets (customer edge to Microsoft edge). */
    p->thresholds.loss_ratio_max = 0.01;
    p->thresholds.jitter_ms_max = 30;
    p->thresholds.rtt_ms_max = 100;
    p->thresholds.mos_min = 3.6;
    p->thresholds.burst_loss_ratio_max = 0.10; /* in any 200 ms */
    p->thresholds.reorder_ratio_max = 0.0005;
    return p;
}

void profile_free(Profile *p)
{
    if (!p)
        return;
    g_free(p->path);
    g_free(p->name);
    g_free(p->description);
    g_free(p->edge.host);
    g_ptr_array_unref(p->edge.expected_addresses);
    keyfile_secret_free(p->edge.secret);
    g_free(p->edge.username);
    keyfile_secret_free(p->edge.password);
    g_free(p->edge.tls_ca_file);
    g_free(p->edge.tls_pin_sha256);
    g_free(p->edge.tls_server_name);
    keyfile_secret_free(p->edge.mras_username);
    keyfile_secret_free(p->edge.mras_password);
    mras_answer_free(p->edge.mras);
    g_free(p->edge.mras_file);
    g_ptr_array_unref(p->network.internal_ranges);
    g_ptr_array_unref(p->network.vpn_ranges);
    g_strfreev(p->network.tunnel_names);
    g_strfreev(p->network.call_clients);
    g_ptr_array_unref(p->dns_names);
    g_ptr_array_unref(p->routes.bypass);
    g_free(p->routes.endpoints_file);
    g_free(p);
}

/* [ice] dialect and [edge] turn: either brings the other (libnice's ICE agent
 * speaks MS-TURN in its OC2007R2 compatibility only, and RFC 5766 in the others);
 * given both, they must agree. Then the credentials each dialect takes. */
static gboolean check_dialects(Profile *p, GKeyFile *kf, const char *display_path,
                               GError **error)
{
    gboolean has_dialect = g_key_file_has_key(kf, "ice", "dialect", NULL);
    gboolean has_turn = g_key_file_has_key(kf, "edge", "turn", NULL);
    if (has_dialect && has_turn && p->ice.ms_ice2 != p->edge.ms_turn) {
        Where w = {display_path, NULL, "edge", "turn"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "'%s' does not go with [ice] dialect = %s: the SfB client's ICE (ms-ice2) "
                  "allocates with MS-TURN, RFC 8445 with RFC 5766",
                  profile_turn_dialect(p), profile_ice_dialect(p));
        return FALSE;
    }
    if (has_turn)
        p->ice.ms_ice2 = p->edge.ms_turn;
    else
        p->edge.ms_turn = p->ice.ms_ice2;
    gboolean mras = p->edge.mras_username || p->edge.mras_password || p->edge.mras;
    if (mras && !p->edge.ms_turn) {
        Where w = {display_path, NULL, "edge",
                   p->edge.mras ? "mras_response_file" : "mras_username_file"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "MRAS credentials are for an SfB edge: set [edge] turn = ms-turn (or [ice] "
                  "dialect = ms-ice2), or give the RFC 5766 edge's secret_file");
        return FALSE;
    }
    if (p->edge.ms_turn && p->edge.secret) {
        Where w = {display_path, NULL, "edge", "secret_file"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "an MS-TURN edge takes MRAS credentials, not a TURN REST secret: give "
                  "mras_response_file, or mras_username_file and mras_password_file");
        return FALSE;
    }
    if (p->edge.mras && (p->edge.mras_username || p->edge.mras_password)) {
        Where w = {display_path, NULL, "edge", "mras_response_file"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "give either the MRAS answer or mras_username_file + mras_password_file, "
                  "not both");
        return FALSE;
    }
    if (p->edge.mras_issued_at && !p->edge.mras) {
        Where w = {display_path, NULL, "edge", "mras_issued_at"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "dates the MRAS answer: give mras_response_file too");
        return FALSE;
    }
    if (!p->edge.mras_username != !p->edge.mras_password) {
        Where w = {display_path, NULL, "edge",
                   p->edge.mras_username ? "mras_password_file" : "mras_username_file"};
        set_error(error, PROFILE_ERROR_MISSING, &w,
                  "MRAS credentials come in pairs: give mras_username_file and "
                  "mras_password_file");
        return FALSE;
    }
    /* MS-TURN's credentials are base64 strings, which libnice decodes: bad
     * base64 would silently key the HMAC with other bytes. */
    const struct {
        const char *key, *value;
    } b64[] = {{"mras_username_file", p->edge.mras_username},
               {"mras_password_file", p->edge.mras_password},
               {"username", p->edge.ms_turn ? p->edge.username : NULL},
               {"password_file", p->edge.ms_turn ? p->edge.password : NULL}};
    for (gsize i = 0; i < G_N_ELEMENTS(b64); i++) {
        if (b64[i].value && !mras_is_base64(b64[i].value)) {
            Where w = {display_path, NULL, "edge", b64[i].key};
            set_error(error, PROFILE_ERROR_VALUE, &w,
                      "not a base64 string: MS-TURN credentials are the base64 strings MRAS "
                      "hands out");
            return FALSE;
        }
    }
    if (mras && (p->edge.username || p->edge.password)) {
        Where w = {display_path, NULL, "edge", "username"};
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "give either the MRAS credentials or username + password_file, not both");
        return FALSE;
    }
    return TRUE;
}

static gboolean check_combinations(Profile *p, const char *display_path, gboolean need_credentials,
                                   GError **error)
{
    Where w = {display_path, NULL, "edge", "secret_file"};
    if (p->edge.secret && (p->edge.username || p->edge.password)) {
        set_error(error, PROFILE_ERROR_VALUE, &w,
                  "give either secret_file (TURN REST) or username + password_file, not both");
        return FALSE;
    }
    gboolean have_mras = p->edge.mras || p->edge.mras_username;
    if (need_credentials && !p->edge.secret && !(p->edge.username && p->edge.password) &&
        !have_mras) {
        set_error(error, PROFILE_ERROR_MISSING, &w,
                  p->edge.ms_turn
                      ? "MRAS credentials are missing: give mras_response_file, or "
                        "mras_username_file and mras_password_file"
                      : "TURN credentials are missing: give secret_file, or username and "
                        "password_file");
        return FALSE;
    }
    if (!p->edge.tls_server_name)
        p->edge.tls_server_name = g_strdup(p->edge.host);
    return TRUE;
}

static Profile *load_from_data(const char *data, gsize len, const char *base_dir,
                               const char *display_path, gboolean need_credentials, GError **error)
{
    g_return_val_if_fail(data || len == 0, NULL);
    const char *shown = display_path ? display_path : "<data>";
    if (len > PROFILE_MAX_BYTES) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_READ, "%s: larger than %d bytes", shown,
                    PROFILE_MAX_BYTES);
        return NULL;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) e = NULL;
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &e)) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_SYNTAX, "%s: not a profile: %s", shown,
                    e->message);
        return NULL;
    }

    g_autoptr(Profile) p = profile_new_defaults();
    p->path = g_strdup(shown);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (!find_spec(*g, NULL)) {
            g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_UNKNOWN,
                        "%s: unknown group [%s] (known: profile, edge, network, dns, routes, stream, "
                        "ice, thresholds)",
                        shown, *g);
            return NULL;
        }
        g_auto(GStrv) keys = g_key_file_get_keys(kf, *g, NULL, NULL);
        for (char **k = keys; k && *k; k++) {
            Where w = {shown, base_dir, *g, *k};
            const KeySpec *spec = find_spec(*g, *k);
            if (!spec) {
                set_error(error, PROFILE_ERROR_UNKNOWN, &w, "unknown key");
                return NULL;
            }
            g_autofree char *raw = g_key_file_get_value(kf, *g, *k, NULL);
            gsize cap = spec->parse == parse_routes ? PROFILE_MAX_ROUTES_STRING
                                                    : PROFILE_MAX_STRING;
            if (raw && strlen(raw) > cap) {
                set_error(error, PROFILE_ERROR_VALUE, &w, "longer than %zu characters", cap);
                return NULL;
            }
            g_autofree char *value = keyfile_strip_comment(raw ? raw : "");
            if (!spec->parse(&w, value, (char *)p + spec->offset, spec->min, spec->max, error))
                return NULL;
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
        if (specs[i].required && !g_key_file_has_key(kf, specs[i].group, specs[i].key, NULL)) {
            Where w = {shown, NULL, specs[i].group, specs[i].key};
            set_error(error, PROFILE_ERROR_MISSING, &w, "required key is missing");
            return NULL;
        }
    }
    /* A codec brings its packet shape, unless the profile gives its own. */
    if (g_key_file_has_key(kf, "stream", "codec", NULL)) {
        if (!g_key_file_has_key(kf, "stream", "ptime_ms", NULL))
            p->stream.ptime_ms = p->stream.codec->ptime_ms;
        if (!g_key_file_has_key(kf, "stream", "payload_bytes", NULL))
            p->stream.payload_bytes = p->stream.codec->payload_bytes;
    }
    p->network.call_clients_given = g_key_file_has_key(kf, "network", "call_clients", NULL);
    if (!check_dialects(p, kf, shown, error) ||
        !check_combinations(p, shown, need_credentials, error))
        return NULL;
    return g_steal_pointer(&p);
}

Profile *profile_load_from_data(const char *data, gsize len, const char *base_dir,
                                const char *display_path, GError **error)
{
    return load_from_data(data, len, base_dir, display_path, TRUE, error);
}

static Profile *load_file(const char *path, gboolean need_credentials, char **text, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    g_autoptr(GFile) f = g_file_new_for_path(path);
    g_autoptr(GFileInfo) info =
        g_file_query_info(f, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, NULL, &e);
    if (!info) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_READ, "%s: cannot read: %s", path,
                    e->message);
        return NULL;
    }
    if (g_file_info_get_size(info) > PROFILE_MAX_BYTES) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_READ, "%s: larger than %d bytes", path,
                    PROFILE_MAX_BYTES);
        return NULL;
    }
    if (!g_file_get_contents(path, &data, &len, &e)) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_READ, "%s: cannot read: %s", path,
                    e->message);
        return NULL;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    Profile *p = load_from_data(data, len, dir, path, need_credentials, error);
    if (p && text)
        *text = g_steal_pointer(&data);
    return p;
}

Profile *profile_load(const char *path, GError **error)
{
    g_return_val_if_fail(path, NULL);
    return load_file(path, TRUE, NULL, error);
}

Profile *profile_load_for_controller(const char *path, char **text, GError **error)
{
    g_return_val_if_fail(path, NULL);
    return load_file(path, FALSE, text, error);
}

Profile *profile_load_order(const char *text, gsize len, const char *ca_file, GError **error)
{
    g_return_val_if_fail(text, NULL);
    if (len > PROFILE_MAX_BYTES) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_READ, "order: profile larger than %d bytes",
                    PROFILE_MAX_BYTES);
        return NULL;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) e = NULL;
    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &e)) {
        g_set_error(error, PROFILE_ERROR, PROFILE_ERROR_SYNTAX, "order: not a profile: %s",
                    e->message);
        return NULL;
    }
    /* Files named by the controller's copy live on the controller: the TURN
     * credentials come with the order, the CA as the order's PEM. */
    static const char *const controller_side[] = {
        "secret_file",        "username",           "password_file",      "tls_ca_file",
        "mras_username_file", "mras_password_file", "mras_response_file", "mras_issued_at"};
    for (gsize i = 0; i < G_N_ELEMENTS(controller_side); i++)
        g_key_file_remove_key(kf, "edge", controller_side[i], NULL);
    /* the controller sends the document's prefixes inline (must_bypass) */
    g_key_file_remove_key(kf, "routes", "endpoints_file", NULL);
    if (ca_file)
        g_key_file_set_string(kf, "edge", "tls_ca_file", ca_file);
    gsize n = 0;
    g_autofree char *data = g_key_file_to_data(kf, &n, NULL);
    return load_from_data(data, n, "/", "order", FALSE, error);
}

const char *profile_ice_dialect(const Profile *p)
{
    return p->ice.ms_ice2 ? "ms-ice2" : "rfc8445";
}

const char *profile_turn_dialect(const Profile *p)
{
    return p->edge.ms_turn ? "ms-turn" : "rfc5766";
}

gint64 profile_mras_expires_at(const Profile *p, const char **dated_from)
{
    if (!p->edge.mras)
        return 0;
    gboolean given = p->edge.mras_issued_at != 0;
    if (dated_from)
        *dated_from = given ? "issued at mras_issued_at" : "counted from when the answer was saved";
    return mras_expires_at(p->edge.mras, given ? p->edge.mras_issued_at : p->edge.mras_saved_at);
}

gboolean profile_address_expected(GPtrArray *expected, GInetAddress *addr)
{
    g_return_val_if_fail(expected && addr, FALSE);
    gboolean family_listed = FALSE;
    for (guint i = 0; i < expected->len; i++) {
        if (g_inet_address_equal(expected->pdata[i], addr))
            return TRUE;
        family_listed |=
            g_inet_address_get_family(expected->pdata[i]) == g_inet_address_get_family(addr);
    }
    return !family_listed;
}

gboolean profile_in_ranges(GPtrArray *masks, GInetAddress *addr)
{
    g_return_val_if_fail(masks && addr, FALSE);
    for (guint i = 0; i < masks->len; i++) {
        GInetAddressMask *m = masks->pdata[i];
        if (g_inet_address_mask_get_family(m) == g_inet_address_get_family(addr) &&
            g_inet_address_mask_matches(m, addr))
            return TRUE;
    }
    return FALSE;
}

gboolean profile_tunnel_name_matches(const Profile *p, const char *ifname)
{
    g_return_val_if_fail(p && ifname, FALSE);
    for (char **pat = p->network.tunnel_names; pat && *pat; pat++) {
        if (g_pattern_match_simple(*pat, ifname))
            return TRUE;
    }
    return FALSE;
}
