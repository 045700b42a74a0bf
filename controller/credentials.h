/* Secrets of the controller: agent tokens (256 random bits, only their SHA-256
 * is stored) and constant-time comparison. (Each run's TURN credentials come from
 * common/turncred.c, named after the run, in scheduler.c.) */
#pragma once

#include "iceprobe/turncred.h"

#define CREDENTIALS_TOKEN_CHARS 64 /* hex of 32 random bytes */

/* A fresh agent token from OpenSSL's RAND_bytes; NULL if the generator failed. */
char *credentials_new_token(void);
/* SHA-256 of a token, as lower-case hex. */
char *credentials_token_hash(const char *token);
/* Whether two tokens are equal, in time that does not depend on where they differ. */
gboolean credentials_token_equal(const char *a, const char *b);
