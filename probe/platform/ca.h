/* The system's trusted certificate authorities, where no CA file is named (the
 * edge's TLS relay, the controller's HTTPS): Linux keeps them where OpenSSL
 * looks by default (/etc/ssl/certs); Windows in its certificate store, which
 * OpenSSL does not read (its default directory, compiled in as
 * C:/Program Files/Common Files/SSL, is empty on a Windows machine). */
#pragma once

#include <curl/curl.h>
#include <openssl/ssl.h>

/* ctx trusts the system's CAs. */
void ca_openssl_default(SSL_CTX *ctx);
/* The libcurl handle trusts the system's CAs (Windows: CURLSSLOPT_NATIVE_CA,
 * the Windows store, libcurl >= 7.71 with OpenSSL); nothing on Linux, where
 * libcurl's OpenSSL finds them. */
void ca_curl_default(CURL *c);
