/* libnice's debug lines, as icecapture.c routes them to each agent's record
 * (icelog.c): lines of any text, any length, in any order, with STUN error
 * codes between them; the parser keeps within its caps and what it kept stays
 * consistent. An input is lines, each "domain<TAB>message" as libnice logs
 * them (tests/unit/data/libnice-*.log) or a bare message. */
#include <stdint.h>
#include <string.h>

#include "icelog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const IceLog *l)
{
    g_assert(icelog_n_pairs(l) <= ICELOG_MAX_PAIRS);
    g_assert(icelog_n_items(l) <= ICELOG_MAX_ITEMS);
    g_assert(icelog_n_servers(l) <= ICELOG_MAX_SERVERS);
    for (guint i = 0; i < icelog_n_pairs(l); i++) {
        const IceLogPair *p = icelog_pair(l, i);
        g_assert(strlen(p->local_ip) < ICELOG_ADDR_LEN && strlen(p->remote_ip) < ICELOG_ADDR_LEN);
        g_assert(p->local_port <= 65535 && p->remote_port <= 65535);
        g_assert(p->state <= ICELOG_STATE_CANCELLED && p->why <= ICELOG_WHY_OTHER);
        g_assert(p->state == ICELOG_STATE_UNKNOWN || icelog_state_name(p->state));
    }
    for (guint i = 0; i < icelog_n_items(l); i++) {
        const IceLogItem *it = icelog_item(l, i);
        g_assert(it->server < (int)icelog_n_servers(l));
        g_assert(it->errors <= it->answers);
    }
    guint unknown;
    g_assert(icelog_lines(l, &unknown) >= unknown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    g_autofree char *text = g_strndup((const char *)data, size);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(IceLog) a0 = icelog_new();
    g_autoptr(IceLog) a1 = icelog_new();
    IceLog *agents[2] = {a0, a1};
    g_autoptr(IceLog) bare = icelog_new();
    guint code = 0;
    for (guint i = 0; lines[i]; i++) {
        const char *msg = lines[i];
        if (g_str_has_prefix(msg, "libnice-stun\t")) {
            if (!icelog_stun_error_code(msg + strlen("libnice-stun\t"), &code))
                code = 0;
            continue;
        }
        if (g_str_has_prefix(msg, "libnice\t"))
            msg += strlen("libnice\t");
        guint64 agent;
        const char *rest;
        if (icelog_agent_of(msg, &agent, &rest))
            icelog_feed(agents[agent & 1], rest, code);
        icelog_feed(bare, msg, code);
        code = 0;
    }
    for (int i = 0; i < 2; i++) {
        check(agents[i]);
        g_autoptr(IceLog) copy = icelog_copy(agents[i]);
        check(copy);
    }
    check(bare);
    return 0;
}
