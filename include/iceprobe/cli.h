/* Subcommand dispatch shared by the iceprobe and iceprobe-controller binaries. */
#pragma once

#include <glib.h>

/* Exit codes of every command (docs/contract.md: the monitoring-plugin convention). */
enum {
    CLI_EXIT_PASS = 0,
    CLI_EXIT_WARN = 1,
    CLI_EXIT_FAIL = 2,
    CLI_EXIT_ERROR = 3,
};

typedef struct {
    const char *name;
    const char *summary;
    /* argv[0] is the subcommand's name. Returns the process exit code. */
    int (*run)(int argc, char **argv);
} CliCommand;

/* Runs the subcommand named by argv[1] from a table ending in a NULL name.
 * Handles --help, --version and unknown commands (exit 3 with a message). */
int cli_dispatch(const char *prog, const char *summary, const CliCommand *commands, int argc,
                 char **argv);

/* Parses a subcommand's options with GOptionContext; on a bad option prints the
 * error and the usage hint to stderr and returns FALSE. */
gboolean cli_parse_options(const char *prog, const char *command, const char *summary,
                           const GOptionEntry *entries, int *argc, char ***argv);

/* A log line on standard error (descriptor 2, one write), "2026-12-07T12:00:00Z
 * WHO: message": the agent's log, and a Windows service's, which is a file. */
void cli_log(const char *who, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void cli_logv(const char *who, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);
/* cli_log's line, newline included, to write elsewhere. */
char *cli_log_line(const char *who, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* An error on standard error, the same way: "WHO: message". */
void cli_error(const char *who, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Where cli_log's and cli_error's lines go instead of descriptor 2: a Windows
 * service's log, which writes and rotates under one lock
 * (servicelog_windows.c). NULL: descriptor 2 again. Set while no other
 * thread logs. */
typedef void (*CliLogWriter)(const char *line, gsize len, gpointer data);
void cli_set_log_writer(CliLogWriter writer, gpointer data);
/* One line written to descriptor 2 with write(2), as cli_log does by default. */
void cli_write_fd2(const char *line, gsize len);
