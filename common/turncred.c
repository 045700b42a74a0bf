#include "iceprobe/turncred.h"

#include "iceprobe/keyfile.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

gboolean turncred_make(const char *secret, const char *name, gint64 now_unix, guint ttl_s,
                       TurnCredentials *out)
{
    g_return_val_if_fail(secret && name && out, FALSE);
    memset(out, 0, sizeof(*out));
    out->username = g_strdup_printf("%" G_GINT64_FORMAT ":%s", now_unix + ttl_s, name);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)out->username,
              strlen(out->username), mac, &len)) {
        turncred_clear(out);
        return FALSE;
    }
    out->password = g_base64_encode(mac, len);
    return TRUE;
}

void turncred_clear(TurnCredentials *c)
{
    g_free(c->username);
    keyfile_secret_free(c->password);
    memset(c, 0, sizeof(*c));
}
