/* Replays fuzz inputs without libFuzzer: each argument is a file or a directory
 * of files. Lets every build run the corpora as a regression test. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;
    if (!g_file_get_contents(path, &data, &len, &error)) {
        fprintf(stderr, "fuzz replay: %s\n", error->message);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            failed += run_file(argv[i]);
            n++;
            continue;
        }
        g_autoptr(GDir) d = g_dir_open(argv[i], 0, NULL);
        for (const char *name; d && (name = g_dir_read_name(d));) {
            g_autofree char *p = g_build_filename(argv[i], name, NULL);
            failed += run_file(p);
            n++;
        }
    }
    printf("fuzz replay: %d inputs, %d unreadable\n", n, failed);
    return failed ? 1 : 0;
}
