/* What the profile and the controller's configuration share in reading their key
 * files: trailing comments, and secrets wiped before their memory is freed. */
#pragma once

#include <glib.h>

/* The value without a trailing comment, trimmed: a ';' or '#' that follows white
 * space starts one (lists separate items with a bare ';'). */
char *keyfile_strip_comment(const char *raw);
/* Zeroes a secret string, then frees it (NULL is fine). */
void keyfile_secret_free(char *s);
