#include "iceprobe/keyfile.h"

#include <openssl/crypto.h>

#include <string.h>

char *keyfile_strip_comment(const char *raw)
{
    char *v = g_strdup(raw ? raw : "");
    for (char *c = v; *c; c++) {
        if ((*c == ';' || *c == '#') && c > v && g_ascii_isspace(c[-1])) {
            *c = '\0';
            break;
        }
    }
    return g_strstrip(v);
}

void keyfile_secret_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    g_free(s);
}
