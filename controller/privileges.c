#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

gboolean privileges_drop(const char *user, GError **error)
{
    if (geteuid() != 0 || !user)
        return TRUE;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "[server] user: no user '%s'%s%s",
                    user, errno ? ": " : "", errno ? g_strerror(errno) : "");
        return FALSE;
    }
    if (pw->pw_uid == 0)
        return TRUE;
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot become user '%s': %s",
                    user, g_strerror(err));
        return FALSE;
    }
    if (setuid(0) == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "became user '%s', but could become root again", user);
        return FALSE;
    }
    return TRUE;
}
