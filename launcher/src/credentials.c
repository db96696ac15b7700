#define _XOPEN_SOURCE 700 /* realpath */

#include "credentials.h"

#include "checks.h"
#include "contract.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof ((struct credential_bytes *)0)->data == COOKIE_MAX_LEN + 2,
               "room for the longest cookie, its newline and one byte more");

#define BIND_FIX "bind the credentials directory there: BindReadOnlyPaths=%%d:%s/%s"

static const char *dir_reason(enum credentials_dir_verdict v)
{
    switch (v) {
    case CREDENTIALS_DIR_NOT_PRINTABLE:
        return "has a control or non-ASCII byte";
    case CREDENTIALS_DIR_OUTSIDE:
        return "is not under " CONTRACT_CREDENTIALS_ROOT;
    case CREDENTIALS_DIR_DOT_DOT:
        return "has a '.' or '..' component";
    case CREDENTIALS_DIR_TOO_LONG:
        return "is longer than 1024 bytes";
    case CREDENTIALS_DIR_UNSET:
    case CREDENTIALS_DIR_OK:
        break;
    }
    return "is not acceptable";
}

_Static_assert(CREDENTIALS_DIR_MAX == 1024, "dir_reason names CREDENTIALS_DIR_MAX");

/* One line naming the variable, like every other environment refusal (77). */
__attribute__((noreturn)) static void refuse_dir(const char *value, const char *shown_as,
                                                 enum credentials_dir_verdict v)
{
    die(EXIT_ENV_REFUSED,
        "%s=%s %s%s; only systemd sets it, to the service's own directory under %s "
        "(LoadCredential=): unset it or fix the unit",
        CONTRACT_CREDENTIALS_VAR, value, shown_as != NULL ? "resolves to a path that " : "",
        dir_reason(v), CONTRACT_CREDENTIALS_ROOT);
}

const char *credentials_locate(void)
{
    static char resolved[PATH_MAX];
    const char *value = getenv(CONTRACT_CREDENTIALS_VAR);
    enum credentials_dir_verdict v = check_credentials_dir(value);
    if (v == CREDENTIALS_DIR_UNSET)
        return NULL;
    if (v != CREDENTIALS_DIR_OK)
        refuse_dir(value, NULL, v);
    /* A symlink under the root could lead anywhere: judge where it leads. */
    if (realpath(value, resolved) == NULL)
        die(EXIT_REFUSED, "cannot resolve %s=%s (%s); systemd creates it before the service "
            "starts: check LoadCredential= in the unit", CONTRACT_CREDENTIALS_VAR, value,
            strerror(errno));
    v = check_credentials_dir(resolved);
    if (v != CREDENTIALS_DIR_OK)
        refuse_dir(value, resolved, v);
    return resolved;
}

static int open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        die(EXIT_REFUSED, "cannot open the credentials directory %s (%s)", dir, strerror(errno));
    return fd;
}

/* The credential name in dir as a regular file, never through a symlink. */
static int open_credential(int dfd, const char *path, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        die(EXIT_REFUSED, "cannot read the credential %s (%s); pass the cookie with "
            "LoadCredential=%s:<file> (or SetCredentialEncrypted=) in the unit", path,
            strerror(errno), name);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        die(EXIT_REFUSED, "the credential %s is not a regular file; pass the cookie with "
            "LoadCredential=%s:<file> in the unit", path, name);
    return fd;
}

void credentials_read_cookie(const char *dir, struct credential_bytes *out)
{
    compose(out->path, sizeof out->path, "%s/%s", dir, CONTRACT_COOKIE_CREDENTIAL);
    int dfd = open_dir(dir);
    int fd = open_credential(dfd, out->path, CONTRACT_COOKIE_CREDENTIAL);
    close(dfd);
    out->len = 0;
    while (out->len < sizeof out->data) {
        ssize_t got = read(fd, out->data + out->len, sizeof out->data - out->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            die(EXIT_REFUSED, "cannot read the credential %s (%s)", out->path, strerror(errno));
        if (got == 0)
            break;
        out->len += (size_t)got;
    }
    close(fd);
}

/* The certificate credential name must be in dir, readable, and be <root>/dist-certs/name. */
static void check_bound(int dfd, const char *dir, const struct release *rel, const char *name)
{
    char bound[PATH_MAX];
    struct stat cred, seen;
    compose(bound, sizeof bound, "%s/%s/%s", rel->root, CONTRACT_DIST_CERTS_DIR, name);
    if (faccessat(dfd, name, R_OK, 0) != 0 || fstatat(dfd, name, &cred, AT_SYMLINK_NOFOLLOW) != 0)
        die(EXIT_REFUSED, "TLS distribution is required but the credential %s/%s is not "
            "readable (%s); pass it with LoadCredential=%s:<file> in the unit", dir, name,
            strerror(errno), name);
    if (stat(bound, &seen) != 0 || seen.st_dev != cred.st_dev || seen.st_ino != cred.st_ino)
        die(EXIT_REFUSED, "%s is not the credential %s/%s (the VM reads the certificates from %s/%s, "
            "named in the image's TLS options); " BIND_FIX, bound, dir, name, rel->root,
            CONTRACT_DIST_CERTS_DIR, rel->root, CONTRACT_DIST_CERTS_DIR);
}

void credentials_check_dist_certs(const char *dir, const struct release *rel)
{
    static const char *const names[] = CONTRACT_DIST_CERT_FILES;
    int dfd = open_dir(dir);
    for (size_t i = 0; names[i] != NULL; i++)
        check_bound(dfd, dir, rel, names[i]);
    close(dfd);
}
