/* Network change notifications, Linux side (netnotify.h). */
#include "netnotify.h"

#include "netif.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

struct NetNotify {
    int fd; /* NETLINK_ROUTE, subscribed to the groups below */
    GSource *source;
    GSourceFunc fn;
    gpointer data;
};

static const guint groups =
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE;

static int listen_socket(GError **error)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "rtnetlink socket: %s",
                    g_strerror(errno));
        return -1;
    }
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;
        close(fd);
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK,
                    "rtnetlink: listening to link, address and route changes (groups 0x%x): %s",
                    groups, g_strerror(err));
        return -1;
    }
    return fd;
}

/* Reads what is waiting: the messages only wake the watcher (netwatch.c). ENOBUFS says
 * some were lost; the snapshot that follows reads what they said. */
static void drain(int fd)
{
    char buf[8192];
    for (guint n = 0; n < 4096; n++) {
        ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (len < 0 && errno != EINTR && errno != ENOBUFS)
            return;
    }
}

static gboolean on_socket(int fd, GIOCondition cond, gpointer data)
{
    NetNotify *n = data;
    drain(fd);
    return n->fn(n->data);
}

NetNotify *netnotify_new(GMainContext *ctx, GSourceFunc fn, gpointer data, GError **error)
{
    int fd = listen_socket(error);
    if (fd < 0)
        return NULL;
    NetNotify *n = g_new0(NetNotify, 1);
    n->fd = fd;
    n->fn = fn;
    n->data = data;
    n->source = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR);
    g_source_set_callback(n->source, G_SOURCE_FUNC(on_socket), n, NULL);
    g_source_attach(n->source, ctx);
    return n;
}

void netnotify_free(NetNotify *n)
{
    if (!n)
        return;
    g_source_destroy(n->source);
    g_source_unref(n->source);
    close(n->fd);
    g_free(n);
}
