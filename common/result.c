/* The run result and its JSON document, schema iceprobe.run/1. */
#include "iceprobe/result.h"

#include <string.h>

const char *verdict_to_string(Verdict v)
{
    static const char *const names[] = {"pass", "warn", "fail", "error", "skip"};
    return (guint)v < G_N_ELEMENTS(names) ? names[v] : "error";
}

gboolean verdict_from_string(const char *s, Verdict *out)
{
    for (Verdict v = VERDICT_PASS; v <= VERDICT_SKIP; v++) {
        if (s && strcmp(s, verdict_to_string(v)) == 0) {
            *out = v;
            return TRUE;
        }
    }
    return FALSE;
}

int verdict_name_exit_code(const char *name)
{
    Verdict v;
    return name && verdict_from_string(name, &v) ? verdict_exit_code(v)
                                                 : verdict_exit_code(VERDICT_ERROR);
}

Verdict verdict_worst(Verdict a, Verdict b)
{
    if (a == VERDICT_SKIP)
        a = VERDICT_PASS;
    if (b == VERDICT_SKIP)
        b = VERDICT_PASS;
    return MAX(a, b);
}

int verdict_exit_code(Verdict v)
{
    static const int codes[] = {0, 1, 2, 3, 0};
    return (guint)v < G_N_ELEMENTS(codes) ? codes[v] : 3;
}

static void finding_free(gpointer p)
{
    Finding *f = p;
    g_free(f->code);
    g_free(f->message);
    if (f->evidence)
        json_object_unref(f->evidence);
    g_free(f);
}

static void check_free(gpointer p)
{
    CheckRecord *c = p;
    g_free(c->name);
    g_free(c->reason);
    if (c->detail)
        json_object_unref(c->detail);
    g_free(c);
}

void candidate_info_clear(CandidateInfo *c)
{
    g_free(c->type);
    g_free(c->transport);
    g_free(c->address);
    g_free(c->base_address);
    g_free(c->interface);
    g_free(c->interface_class);
    g_free(c->egress_interface);
    g_free(c->egress_class);
    g_free(c->relay_transport);
    memset(c, 0, sizeof(*c));
}

static void candidate_info_copy(CandidateInfo *dst, const CandidateInfo *src)
{
    dst->type = g_strdup(src->type);
    dst->transport = g_strdup(src->transport);
    dst->address = g_strdup(src->address);
    dst->base_address = g_strdup(src->base_address);
    dst->interface = g_strdup(src->interface);
    dst->interface_class = g_strdup(src->interface_class);
    dst->egress_interface = g_strdup(src->egress_interface);
    dst->egress_class = g_strdup(src->egress_class);
    dst->relay_transport = g_strdup(src->relay_transport);
}

CandidateInfo *candidate_info_new(void)
{
    return g_new0(CandidateInfo, 1);
}

CandidateInfo *candidate_info_dup(const CandidateInfo *c)
{
    CandidateInfo *d = candidate_info_new();
    candidate_info_copy(d, c);
    return d;
}

void candidate_info_free(CandidateInfo *c)
{
    if (!c)
        return;
    candidate_info_clear(c);
    g_free(c);
}

char *candidate_info_label(const CandidateInfo *c)
{
    return g_strdup_printf("%s %s/%s", c->type ? c->type : "?", c->address ? c->address : "?",
                           c->transport ? c->transport : "?");
}

gboolean ice_pair_state_known(const char *state)
{
    static const char *const states[] = {"succeeded",   "failed",    "frozen",    "waiting",
                                         "in-progress", "cancelled", "discovered"};
    for (gsize i = 0; state && i < G_N_ELEMENTS(states); i++)
        if (strcmp(state, states[i]) == 0)
            return TRUE;
    return FALSE;
}

void ice_pair_free(IcePair *p)
{
    if (!p)
        return;
    g_free(p->local);
    g_free(p->remote);
    g_free(p->state);
    g_free(p->why);
    g_free(p);
}

void ice_given_up_free(IceGivenUp *g)
{
    if (!g)
        return;
    g_free(g->transport);
    g_free(g->what);
    g_free(g->why);
    g_free(g);
}

IceRecord *ice_record_new(void)
{
    IceRecord *r = g_new0(IceRecord, 1);
    r->local = g_ptr_array_new_with_free_func((GDestroyNotify)candidate_info_free);
    r->remote = g_ptr_array_new_with_free_func((GDestroyNotify)candidate_info_free);
    r->pairs = g_ptr_array_new_with_free_func((GDestroyNotify)ice_pair_free);
    r->given_up = g_ptr_array_new_with_free_func((GDestroyNotify)ice_given_up_free);
    return r;
}

void ice_record_free(IceRecord *r)
{
    if (!r)
        return;
    g_ptr_array_unref(r->local);
    g_ptr_array_unref(r->remote);
    g_ptr_array_unref(r->pairs);
    g_ptr_array_unref(r->given_up);
    g_free(r);
}

static void candidates_copy(GPtrArray *dst, const GPtrArray *src)
{
    for (guint i = 0; i < src->len; i++)
        g_ptr_array_add(dst, candidate_info_dup(src->pdata[i]));
}

IceRecord *ice_record_copy(const IceRecord *r)
{
    IceRecord *c = ice_record_new();
    candidates_copy(c->local, r->local);
    candidates_copy(c->remote, r->remote);
    for (guint i = 0; i < r->pairs->len; i++) {
        const IcePair *p = r->pairs->pdata[i];
        IcePair *q = g_new0(IcePair, 1);
        q->local = g_strdup(p->local);
        q->remote = g_strdup(p->remote);
        q->state = g_strdup(p->state);
        q->nominated = p->nominated;
        q->why = g_strdup(p->why);
        g_ptr_array_add(c->pairs, q);
    }
    c->pairs_omitted = r->pairs_omitted;
    for (guint i = 0; i < r->given_up->len; i++) {
        const IceGivenUp *g = r->given_up->pdata[i];
        IceGivenUp *h = g_new0(IceGivenUp, 1);
        h->transport = g_strdup(g->transport);
        h->what = g_strdup(g->what);
        h->why = g_strdup(g->why);
        g_ptr_array_add(c->given_up, h);
    }
    return c;
}

void pair_change_free(PairChange *c)
{
    if (!c)
        return;
    g_free(c->local);
    g_free(c->local_interface);
    g_free(c->remote);
    g_free(c);
}

static PairChange *pair_change_copy(const PairChange *c)
{
    PairChange *d = g_memdup2(c, sizeof(*c));
    d->local = g_strdup(c->local);
    d->local_interface = g_strdup(c->local_interface);
    d->remote = g_strdup(c->remote);
    return d;
}

static const char *const conn_counter_names[] = {
    [CONN_COUNTER_TCP_INFO] = "TCP_INFO",
    [CONN_COUNTER_ESTATS] = "GetPerTcpConnectionEStats",
    [CONN_COUNTER_SIO_TCP_INFO] = "SIO_TCP_INFO",
};

const char *conn_counter_name(ConnCounter c)
{
    return (guint)c < G_N_ELEMENTS(conn_counter_names) ? conn_counter_names[c] : NULL;
}

gboolean conn_counter_parse(const char *name, ConnCounter *c)
{
    for (guint i = 0; name && i < G_N_ELEMENTS(conn_counter_names); i++)
        if (conn_counter_names[i] && strcmp(conn_counter_names[i], name) == 0) {
            *c = (ConnCounter)i;
            return TRUE;
        }
    return FALSE;
}

gboolean conn_counter_bytes(ConnCounter c)
{
    return c == CONN_COUNTER_SIO_TCP_INFO;
}

GInetAddress *candidate_inet_address(const char *ip_port)
{
    if (!ip_port)
        return NULL;
    g_autoptr(GSocketConnectable) n = g_network_address_parse(ip_port, 0, NULL);
    const char *host = n ? g_network_address_get_hostname(G_NETWORK_ADDRESS(n)) : NULL;
    return host ? g_inet_address_new_from_string(host) : NULL;
}

PathRecord *path_record_new(const char *name)
{
    PathRecord *p = g_new0(PathRecord, 1);
    p->name = g_strdup(name);
    p->verdict = VERDICT_PASS;
    p->connected_ms = p->ready_ms = -1;
    p->pair_changes = g_ptr_array_new_with_free_func((GDestroyNotify)pair_change_free);
    return p;
}

void path_record_free(PathRecord *r)
{
    if (!r)
        return;
    g_free(r->name);
    g_free(r->reason);
    candidate_info_clear(&r->local);
    candidate_info_clear(&r->remote);
    g_free(r->tunnel_interface);
    g_free(r->nomination);
    g_free(r->pair_final);
    g_ptr_array_unref(r->pair_changes);
    ice_record_free(r->ice_record);
    path_record_free(r->sides[0]);
    path_record_free(r->sides[1]);
    g_free(r);
}

PathRecord *path_record_copy(const PathRecord *p)
{
    PathRecord *c = g_memdup2(p, sizeof(*p));
    c->name = g_strdup(p->name);
    c->reason = g_strdup(p->reason);
    candidate_info_copy(&c->local, &p->local);
    candidate_info_copy(&c->remote, &p->remote);
    c->tunnel_interface = g_strdup(p->tunnel_interface);
    c->nomination = g_strdup(p->nomination);
    c->pair_final = g_strdup(p->pair_final);
    c->pair_changes = g_ptr_array_new_with_free_func((GDestroyNotify)pair_change_free);
    for (guint i = 0; i < p->pair_changes->len; i++)
        g_ptr_array_add(c->pair_changes, pair_change_copy(p->pair_changes->pdata[i]));
    c->ice_record = p->ice_record ? ice_record_copy(p->ice_record) : NULL;
    for (int i = 0; i < 2; i++)
        c->sides[i] = p->sides[i] ? path_record_copy(p->sides[i]) : NULL;
    return c;
}

static void path_free(gpointer p)
{
    path_record_free(p);
}

RunResult *run_result_new(const char *profile_name)
{
    RunResult *r = g_new0(RunResult, 1);
    r->run_id = g_uuid_string_random();
    r->profile = g_strdup(profile_name ? profile_name : "");
    r->started_at = g_date_time_new_now_utc();
    r->findings = g_ptr_array_new_with_free_func(finding_free);
    r->checks = g_ptr_array_new_with_free_func(check_free);
    r->paths = g_ptr_array_new_with_free_func(path_free);
    r->probes = json_array_new();
    return r;
}

void run_result_free(RunResult *r)
{
    if (!r)
        return;
    g_free(r->run_id);
    g_free(r->profile);
    g_date_time_unref(r->started_at);
    g_free(r->error);
    g_free(r->ice_dialect);
    g_free(r->turn_dialect);
    g_ptr_array_unref(r->findings);
    g_ptr_array_unref(r->checks);
    g_ptr_array_unref(r->paths);
    json_array_unref(r->probes);
    g_free(r);
}

CheckRecord *run_result_add_check(RunResult *r, const char *name, Verdict v, const char *fmt, ...)
{
    g_return_val_if_fail(r && name && fmt, NULL);
    va_list ap;
    va_start(ap, fmt);
    CheckRecord *c = g_new0(CheckRecord, 1);
    c->name = g_strdup(name);
    c->verdict = v;
    c->reason = g_strdup_vprintf(fmt, ap);
    c->detail = json_object_new();
    va_end(ap);
    g_ptr_array_add(r->checks, c);
    return c;
}

PathRecord *run_result_add_path(RunResult *r, const char *name)
{
    g_return_val_if_fail(r && name, NULL);
    PathRecord *p = path_record_new(name);
    g_ptr_array_add(r->paths, p);
    return p;
}

const CheckRecord *run_result_find_check(const RunResult *r, const char *name)
{
    for (guint i = 0; i < r->checks->len; i++) {
        const CheckRecord *c = r->checks->pdata[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const PathRecord *run_result_find_path(const RunResult *r, const char *name)
{
    for (guint i = 0; i < r->paths->len; i++) {
        const PathRecord *p = r->paths->pdata[i];
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

gboolean run_result_has_finding(const RunResult *r, const char *code)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        if (strcmp(f->code, code) == 0)
            return TRUE;
    }
    return FALSE;
}

static Finding *add_finding(RunResult *r, const char *code, const char *cause, JsonObject *evidence,
                            const char *fmt, va_list ap) G_GNUC_PRINTF(5, 0);

static Finding *add_finding(RunResult *r, const char *code, const char *cause, JsonObject *evidence,
                            const char *fmt, va_list ap)
{
    const FindingSpec *spec = finding_spec_lookup(code);
    g_return_val_if_fail(spec, NULL);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    const char *remedy = finding_cause_remedy(code, cause);
    Finding *f = g_new0(Finding, 1);
    f->code = g_strdup(code);
    f->severity = spec->severity;
    f->message = g_strdup_printf("%s %s", what, remedy ? remedy : spec->remedy);
    f->evidence = evidence ? evidence : json_object_new();
    if (remedy)
        json_object_set_string_member(f->evidence, "cause", cause);
    g_ptr_array_add(r->findings, f);
    return f;
}

Finding *run_result_add_finding(RunResult *r, const char *code, JsonObject *evidence,
                                const char *fmt, ...)
{
    g_return_val_if_fail(r && code && fmt, NULL);
    va_list ap;
    va_start(ap, fmt);
    Finding *f = add_finding(r, code, NULL, evidence, fmt, ap);
    va_end(ap);
    return f;
}

Finding *run_result_add_finding_cause(RunResult *r, const char *code, const char *cause,
                                      JsonObject *evidence, const char *fmt, ...)
{
    g_return_val_if_fail(r && code && fmt, NULL);
    va_list ap;
    va_start(ap, fmt);
    Finding *f = add_finding(r, code, cause, evidence, fmt, ap);
    va_end(ap);
    return f;
}

void run_result_conclude(RunResult *r)
{
    Verdict v = VERDICT_PASS;
    for (guint i = 0; i < r->findings->len; i++)
        v = verdict_worst(v, ((Finding *)r->findings->pdata[i])->severity);
    if (r->error)
        v = VERDICT_ERROR;
    r->verdict = v;
}

void run_result_set_dialect(RunResult *r, const Profile *p)
{
    g_free(r->ice_dialect);
    g_free(r->turn_dialect);
    r->ice_dialect = g_strdup(profile_ice_dialect(p));
    r->turn_dialect = g_strdup(profile_turn_dialect(p));
}
