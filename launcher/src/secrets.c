#define _POSIX_C_SOURCE 200809L

#include "secrets.h"

#include "config.h"
#include "report.h"
#include "vmenv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define RUNTIME_CONFIG_MARKER "RUNTIME_CONFIG=true"
#define COOKIE_FILE ".erlang.cookie"
#define SYS_CONFIG_FILE "sys.config"
/* mkdtemp's suffix: six letters or digits. */
#define PRIVATE_DIR_SUFFIX "XXXXXX"

/* Everything the launcher ever writes into a private directory. */
static const char *const private_files[] = {COOKIE_FILE, SYS_CONFIG_FILE, NULL};

/* The private directory of this boot, removed again if we do not exec. */
static char private_dir[PATH_MAX];
static char sys_config_base[PATH_MAX];

static void remove_private_dir(void)
{
    int dfd = open(private_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) {
        for (size_t i = 0; private_files[i] != NULL; i++)
            unlinkat(dfd, private_files[i], 0);
        close(dfd);
    }
    rmdir(private_dir);
}

/* Whether name is "<release>-XXXXXX" as mkdtemp() makes it. */
static int is_private_dir_name(const char *name)
{
    size_t n = sizeof LAUNCHER_RELEASE_NAME - 1;
    if (strncmp(name, LAUNCHER_RELEASE_NAME, n) != 0 || name[n] != '-')
        return 0;
    const char *suffix = name + n + 1;
    if (strlen(suffix) != sizeof PRIVATE_DIR_SUFFIX - 1)
        return 0;
    for (const char *p = suffix; *p != '\0'; p++) {
        char c = *p;
        if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'))
            return 0;
    }
    return 1;
}

/*
 * Removes one earlier boot's directory, if it is a real directory (never a
 * symlink: O_NOFOLLOW) owned by us, and only the files we put there.  The
 * checks run on the opened descriptor, so a rename in between cannot point
 * them elsewhere; rmdir then fails on anything else still inside.
 */
static void remove_stale_dir(int tmp_fd, const char *tmp, const char *name)
{
    int fd = openat(tmp_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return;
    }
    for (size_t i = 0; private_files[i] != NULL; i++)
        unlinkat(fd, private_files[i], 0);
    close(fd);
    if (unlinkat(tmp_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        warn("cannot remove %s/%s, the private directory of an earlier boot (%s); its cookie "
             "and config copy are gone, remove the rest by hand",
             tmp, name, strerror(errno));
}

/*
 * Each boot makes a new directory and the VM keeps it to the end, so on a
 * RELEASE_TMP that outlives the container (an emptyDir survives container
 * restarts) cookies would pile up, one per restart.  Best effort: what
 * cannot be removed is left, and the boot goes on.
 */
static void remove_earlier_private_dirs(const char *tmp)
{
    int tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp_fd < 0)
        return;
    DIR *dir = fdopendir(tmp_fd);
    if (dir == NULL) {
        close(tmp_fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (is_private_dir_name(entry->d_name))
            remove_stale_dir(dirfd(dir), tmp, entry->d_name);
    }
    closedir(dir);
}

/* One fresh 0700 directory per boot for the cookie and the runtime config copy. */
static void make_private_dir(const char *tmp, int is_server)
{
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        die(EXIT_REFUSED, "cannot create RELEASE_TMP %s (%s); mount a writable tmpfs there", tmp,
            strerror(errno));
    if (is_server)
        remove_earlier_private_dirs(tmp);
    compose(private_dir, sizeof private_dir, "%s/%s-" PRIVATE_DIR_SUFFIX, tmp,
            LAUNCHER_RELEASE_NAME);
    if (mkdtemp(private_dir) == NULL)
        die(EXIT_REFUSED, "cannot create a private directory in RELEASE_TMP %s (%s); mount a "
            "writable tmpfs there", tmp, strerror(errno));
    report_on_exit(remove_private_dir);
}

static void write_private_file(const char *name, mode_t mode, const char *data, size_t len)
{
    char path[PATH_MAX];
    compose(path, sizeof path, "%s/%s", private_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        die(EXIT_REFUSED, "cannot create %s (%s); RELEASE_TMP must be writable", path,
            strerror(errno));
    while (len > 0) {
        ssize_t put = write(fd, data, len);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            die(EXIT_REFUSED, "cannot write %s (%s)", path, strerror(errno));
        data += put;
        len -= (size_t)put;
    }
    if (close(fd) != 0)
        die(EXIT_REFUSED, "cannot write %s (%s)", path, strerror(errno));
}

/*
 * The config provider rewrites sys.config at boot when the release has a
 * runtime config, so it must live on the writable RELEASE_TMP (a tmpfs on a
 * read-only root), exactly as the stock script arranges.
 */
const char *place_sys_config(const struct release *rel, int is_server)
{
    struct file_bytes sys;
    release_read_file(rel->sys_config_file, &sys);
    int runtime = file_bytes_contain(&sys, RUNTIME_CONFIG_MARKER);
    if (runtime || is_server)
        make_private_dir(getenv("RELEASE_TMP"), is_server);
    if (runtime) {
        write_private_file(SYS_CONFIG_FILE, 0600, sys.data, sys.len);
        compose(sys_config_base, sizeof sys_config_base, "%s/sys", private_dir);
    } else {
        compose(sys_config_base, sizeof sys_config_base, "%s", rel->sys_config_base);
    }
    free(sys.data);
    env_set("RELEASE_SYS_CONFIG", sys_config_base);
    return sys_config_base;
}

void hand_over_cookie(const char *cookie)
{
    write_private_file(COOKIE_FILE, 0400, cookie, strlen(cookie));
    env_set("HOME", private_dir);
    env_unset(CONTRACT_COOKIE_VAR);
}
