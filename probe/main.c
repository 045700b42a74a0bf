#include "iceprobe/cli.h"
#include "commands.h"
#include "sock.h"

static const CliCommand commands[] = {
    {"interfaces", "local interfaces and their class (physical, tunnel, loopback, virtual)",
     cmd_interfaces},
    {"run", "an ad-hoc run: local checks, then the relay loop through the edge", cmd_run},
    {"report", "the human report of a result document (a file, or - for standard input)",
     cmd_report},
    {"agent", "the long-running agent: takes orders from a controller, runs paired tests",
     cmd_agent},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    /* A connection the edge or the controller closed must be an error of the
     * write (EPIPE), never the end of the process (sock.h). */
    psock_init();
    return cli_dispatch("iceprobe", "synthetic ICE connectivity test probe", commands, argc, argv);
}
