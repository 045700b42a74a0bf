#include "iceprobe/cli.h"

static const CliCommand commands[] = {
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("iceprobe", "synthetic ICE connectivity test probe", commands, argc, argv);
}
