#include "run.h"

#include "run-private.h"

static gboolean make_credentials(RunCtx *c)
{
    const Profile *p = c->profile;
    if (p->edge.secret)
        return turncred_make(p->edge.secret, "iceprobe", g_get_real_time() / G_USEC_PER_SEC,
                             p->edge.credential_ttl_s, &c->cred);
    c->cred.username = g_strdup(p->edge.username);
    c->cred.password = g_strdup(p->edge.password);
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
    if (!make_credentials(&c)) {
        c.result->error = g_strdup("cannot compute TURN credentials");
    } else {
        const char *why = checks_all(&c);
        if (!why)
            relay_loop_run(&c);
        else if (!c.inv)
            c.result->error = g_strdup(why);
    }
    run_result_conclude(c.result);
    RunResult *r = c.result;
    run_ctx_clear(&c);
    return r;
}
