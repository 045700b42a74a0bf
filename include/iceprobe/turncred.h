/* TURN REST API credentials (draft-uberti-behave-turn-rest): the username is
 * "<unix expiry>:<name>", the password base64(HMAC-SHA1(secret, username)).
 * coturn's --use-auth-secret and an edge's MRAS hand out the same. */
#pragma once

#include <glib.h>

typedef struct {
    char *username;
    char *password;
} TurnCredentials;

/* Credentials valid until now + ttl_s. */
gboolean turncred_make(const char *secret, const char *name, gint64 now_unix, guint ttl_s,
                       TurnCredentials *out);
void turncred_clear(TurnCredentials *c);
