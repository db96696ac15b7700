/*
 * Pure checks of what the caller controls through the environment: the
 * environment rule (no variable that would reach the VM as flags, code or
 * loader settings) and the values of the launcher's own knobs.  No getenv,
 * no I/O, no exit: each returns a verdict that knobs.c turns into a message,
 * so the fuzz target (fuzz/fuzz_launcher.c) drives exactly this code.
 */
#ifndef LAUNCHER_CHECKS_H
#define LAUNCHER_CHECKS_H

#include <stddef.h>

/* Why a variable is refused; each kind has its own message in knobs.c. */
enum env_kind {
    ENV_ACCEPTED = 0,
    ENV_VM_FLAGS,       /* ERL_AFLAGS, ERL_FLAGS, ERL_ZFLAGS, ERL_OTP<n>_FLAGS: erlexec's flags */
    ENV_CODE_PATH,      /* ERL_LIBS: the code server's library directories */
    ENV_EPMD,           /* ERL_EPMD_PORT, ERL_EPMD_ADDRESS: where epmd is */
    ENV_INETRC,         /* ERL_INETRC, ERL_INET_ETC_DIR: name resolution files */
    ENV_CRASH_DUMP,     /* ERL_CRASH_DUMP, ERL_CRASH_DUMP_BYTES, ERL_CRASH_DUMP_NICE */
    ENV_ERLANG,         /* any other ERL_*: read by erlexec, the VM or OTP, now or later */
    ENV_ELIXIR_OPTIONS, /* ELIXIR_ERL_OPTIONS: only the shell script read it */
    ENV_LOADER,         /* LD_*: the dynamic loader */
    ENV_GLIBC_TUNABLES, /* GLIBC_TUNABLES: glibc's loader and allocator */
    ENV_GCONV_PATH,     /* GCONV_PATH: glibc loads converter modules from it */
    ENV_LISTED          /* on the contract's list without a message of its own */
};

struct env_verdict {
    enum env_kind kind;
    /* The first refused entry's name (not NUL-terminated: it points into envp). */
    const char *name;
    size_t name_len;
};

/* The kind of the variable called name[0..len). */
enum env_kind classify_env_name(const char *name, size_t len);

/*
 * Scans envp ("NAME=value" entries, NULL-terminated; an entry without '='
 * is all name) for the first refused name.  A refused name is refused
 * whatever its value, the empty string included.
 */
void check_environment(char *const envp[], struct env_verdict *out);

/* The VM turns the cookie into an atom; atoms hold at most 255 characters. */
#define COOKIE_MAX_LEN 255
#define DEFAULT_COOKIE_MIN_LEN 32

enum cookie_verdict {
    COOKIE_OK,
    COOKIE_EMPTY,          /* unset or "": never accepted */
    COOKIE_BAD_BYTE,       /* space, control or non-ASCII */
    COOKIE_TOO_LONG,       /* more than COOKIE_MAX_LEN */
    COOKIE_SHORT,          /* weak: shorter than the minimum */
    COOKIE_IS_RELEASE_NAME /* weak: guessable from the image */
};

enum cookie_verdict check_cookie(const char *cookie, size_t min_len, const char *release_name);

/* Whether DIST_ALLOW_WEAK_COOKIE=1 may accept this verdict. */
int cookie_verdict_is_weak(enum cookie_verdict v);

/* DIST_COOKIE_MIN_LEN: unset or "" is DEFAULT_COOKIE_MIN_LEN; 0, or -1 when not 1..255. */
int parse_cookie_min_len(const char *value, size_t *out);

enum weak_cookie_flag { WEAK_COOKIE_REFUSED, WEAK_COOKIE_ALLOWED, WEAK_COOKIE_BAD_VALUE };

/* DIST_ALLOW_WEAK_COOKIE: unset, "" or "0" refuse weak cookies, "1" allows, else bad. */
enum weak_cookie_flag parse_weak_cookie_flag(const char *value);

enum pod_ip_verdict { POD_IP_UNSET, POD_IP_OK, POD_IP_BAD };

/* POD_IP becomes the host part of -name: an IPv4 address or host name only. */
enum pod_ip_verdict check_pod_ip(const char *value);

/* RELEASE_MODE: "embedded" for unset or "", the value itself when valid, else NULL. */
const char *check_release_mode(const char *value);

/* Longest RELEASE_TMP accepted: the private directory and its files go below it. */
#define RELEASE_TMP_MAX 1024

enum release_tmp_verdict {
    RELEASE_TMP_UNSET,        /* unset or "": the launcher's default */
    RELEASE_TMP_OK,
    RELEASE_TMP_NOT_ABSOLUTE,
    RELEASE_TMP_NOT_PRINTABLE,
    RELEASE_TMP_DOT_DOT,      /* a ".." component */
    RELEASE_TMP_TOO_LONG
};

enum release_tmp_verdict check_release_tmp(const char *value);

enum crash_dump_seconds_verdict { CRASH_DUMP_SECONDS_UNSET, CRASH_DUMP_SECONDS_OK,
                                  CRASH_DUMP_SECONDS_BAD };

/* ERL_CRASH_DUMP_SECONDS: an integer the VM's atoi() reads whole, -?[0-9]{1,9}. */
enum crash_dump_seconds_verdict check_crash_dump_seconds(const char *value);

/*
 * Reads a cookie file's bytes (data[0..len), not NUL-terminated): one
 * trailing newline is dropped, as `echo` or an editor leaves it; a NUL
 * byte anywhere is a bad byte; then the same verdict as check_cookie.
 * *cookie_len is the length the cookie has (newline dropped).
 */
enum cookie_verdict check_cookie_file(const char *data, size_t len, size_t min_len,
                                      const char *release_name, size_t *cookie_len);

/* Longest CREDENTIALS_DIRECTORY accepted; systemd's are /run/credentials/<unit>. */
#define CREDENTIALS_DIR_MAX 1024

enum credentials_dir_verdict {
    CREDENTIALS_DIR_UNSET,         /* unset or "": no credentials */
    CREDENTIALS_DIR_OK,
    CREDENTIALS_DIR_NOT_PRINTABLE,
    CREDENTIALS_DIR_OUTSIDE,       /* not CONTRACT_CREDENTIALS_ROOT followed by a name */
    CREDENTIALS_DIR_DOT_DOT,       /* a "." or ".." component: it could climb out */
    CREDENTIALS_DIR_TOO_LONG
};

/*
 * CREDENTIALS_DIRECTORY as a string: absolute, printable, no "." or ".."
 * component, under CONTRACT_CREDENTIALS_ROOT.  knobs run it again on the
 * realpath() of the value, so a symlink cannot lead out either.
 */
enum credentials_dir_verdict check_credentials_dir(const char *value);

/* systemd's socket activation: at most this many fds, each name at most FDNAME_MAX. */
#define LISTEN_FDS_MAX 1024
#define FDNAME_MAX 255

/* LISTEN_FDS: unset or "" is 0; digits, at most LISTEN_FDS_MAX; -1 otherwise. */
int parse_listen_fds(const char *value, unsigned *count);

/* LISTEN_PID, WATCHDOG_PID: unset or "" is 0; a pid 1..2147483647 in digits; -1 otherwise. */
int parse_pid(const char *value, long *pid);

/*
 * LISTEN_FDNAMES: unset or "" gives *count 0; otherwise names separated by
 * ':', each printable ASCII (space included, ':' excluded, as systemd's
 * fdname_is_valid) and at most FDNAME_MAX long, at most LISTEN_FDS_MAX of
 * them; -1 otherwise.
 */
int check_listen_fdnames(const char *value, unsigned *count);

/* sun_path holds 108 bytes: a path and its NUL, or '@' (a NUL) and 107. */
#define NOTIFY_SOCKET_MAX 107

enum notify_socket_verdict {
    NOTIFY_SOCKET_UNSET,
    NOTIFY_SOCKET_OK,
    NOTIFY_SOCKET_NOT_UNIX,      /* neither an absolute path nor '@'-abstract */
    NOTIFY_SOCKET_NOT_PRINTABLE,
    NOTIFY_SOCKET_TOO_LONG
};

/* NOTIFY_SOCKET: an AF_UNIX address, "/path" or "@abstract", as systemd sets it. */
enum notify_socket_verdict check_notify_socket(const char *value);

/* WATCHDOG_USEC: unset or "" is 0; 1 to 19 digits, not 0; -1 otherwise. */
int check_watchdog_usec(const char *value);

#endif
