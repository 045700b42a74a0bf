/* iceprobe report [--junit PATH] FILE|-
 *
 * The human report of a result document (iceprobe.run/1), as `iceprobe run`
 * prints it: for a document from the controller's API (a paired run, both
 * sides) or one saved with --json. The exit code is the document's verdict. */
#include <stdio.h>

#include "iceprobe/cli.h"
#include "commands.h"
#include "run.h"
#include "terminal.h"

static char *read_all(const char *path, gsize *len, GError **error)
{
    if (g_strcmp0(path, "-") != 0) {
        char *data = NULL;
        return g_file_get_contents(path, &data, len, error) ? data : NULL;
    }
    GString *s = g_string_new(NULL);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        if (s->len + n > RESULT_MAX_JSON_BYTES) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSPC, "standard input: over %d bytes",
                        RESULT_MAX_JSON_BYTES);
            g_string_free(s, TRUE);
            return NULL;
        }
        g_string_append_len(s, buf, (gssize)n);
    }
    *len = s->len;
    return g_string_free(s, FALSE);
}

int cmd_report(int argc, char **argv)
{
    g_autofree char *junit_path = NULL;
    g_auto(GStrv) files = NULL;
    const GOptionEntry entries[] = {
        {"junit", 0, 0, G_OPTION_ARG_FILENAME, &junit_path, "also write JUnit XML to PATH", "PATH"},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE|-"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe", "report",
                           "the human report of a result document (iceprobe.run/1)", entries, &argc,
                           &argv))
        return CLI_EXIT_ERROR;
    if (!files || !files[0] || files[1]) {
        fprintf(stderr, "iceprobe report: give one document: a file, or - for standard input\n");
        return CLI_EXIT_ERROR;
    }
    g_autoptr(GError) e = NULL;
    gsize len = 0;
    g_autofree char *data = read_all(files[0], &len, &e);
    if (!data) {
        fprintf(stderr, "iceprobe report: %s\n", e->message);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(RunResult) r = run_result_from_json(data, len, &e);
    if (!r) {
        fprintf(stderr, "iceprobe report: %s: %s\n", files[0], e->message);
        return CLI_EXIT_ERROR;
    }
    g_autofree char *text = report_text(r, terminal_is(stdout));
    fputs(text, stdout);
    if (junit_path) {
        g_autofree char *xml = report_junit(r);
        if (!g_file_set_contents(junit_path, xml, -1, &e)) {
            fprintf(stderr, "iceprobe report: writing %s: %s\n", junit_path, e->message);
            return CLI_EXIT_ERROR;
        }
    }
    return verdict_exit_code(r->verdict);
}
