/* iceprobe run --profile FILE [--json PATH|-] [--junit PATH] [--duration SECONDS]
 *              [--controller URL --token-file FILE --peer NAME [--ca-file FILE]] */
#include <stdio.h>

#include "iceprobe/cli.h"
#include "commands.h"
#include "run.h"
#include "terminal.h"

static gboolean write_out(const char *path, const char *text, GError **error)
{
    if (g_strcmp0(path, "-") == 0) {
        fputs(text, stdout);
        fflush(stdout);
        return TRUE;
    }
    return g_file_set_contents(path, text, -1, error);
}

int cmd_run(int argc, char **argv)
{
    g_autofree char *profile_path = NULL, *json_path = NULL, *junit_path = NULL;
    g_autofree char *controller = NULL, *token_file = NULL, *peer = NULL, *ca_file = NULL;
    int duration = 0;
    g_autofree char *paths = NULL;
    const GOptionEntry entries[] = {
        {"profile", 0, 0, G_OPTION_ARG_FILENAME, &profile_path, "the test profile (required)",
         "FILE"},
        {"json", 0, 0, G_OPTION_ARG_FILENAME, &json_path,
         "write the result document (iceprobe.run/1) to PATH, or - for standard output", "PATH"},
        {"junit", 0, 0, G_OPTION_ARG_FILENAME, &junit_path, "write JUnit XML to PATH", "PATH"},
        {"duration", 0, 0, G_OPTION_ARG_INT, &duration,
         "stream length per path in seconds (default: the profile's)", "SECONDS"},
        {"paths", 0, 0, G_OPTION_ARG_STRING, &paths,
         "run only these relay-loop paths (natural, relay-udp, relay-tcp, relay-tls, "
         "tunnel-only), comma-separated",
         "NAME[,NAME]"},
        {"controller", 0, 0, G_OPTION_ARG_STRING, &controller,
         "a paired run through this controller (with --token-file and --peer)", "URL"},
        {"token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
         "this host's agent token (from iceprobe-controller agent-add)", "FILE"},
        {"peer", 0, 0, G_OPTION_ARG_STRING, &peer, "the agent to run against", "NAME"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
         "verify the controller against these CAs (default: the system's)", "FILE"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe", "run", "an ad-hoc run: local checks and the relay loop",
                           entries, &argc, &argv))
        return CLI_EXIT_ERROR;
    if (!profile_path) {
        fprintf(stderr, "iceprobe run: --profile FILE is required (try 'iceprobe run --help')\n");
        return CLI_EXIT_ERROR;
    }
    if (duration < 0 || duration > 3600) {
        fprintf(stderr, "iceprobe run: --duration %d is out of range (1-3600)\n", duration);
        return CLI_EXIT_ERROR;
    }
    if (controller || token_file || peer) {
        if (!controller || !token_file || !peer) {
            fprintf(stderr, "iceprobe run: a paired run needs --controller, --token-file and "
                            "--peer together\n");
            return CLI_EXIT_ERROR;
        }
        if (duration || paths) {
            fprintf(stderr, "iceprobe run: --duration and --paths do not apply to a paired run "
                            "(the controller's order sets them)\n");
            return CLI_EXIT_ERROR;
        }
        PeerRunOptions o = {profile_path, controller, token_file, peer,
                            ca_file,      json_path,  junit_path};
        return run_with_peer(&o);
    }
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) only = paths ? g_strsplit(paths, ",", -1) : NULL;
    for (char **p = only; p && *p; p++)
        g_strstrip(*p);
    if (!run_paths_valid((const char *const *)only, &error)) {
        fprintf(stderr, "iceprobe run: --paths: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(Profile) profile = profile_load(profile_path, &error);
    if (!profile) {
        fprintf(stderr, "iceprobe run: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    RunOptions opts = {.duration_s = (guint)duration, .paths = (const char *const *)only};
    g_autoptr(RunResult) result = run_execute(profile, &opts);

    /* With --json -, the document owns standard output and the report goes to stderr. */
    gboolean json_stdout = g_strcmp0(json_path, "-") == 0;
    FILE *human = json_stdout ? stderr : stdout;
    g_autofree char *text = report_text(result, terminal_is(human));
    fputs(text, human);
    fflush(human);
    if (json_path) {
        g_autoptr(JsonNode) root = run_result_to_json(result);
        g_autofree char *doc = json_to_string(root, TRUE);
        g_autofree char *line = g_strconcat(doc, "\n", NULL);
        if (!write_out(json_path, line, &error)) {
            fprintf(stderr, "iceprobe run: writing %s: %s\n", json_path, error->message);
            return CLI_EXIT_ERROR;
        }
    }
    if (junit_path) {
        g_autofree char *xml = report_junit(result);
        if (!write_out(junit_path, xml, &error)) {
            fprintf(stderr, "iceprobe run: writing %s: %s\n", junit_path, error->message);
            return CLI_EXIT_ERROR;
        }
    }
    return verdict_exit_code(result->verdict);
}
