#define _POSIX_C_SOURCE 200809L

#include "release.h"

#include "contract.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Room for every path of struct release at its full PATH_MAX, but filled
 * end to end: the short real paths then share a page or two, where one
 * PATH_MAX array per path costs a page fault each (measurable at start-up).
 */
#define RELEASE_PATHS 12
static char path_store[RELEASE_PATHS * PATH_MAX];
static size_t path_store_used;

__attribute__((format(printf, 3, 0))) static size_t vcompose(char *dst, size_t cap,
                                                             const char *fmt, va_list ap)
{
    int n = vsnprintf(dst, cap, fmt, ap);
    if (n < 0)
        die(EXIT_INTERNAL, "cannot format a path (%s)", strerror(errno));
    if ((size_t)n >= cap)
        die(EXIT_REFUSED,
            "a path under the release root is longer than %zu bytes; install the release under a "
            "shorter directory",
            cap - 1);
    return (size_t)n;
}

void compose(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcompose(dst, cap, fmt, ap);
    va_end(ap);
}

/* compose() into the next free part of path_store, with the same PATH_MAX limit. */
__attribute__((format(printf, 1, 2))) static const char *release_path(const char *fmt, ...)
{
    if (sizeof path_store - path_store_used < PATH_MAX)
        die(EXIT_INTERNAL, "more release paths than RELEASE_PATHS (%d)", RELEASE_PATHS);
    char *dst = path_store + path_store_used;
    va_list ap;
    va_start(ap, fmt);
    path_store_used += vcompose(dst, PATH_MAX, fmt, ap) + 1;
    va_end(ap);
    return dst;
}

/* Root = two directories above the executable, found without trusting argv[0]. */
static const char *find_root(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
    if (n < 0)
        return release_path("%s", CONTRACT_APP_ROOT);
    if ((size_t)n >= sizeof exe)
        die(EXIT_REFUSED,
            "the launcher's own path is longer than %zu bytes; install the release under a "
            "shorter directory",
            sizeof exe - 1);
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL || slash == exe)
            die(EXIT_REFUSED,
                "cannot derive the release root from %s; the launcher must live in <root>/bin",
                exe);
        *slash = '\0';
    }
    return release_path("%s", exe);
}

static int open_release_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(EXIT_REFUSED, "cannot read %s (%s); the release is incomplete: rebuild the image",
            path, strerror(errno));
    return fd;
}

/* One read(2), retried on EINTR; 0 at end of file, a read error refuses. */
static size_t read_chunk(int fd, const char *path, char *buf, size_t room)
{
    for (;;) {
        ssize_t got = read(fd, buf, room);
        if (got >= 0)
            return (size_t)got;
        if (errno != EINTR)
            die(EXIT_REFUSED, "cannot read %s (%s)", path, strerror(errno));
    }
}

static void read_versions(struct release *rel)
{
    char path[PATH_MAX];
    char buf[LAUNCHER_START_ERL_DATA_MAX + 1];
    compose(path, sizeof path, "%s/releases/start_erl.data", rel->root);
    int fd = open_release_file(path);
    size_t len = 0;
    for (size_t got = 1; got > 0 && len < sizeof buf; len += got)
        got = read_chunk(fd, path, buf + len, sizeof buf - len);
    close(fd);
    if (parse_start_erl_data(buf, len, &rel->versions) != 0)
        die(EXIT_REFUSED,
            "%s is malformed: expected one line \"ERTS_VSN REL_VSN\" (for example \"15.2.3 "
            "0.1.0\"); rebuild the release",
            path);
}

static void compose_paths(struct release *rel, int is_server)
{
    const char *r = rel->root;
    rel->bindir = release_path("%s/erts-%s/bin", r, rel->versions.erts_vsn);
    rel->erlexec = release_path("%s/erlexec", rel->bindir);
    rel->epmd = release_path("%s/epmd", rel->bindir);
    rel->rel_dir = release_path("%s/releases/%s", r, rel->versions.rel_vsn);
    rel->sys_config_base = release_path("%s/sys", rel->rel_dir);
    rel->sys_config_file = release_path("%s.config", rel->sys_config_base);
    rel->vm_args = release_path("%s/vm.args", rel->rel_dir);
    rel->boot = release_path("%s/%s", rel->rel_dir, is_server ? "start" : "start_clean");
    rel->lib = release_path("%s/lib", r);
    rel->tls_optfile = release_path("%s/%s", r, CONTRACT_TLS_OPTIONS_FILE);
    rel->tmp_default = release_path("%s/tmp", r);
}

void release_locate(struct release *rel, int is_server)
{
    rel->root = find_root();
    read_versions(rel);
    compose_paths(rel, is_server);
}

static const char *const dist_cert_files[] = CONTRACT_DIST_CERT_FILES;

static void require_readable(const char *path)
{
    if (access(path, R_OK) == 0)
        return;
    int err = errno;
    char names[256] = "";
    for (size_t i = 0, used = 0; dist_cert_files[i] != NULL && used < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i > 0 ? ", " : "",
                         dist_cert_files[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    die(EXIT_REFUSED,
        "TLS distribution is required but %s is not readable (%s); mount the distribution "
        "certificates (%s) at the %s directory",
        path, strerror(err), names, CONTRACT_DIST_CERTS_DIR);
}

void release_check_tls_files(const struct release *rel)
{
    char path[PATH_MAX];
    require_readable(rel->tls_optfile);
    for (size_t i = 0; dist_cert_files[i] != NULL; i++) {
        compose(path, sizeof path, "%s/%s/%s", rel->root, CONTRACT_DIST_CERTS_DIR,
                dist_cert_files[i]);
        require_readable(path);
    }
}

void release_read_file(const char *path, struct file_bytes *out)
{
    int fd = open_release_file(path);
    size_t cap = 8192;
    out->len = 0;
    out->data = malloc(cap);
    if (out->data == NULL)
        die(EXIT_INTERNAL, "out of memory reading %s", path);
    for (;;) {
        if (out->len == cap) {
            cap *= 2;
            char *bigger = realloc(out->data, cap);
            if (bigger == NULL)
                die(EXIT_INTERNAL, "out of memory reading %s", path);
            out->data = bigger;
        }
        size_t got = read_chunk(fd, path, out->data + out->len, cap - out->len);
        if (got == 0)
            break;
        out->len += got;
    }
    close(fd);
}

int file_bytes_contain(const struct file_bytes *f, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= f->len; i++) {
        if (memcmp(f->data + i, needle, n) == 0)
            return 1;
    }
    return 0;
}
