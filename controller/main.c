#include "iceprobe/cli.h"

static const CliCommand commands[] = {
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("iceprobe-controller", "schedules iceprobe tests and keeps their results",
                        commands, argc, argv);
}
