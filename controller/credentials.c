#include "credentials.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "iceprobe/keyfile.h"

static char *hex(const guint8 *b, gsize n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = g_malloc(n * 2 + 1);
    for (gsize i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[n * 2] = '\0';
    return s;
}

char *credentials_new_token(void)
{
    guint8 raw[CREDENTIALS_TOKEN_CHARS / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return NULL;
    char *t = hex(raw, sizeof(raw));
    keyfile_wipe(raw, sizeof(raw));
    return t;
}

char *credentials_token_hash(const char *token)
{
    g_return_val_if_fail(token, NULL);
    guint8 md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL))
        return NULL;
    return hex(md, len);
}

gboolean credentials_token_equal(const char *a, const char *b)
{
    g_return_val_if_fail(a && b, FALSE);
    /* Compare digests, so the time depends on neither the content nor the length. */
    g_autofree char *ha = credentials_token_hash(a);
    g_autofree char *hb = credentials_token_hash(b);
    return ha && hb && CRYPTO_memcmp(ha, hb, strlen(ha)) == 0;
}
