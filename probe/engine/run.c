#include "run.h"

#include "run-private.h"

/* The TURN credentials the profile gives: TURN REST from the secret, MRAS (the
 * answer's, refused once expired, or the files'), or a static pair. */
static gboolean make_credentials(RunCtx *c, char **why)
{
    const Profile *p = c->profile;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    if (p->edge.secret) {
        if (turncred_make(p->edge.secret, "iceprobe", now, p->edge.credential_ttl_s, &c->cred))
            return TRUE;
        *why = g_strdup("cannot compute TURN credentials");
        return FALSE;
    }
    if (p->edge.mras) {
        const char *from = NULL;
        gint64 expires = profile_mras_expires_at(p, &from);
        g_autoptr(GError) e = NULL;
        if (!mras_check_fresh(expires, now, from, &e)) {
            *why = g_strdup_printf("%s: %s", p->edge.mras_file, e->message);
            return FALSE;
        }
        c->cred.username = g_strdup(p->edge.mras->username);
        c->cred.password = g_strdup(p->edge.mras->password);
        return TRUE;
    }
    c->cred.username = g_strdup(p->edge.mras_username ? p->edge.mras_username : p->edge.username);
    c->cred.password = g_strdup(p->edge.mras_password ? p->edge.mras_password : p->edge.password);
    return TRUE;
}

void run_ctx_clear(RunCtx *c)
{
    netif_inventory_free(c->inv);
    c->inv = NULL;
    if (c->edge_addrs)
        g_ptr_array_unref(c->edge_addrs);
    c->edge_addrs = NULL;
    g_clear_pointer(&c->edge_ip, g_free);
    turncred_clear(&c->cred);
    tls_peer_info_clear(&c->tls);
}

RunResult *run_execute(const Profile *profile, const RunOptions *opts)
{
    g_return_val_if_fail(profile && opts, NULL);
    RunCtx c = {
        .profile = profile,
        .result = run_result_new(profile->name),
        .stream_duration_s = opts->duration_s ? opts->duration_s : profile->stream.duration_s,
        .only_paths = opts->paths,
    };
    run_result_set_dialect(c.result, profile);
    /* Before any check: nothing runs on credentials known to be refused. */
    if (make_credentials(&c, &c.result->error)) {
        const char *why = checks_all(&c);
        if (!why)
            relay_loop_run(&c);
        else if (!c.inv)
            c.result->error = g_strdup(why);
        policy_judge_firewall(c.result);
    }
    run_result_conclude(c.result);
    RunResult *r = c.result;
    run_ctx_clear(&c);
    return r;
}
