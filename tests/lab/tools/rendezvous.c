/* rendezvous: the lab's WebRTC signalling server (libsoup 3).
 *
 *   rendezvous ADDR PORT PAGE_FILE SECONDS
 *
 * Serves PAGE_FILE at GET / and a set of named boxes:
 *   POST /box/NAME    stores the request body (at most 64 KiB; at most 64 boxes)
 *   GET /box/NAME     returns it, or 404 while there is none
 *   DELETE /box/NAME  removes it (204), or 404
 * NAME is 1 to 64 characters of [a-z0-9-]. Every answer says what was wrong
 * (400, 404, 405, 411, 413, 507) in a one-line text body. The server exits by
 * itself after SECONDS (and at SIGTERM or SIGINT), exit code 0.
 *
 * Built by meson as iceprobe-rendezvous (tests/lab/meson.build).
 */
#include <errno.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOX_MAX_BYTES (64 * 1024)
#define BOX_MAX_COUNT 64
#define BOX_NAME_MAX 64

static GHashTable *boxes; /* name -> GBytes */
static GBytes *page;
static GMainLoop *loop;

static void reply_text(SoupServerMessage *msg, guint status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void reply_text(SoupServerMessage *msg, guint status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *body = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *line = g_strconcat(body, "\n", NULL);
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_TAKE, line, strlen(line));
	g_free(body);
}

static void no_store(SoupServerMessage *msg)
{
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-store");
}

/* The box name after "/box/", or NULL with *why set. */
static const char *box_name(const char *path, const char **why)
{
	if (strncmp(path, "/box/", 5) != 0 || path[5] == '\0') {
		*why = "missing box name: use /box/NAME";
		return NULL;
	}
	const char *name = path + 5;
	size_t n = strlen(name), i;
	if (n > BOX_NAME_MAX) {
		*why = "box name longer than 64 characters";
		return NULL;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			*why = "box name must be [a-z0-9-] only";
			return NULL;
		}
	}
	return name;
}

/* Before the body is read: refuse what would be too big, or has no length. */
static void box_early(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
		      gpointer data)
{
	(void)server, (void)query, (void)data, (void)path;
	const char *method = soup_server_message_get_method(msg);
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
		return;
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	SoupEncoding enc = soup_message_headers_get_encoding(h);
	if (enc != SOUP_ENCODING_CONTENT_LENGTH) {
		reply_text(msg, SOUP_STATUS_LENGTH_REQUIRED, "POST needs a Content-Length");
		return;
	}
	goffset len = soup_message_headers_get_content_length(h);
	if (len > BOX_MAX_BYTES)
		reply_text(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "body of %" G_GOFFSET_FORMAT " bytes; at most %d",
			   len, BOX_MAX_BYTES);
}

static void box_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
			gpointer data)
{
	(void)server, (void)query, (void)data;
	const char *method = soup_server_message_get_method(msg), *why = NULL;
	no_store(msg);
	const char *name = box_name(path, &why);
	if (!name) {
		reply_text(msg, SOUP_STATUS_BAD_REQUEST, "%s", why);
		return;
	}
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
		GBytes *b = g_hash_table_lookup(boxes, name);
		if (!b) {
			reply_text(msg, SOUP_STATUS_NOT_FOUND, "no box %s", name);
			return;
		}
		gsize n;
		const void *d = g_bytes_get_data(b, &n);
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(msg, "application/octet-stream", SOUP_MEMORY_COPY, d, n);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		SoupMessageBody *body = soup_server_message_get_request_body(msg);
		GBytes *b = soup_message_body_flatten(body);
		if (g_bytes_get_size(b) > BOX_MAX_BYTES) { /* the early handler refused it already */
			g_bytes_unref(b);
			reply_text(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "body over %d bytes", BOX_MAX_BYTES);
			return;
		}
		if (!g_hash_table_contains(boxes, name) && g_hash_table_size(boxes) >= BOX_MAX_COUNT) {
			g_bytes_unref(b);
			reply_text(msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "already %d boxes; DELETE some first",
				   BOX_MAX_COUNT);
			return;
		}
		fprintf(stderr, "rendezvous: box %s: %zu bytes\n", name, g_bytes_get_size(b));
		g_hash_table_replace(boxes, g_strdup(name), b);
		reply_text(msg, SOUP_STATUS_OK, "stored %s", name);
	} else if (strcmp(method, "DELETE") == 0) {
		if (g_hash_table_remove(boxes, name)) {
			soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, NULL);
		} else {
			reply_text(msg, SOUP_STATUS_NOT_FOUND, "no box %s", name);
		}
	} else {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "GET, HEAD, POST, PUT, DELETE");
		reply_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method %s not allowed on a box", method);
	}
}

static void page_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
			 gpointer data)
{
	(void)server, (void)query, (void)data;
	const char *method = soup_server_message_get_method(msg);
	no_store(msg);
	if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0) {
		reply_text(msg, SOUP_STATUS_NOT_FOUND, "nothing at %s (the page is /, boxes are /box/NAME)", path);
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method %s not allowed on the page", method);
		return;
	}
	gsize n;
	const void *d = g_bytes_get_data(page, &n);
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY, d, n);
}

static gboolean quit_cb(gpointer why)
{
	fprintf(stderr, "rendezvous: %s, exiting\n", (const char *)why);
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "rendezvous: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: rendezvous ADDR PORT PAGE_FILE SECONDS\n");
		return 2;
	}
	long port = parse_num(argv[2], 1, 65535, "PORT");
	long seconds = parse_num(argv[4], 1, 86400, "SECONDS");
	GInetAddress *ia = g_inet_address_new_from_string(argv[1]);
	if (!ia) {
		fprintf(stderr, "rendezvous: ADDR must be an IP address, not '%s'\n", argv[1]);
		return 2;
	}
	GError *err = NULL;
	char *contents;
	gsize len;
	if (!g_file_get_contents(argv[3], &contents, &len, &err)) {
		fprintf(stderr, "rendezvous: cannot read the page: %s\n", err->message);
		return 2;
	}
	page = g_bytes_new_take(contents, len);
	boxes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);

	SoupServer *server = soup_server_new("server-header", "iceprobe-rendezvous", NULL);
	soup_server_add_early_handler(server, "/box", box_early, NULL, NULL);
	soup_server_add_handler(server, "/box", box_handler, NULL, NULL);
	soup_server_add_handler(server, "/", page_handler, NULL, NULL);
	GSocketAddress *sa = g_inet_socket_address_new(ia, (guint16)port);
	if (!soup_server_listen(server, sa, 0, &err)) {
		fprintf(stderr, "rendezvous: cannot listen on %s:%ld: %s\n", argv[1], port, err->message);
		return 1;
	}
	g_object_unref(sa);
	g_object_unref(ia);

	loop = g_main_loop_new(NULL, FALSE);
	g_timeout_add_seconds((guint)seconds, quit_cb, "time is up");
	g_unix_signal_add(SIGTERM, quit_cb, "SIGTERM");
	g_unix_signal_add(SIGINT, quit_cb, "SIGINT");
	fprintf(stderr, "rendezvous: listening on %s:%ld for %ld s, page %s (%zu bytes)\n", argv[1], port, seconds,
		argv[3], (size_t)len);
	g_main_loop_run(loop);

	soup_server_disconnect(server);
	g_object_unref(server);
	g_hash_table_destroy(boxes);
	g_bytes_unref(page);
	g_main_loop_unref(loop);
	return 0;
}
