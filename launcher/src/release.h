/*
 * The release on disk: its root (from /proc/self/exe), the versions in
 * releases/start_erl.data, and every path composed from them.  A path that
 * does not fit is refused, never shortened.
 */
#ifndef LAUNCHER_RELEASE_H
#define LAUNCHER_RELEASE_H

#include "resolve.h"

#include <stddef.h>

/* Each path may be up to PATH_MAX bytes; release.c keeps them packed. */
struct release {
    const char *root;
    struct start_erl_data versions;
    const char *bindir;
    const char *erlexec;
    const char *epmd;
    const char *rel_dir;
    const char *sys_config_base; /* without ".config", as -config wants it */
    const char *sys_config_file;
    const char *vm_args;
    const char *boot;
    const char *lib;
    const char *tls_optfile;
    const char *tmp_default;
};

/* Finds the root, reads the versions and composes the paths; refuses (78) on any problem. */
void release_locate(struct release *rel, int is_server);

/* With REQUIRE_TLS: the options file and the certificates must be readable (78 otherwise). */
void release_check_tls_files(const struct release *rel);

struct file_bytes {
    char *data;
    size_t len;
};

/* A whole file of the release; a missing one means the image is incomplete (78). */
void release_read_file(const char *path, struct file_bytes *out);

int file_bytes_contain(const struct file_bytes *f, const char *needle);

/* snprintf into dst; output that does not fit refuses (78), it is never cut. */
__attribute__((format(printf, 3, 4))) void compose(char *dst, size_t cap, const char *fmt, ...);

#endif
