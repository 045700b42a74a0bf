/* The parsers of a Windows Firewall rule's strings (fwjudge.h): address lists
 * into spans of addresses, port lists into spans of ports, and whether spans
 * cover what the judge asks of them. Keywords the firewall resolves at run time
 * (LocalSubnet, RPC...) cover nothing here: the judge cannot know what they are. */
#include "fwjudge.h"

#include <stdlib.h>
#include <string.h>

static gboolean item_error(GError **error, const char *what, const char *item)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%.64s' is not %s", item, what);
    return FALSE;
}

/* A word the firewall resolves itself (LocalSubnet, DNS, RPC, IPHTTPS...). */
static gboolean is_keyword(const char *s)
{
    if (!g_ascii_isalpha(*s))
        return FALSE;
    for (const char *c = s; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean address_bytes(const char *s, guint8 out[16], guint8 *family)
{
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(s);
    if (!a)
        return FALSE;
    gsize n = g_inet_address_get_native_size(a);
    memset(out, 0, 16);
    memcpy(out, g_inet_address_to_bytes(a), n);
    *family = n == 4 ? 4 : 6;
    return TRUE;
}

static void add_everything(GArray *out)
{
    FwRange v4 = {.family = 4}, v6 = {.family = 6};
    memset(v4.hi, 0xff, 4);
    memset(v6.hi, 0xff, 16);
    g_array_append_val(out, v4);
    g_array_append_val(out, v6);
}

/* "a/prefix" or "a/mask" (a contiguous IPv4 mask, as Windows writes them). */
static gboolean parse_masked(const char *item, char *slash, FwRange *r, GError **error)
{
    *slash = '\0';
    const char *m = slash + 1;
    if (!address_bytes(item, r->lo, &r->family))
        return item_error(error, "an address", item);
    guint bits = r->family == 4 ? 32 : 128;
    guint prefix = 0;
    guint8 mask[16] = {0}, mfam = 0;
    if (*m && strspn(m, "0123456789") == strlen(m) && strlen(m) <= 3) {
        prefix = (guint)atoi(m);
        if (prefix > bits)
            return item_error(error, "a prefix length", m);
    } else if (address_bytes(m, mask, &mfam) && mfam == r->family) {
        gboolean ended = FALSE;
        for (guint i = 0; i < bits; i++) {
            gboolean set = mask[i / 8] & (0x80 >> (i % 8));
            if (set && ended)
                return item_error(error, "a contiguous mask", m);
            if (set)
                prefix++;
            else
                ended = TRUE;
        }
    } else {
        return item_error(error, "a mask or prefix length", m);
    }
    memcpy(r->hi, r->lo, 16);
    for (guint i = prefix; i < bits; i++) {
        r->lo[i / 8] &= (guint8) ~(0x80 >> (i % 8));
        r->hi[i / 8] |= (guint8)(0x80 >> (i % 8));
    }
    return TRUE;
}

static gboolean parse_address_item(char *item, GArray *out, GPtrArray *keywords, GError **error)
{
    FwRange r = {0};
    char *dash = strchr(item, '-'), *slash = strchr(item, '/');
    if (strcmp(item, "*") == 0) {
        add_everything(out);
        return TRUE;
    }
    if (is_keyword(item)) {
        if (keywords)
            g_ptr_array_add(keywords, g_strdup(item));
        return TRUE;
    }
    if (slash) {
        if (!parse_masked(item, slash, &r, error))
            return FALSE;
    } else if (dash) {
        *dash = '\0';
        guint8 fam2 = 0;
        if (!address_bytes(item, r.lo, &r.family) || !address_bytes(dash + 1, r.hi, &fam2) ||
            fam2 != r.family || memcmp(r.lo, r.hi, 16) > 0) {
            *dash = '-';
            return item_error(error, "an address range (low-high, one family)", item);
        }
    } else {
        if (!address_bytes(item, r.lo, &r.family))
            return item_error(error, "an address, range or keyword", item);
        memcpy(r.hi, r.lo, 16);
    }
    g_array_append_val(out, r);
    return TRUE;
}

/* The items of a comma-separated list, trimmed, at most FWJUDGE_MAX_ITEMS. */
static char **split_items(const char *s, GError **error)
{
    char **items = g_strsplit(s, ",", FWJUDGE_MAX_ITEMS + 1);
    if (g_strv_length(items) > FWJUDGE_MAX_ITEMS) {
        g_strfreev(items);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "more than %d items",
                    FWJUDGE_MAX_ITEMS);
        return NULL;
    }
    for (char **i = items; *i; i++)
        g_strstrip(*i);
    return items;
}

gboolean fwjudge_parse_addresses(const char *s, GArray *out, GPtrArray *keywords, GError **error)
{
    g_return_val_if_fail(out, FALSE);
    if (!s || !*s) {
        add_everything(out);
        return TRUE;
    }
    g_auto(GStrv) items = split_items(s, error);
    if (!items)
        return FALSE;
    for (char **i = items; *i; i++) {
        if (!**i)
            return item_error(error, "an address (an empty item)", *i);
        if (!parse_address_item(*i, out, keywords, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean port_number(const char *s, guint32 *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
        return FALSE;
    *out = (guint32)atoi(s);
    return *out <= 65535;
}

gboolean fwjudge_parse_ports(const char *s, GArray *out, GError **error)
{
    g_return_val_if_fail(out, FALSE);
    guint32 all[2] = {0, 65535};
    if (!s || !*s || strcmp(s, "*") == 0) {
        g_array_append_vals(out, all, 2);
        return TRUE;
    }
    g_auto(GStrv) items = split_items(s, error);
    if (!items)
        return FALSE;
    for (char **i = items; *i; i++) {
        guint32 span[2];
        char *dash = strchr(*i, '-');
        if (strcmp(*i, "*") == 0) {
            g_array_append_vals(out, all, 2);
        } else if (is_keyword(*i)) {
            continue; /* RPC, RPC-EPMap, IPHTTPS, Teredo...: not the media's ports */
        } else if (port_number(*i, &span[0])) {
            span[1] = span[0];
            g_array_append_vals(out, span, 2);
        } else if (dash && (*dash = '\0', port_number(*i, &span[0])) &&
                   port_number(dash + 1, &span[1]) && span[0] <= span[1]) {
            g_array_append_vals(out, span, 2);
        } else {
            if (dash)
                *dash = '-';
            return item_error(error, "a port, port range or keyword", *i);
        }
    }
    return TRUE;
}

static gint range_cmp(gconstpointer a, gconstpointer b)
{
    const FwRange *x = a, *y = b;
    if (x->family != y->family)
        return x->family - y->family;
    return memcmp(x->lo, y->lo, 16);
}

/* *next = hi + 1 within the family; FALSE when hi is the family's last address. */
static gboolean successor(const FwRange *r, guint8 next[16])
{
    guint n = r->family == 4 ? 4 : 16;
    memcpy(next, r->hi, 16);
    for (int i = (int)n - 1; i >= 0; i--) {
        if (++next[i] != 0)
            return TRUE;
    }
    return FALSE;
}

gboolean fwjudge_ranges_cover(GArray *ranges, const FwRange *want)
{
    g_return_val_if_fail(ranges && want, FALSE);
    g_autoptr(GArray) mine = g_array_new(FALSE, FALSE, sizeof(FwRange));
    for (guint i = 0; i < ranges->len; i++) {
        const FwRange *r = &g_array_index(ranges, FwRange, i);
        if (r->family == want->family)
            g_array_append_val(mine, *r);
    }
    g_array_sort(mine, range_cmp);
    /* Walk up from want->lo: each range that starts at or below the next
     * address still to cover carries it on. */
    guint8 need[16];
    memcpy(need, want->lo, 16);
    for (guint i = 0; i < mine->len; i++) {
        const FwRange *r = &g_array_index(mine, FwRange, i);
        if (memcmp(r->lo, need, 16) > 0)
            return FALSE; /* a gap before this range */
        if (memcmp(r->hi, need, 16) < 0)
            continue;
        if (memcmp(r->hi, want->hi, 16) >= 0)
            return TRUE;
        if (!successor(r, need))
            return TRUE;
    }
    return FALSE;
}

static gint u64_cmp(gconstpointer a, gconstpointer b)
{
    guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;
    return x < y ? -1 : x > y;
}

gboolean fwjudge_ports_cover(GArray *spans, guint32 lo, guint32 hi)
{
    g_autoptr(GArray) sorted = g_array_new(FALSE, FALSE, sizeof(guint64));
    for (guint i = 0; i + 1 < spans->len; i += 2) {
        guint64 v =
            (guint64)g_array_index(spans, guint32, i) << 32 | g_array_index(spans, guint32, i + 1);
        g_array_append_val(sorted, v);
    }
    g_array_sort(sorted, u64_cmp);
    guint32 need = lo;
    for (guint i = 0; i < sorted->len; i++) {
        guint64 v = g_array_index(sorted, guint64, i);
        guint32 from = (guint32)(v >> 32), to = (guint32)v;
        if (from > need)
            return FALSE;
        if (to < need)
            continue;
        if (to >= hi)
            return TRUE;
        need = to + 1;
    }
    return FALSE;
}
