/* The system's CAs, Linux side (ca.h): OpenSSL's default paths. */
#include "ca.h"

void ca_openssl_default(SSL_CTX *ctx)
{
    SSL_CTX_set_default_verify_paths(ctx);
}

void ca_curl_default(CURL *c)
{
}
