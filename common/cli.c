/* A main() is only a table of subcommands: this file turns argv into a call. */
#include "iceprobe/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <string.h>

#include "iceprobe-config.h"

static void print_usage(FILE *out, const char *prog, const char *summary,
                        const CliCommand *commands)
{
    fprintf(out, "%s %s: %s\n\nUsage: %s COMMAND [OPTIONS]\n\nCommands:\n", prog, ICEPROBE_VERSION,
            summary, prog);
    for (const CliCommand *c = commands; c->name; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
    fprintf(out, "\n  --help         this text (and COMMAND --help for a command's options)\n"
                 "  --version      print the version\n\n"
                 "Exit codes: 0 pass, 1 warn, 2 fail, 3 error.\n");
}

int cli_dispatch(const char *prog, const char *summary, const CliCommand *commands, int argc,
                 char **argv)
{
    g_return_val_if_fail(prog && commands && argv, CLI_EXIT_ERROR);

    if (argc < 2) {
        print_usage(stderr, prog, summary, commands);
        return CLI_EXIT_ERROR;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout, prog, summary, commands);
        return CLI_EXIT_PASS;
    }
    if (strcmp(name, "--version") == 0) {
        printf("%s %s\n", prog, ICEPROBE_VERSION);
        return CLI_EXIT_PASS;
    }
    for (const CliCommand *c = commands; c->name; c++) {
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command '%s' (try '%s --help')\n", prog, name, prog);
    return CLI_EXIT_ERROR;
}

gboolean cli_parse_options(const char *prog, const char *command, const char *summary,
                           const GOptionEntry *entries, int *argc, char ***argv)
{
    g_autofree char *param = g_strdup_printf("- %s", summary);
    g_autoptr(GOptionContext) ctx = g_option_context_new(param);
    g_autofree char *progname = g_strdup_printf("%s %s", prog, command);
    g_autoptr(GError) error = NULL;

    g_set_prgname(progname);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        fprintf(stderr, "%s: %s (try '%s --help')\n", progname, error->message, progname);
        return FALSE;
    }
    if (*argc > 1) {
        fprintf(stderr, "%s: unexpected argument '%s' (try '%s --help')\n", progname, (*argv)[1],
                progname);
        return FALSE;
    }
    return TRUE;
}

/* One write(2) per line, not stdio: a Windows service has no console, and its
 * C library's stderr stream stays closed even once descriptor 2 is the log
 * file (service_windows.c); the descriptor works on both platforms. */
void cli_write_fd2(const char *s, gsize n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static CliLogWriter log_writer;
static gpointer log_writer_data;

void cli_set_log_writer(CliLogWriter writer, gpointer data)
{
    log_writer = writer;
    log_writer_data = data;
}

static void write_stderr(const char *s)
{
    if (log_writer)
        log_writer(s, strlen(s), log_writer_data);
    else
        cli_write_fd2(s, strlen(s));
}

static char *log_line_v(const char *who, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);
static char *log_line_v(const char *who, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *t = g_date_time_format(now, "%FT%TZ");
    return g_strdup_printf("%s %s: %s\n", t, who, msg);
}

char *cli_log_line(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = log_line_v(who, fmt, ap);
    va_end(ap);
    return line;
}

void cli_logv(const char *who, const char *fmt, va_list ap)
{
    g_autofree char *line = log_line_v(who, fmt, ap);
    write_stderr(line);
}

void cli_log(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_logv(who, fmt, ap);
    va_end(ap);
}

void cli_error(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *line = g_strdup_printf("%s: %s\n", who, msg);
    write_stderr(line);
}
