/* What the profile and the controller's configuration share in reading their key
 * files: trailing comments, and secrets wiped before their memory is freed. */
#pragma once

#include <glib.h>

/* The value without a trailing comment, trimmed: a ';' or '#' that follows white
 * space starts one (lists separate items with a bare ';'). */
char *keyfile_strip_comment(const char *raw);
/* Zeroes a secret string, then frees it (NULL is fine). */
void keyfile_secret_free(char *s);
/* Zeroes n bytes at p (NULL is fine) in a way the compiler cannot drop: the one
 * wipe for a secret whose memory is not freed here (a buffer, a key array). */
void keyfile_wipe(void *p, gsize n);
/* A file named by a key, read whole when at most max bytes (larger ones are
 * refused before reading); *mtime (may be NULL) gets its modification time.
 * The error (G_IO_ERROR: MESSAGE_TOO_LARGE for the cap) names the file ("cannot read 'F': ..."
 * or "'F' is larger than N bytes"). */
char *keyfile_read_capped(const char *path, gsize max, gsize *len, gint64 *mtime, GError **error);
