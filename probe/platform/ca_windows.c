/* The system's CAs, Windows side (ca.h): the ROOT store of the machine and the
 * user (CertOpenSystemStoreW), each certificate added to OpenSSL's store; for
 * libcurl its own CURLSSLOPT_NATIVE_CA does the same. */
#include "ca.h"

#include <windows.h>
#include <wincrypt.h>

void ca_openssl_default(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    HCERTSTORE sys = CertOpenSystemStoreW(0, L"ROOT");
    if (!sys)
        return;
    const CERT_CONTEXT *cc = NULL;
    while ((cc = CertEnumCertificatesInStore(sys, cc))) {
        const unsigned char *der = cc->pbCertEncoded;
        X509 *x = d2i_X509(NULL, &der, (long)cc->cbCertEncoded);
        if (x) {
            X509_STORE_add_cert(store, x); /* a duplicate is refused, harmlessly */
            X509_free(x);
        }
    }
    CertCloseStore(sys, 0);
}

void ca_curl_default(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NATIVE_CA);
}
