/*
 * systemd credentials (LoadCredential=): where CREDENTIALS_DIRECTORY may
 * point, the cookie read from its `cookie` credential, and the check that
 * the distribution certificates the VM will open under <root>/dist-certs
 * are that directory's own files (the unit binds it there with
 * BindReadOnlyPaths=%d:/app/dist-certs, because the image's inet_tls.config
 * names /app/dist-certs statically).
 */
#ifndef LAUNCHER_CREDENTIALS_H
#define LAUNCHER_CREDENTIALS_H

#include "release.h"

#include <stddef.h>

/*
 * The realpath() of CREDENTIALS_DIRECTORY, or NULL when it is unset or "".
 * Refuses (77) a value, or a resolved path, outside /run/credentials/.
 */
const char *credentials_locate(void);

struct credential_bytes {
    char path[4096];                 /* <dir>/cookie, for every message */
    char data[255 + 2];              /* COOKIE_MAX_LEN, a newline, one byte to tell "too long" */
    size_t len;
};

/*
 * Reads the cookie credential into out (at most sizeof out->data bytes: a
 * longer file fills it and is judged too long).  Opened with O_NOFOLLOW,
 * only a regular file; a missing or unreadable one is refused (78).
 */
void credentials_read_cookie(const char *dir, struct credential_bytes *out);

/*
 * With REQUIRE_TLS: each certificate credential is readable in dir, and
 * <root>/dist-certs/<name> is that same file (st_dev, st_ino), so what the
 * VM reads is what was checked.  Refuses (78) naming the file and the fix.
 */
void credentials_check_dist_certs(const char *dir, const struct release *rel);

#endif
