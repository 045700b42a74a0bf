#include "commands.h"
#include "iceprobe/cli.h"

static const CliCommand commands[] = {
    {"serve", "run the controller (HTTP API, scheduler, /metrics, status page)", cmd_serve},
    {"agent-add", "register an agent; prints its token once", cmd_agent_add},
    {"agent-list", "list the registered agents", cmd_agent_list},
    {"agent-remove", "remove an agent and revoke its token", cmd_agent_remove},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("iceprobe-controller", "schedules iceprobe tests and keeps their results",
                        commands, argc, argv);
}
