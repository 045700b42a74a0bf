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
/* Room for white space around a secret in its file (a line ending, an indent). */
#define KEYFILE_SECRET_SPACE 64
/* The secret a small file holds (a token, a password): its text without the
 * white space around it, min_len to max_len bytes, none of them a control
 * character (so one line; spaces and UTF-8 inside are kept). A file over
 * max_len + KEYFILE_SECRET_SPACE bytes is refused before reading. Every copy of
 * the file's text is wiped, whatever the outcome; free the answer with
 * keyfile_secret_free. The error (G_IO_ERROR) names the file: FAILED "cannot
 * read 'F': ..."; MESSAGE_TOO_LARGE "'F' holds more than N bytes: too long to
 * be a secret"; INVALID_DATA "'F' holds a control character: not a secret",
 * "'F' is empty" or "'F' holds fewer than N characters: too short to be a secret". */
char *keyfile_read_secret(const char *path, gsize min_len, gsize max_len, GError **error);
/* TRUE when e says a file could not be read at all (not that its content was
 * refused): a keyfile_read_capped or keyfile_read_secret error. */
gboolean keyfile_error_is_unreadable(const GError *e);
