/*
 * The shell-free release launcher.
 *
 * A distroless image has no /bin/sh, so the release's start scripts cannot
 * run.  This program does what that script chain does for the commands the
 * build allows (the server and the audited task verbs), then execv()s erlexec
 * directly.  The behaviour contract lives in launcher/README.md.
 */
#define _POSIX_C_SOURCE 200809L

#include "resolve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LAUNCHER_RELEASE_NAME
#error "LAUNCHER_RELEASE_NAME must be defined (make RELEASE_NAME=...)"
#endif
#ifndef LAUNCHER_DIST_PORT
#error "LAUNCHER_DIST_PORT must be defined (make DIST_PORT=...)"
#endif
#ifndef LAUNCHER_REQUIRE_TLS
#error "LAUNCHER_REQUIRE_TLS must be defined (make REQUIRE_TLS=0|1)"
#endif
#ifndef LAUNCHER_EPMDLESS
#error "LAUNCHER_EPMDLESS must be defined (make EPMDLESS=0|1)"
#endif
#ifndef LAUNCHER_DEFAULT_ROOT
#define LAUNCHER_DEFAULT_ROOT "/app"
#endif
#ifndef LAUNCHER_TASKS
#error "the generated task header (make TASKS_HEADER=...) must define LAUNCHER_TASKS"
#endif

_Static_assert(LAUNCHER_DIST_PORT >= 1 && LAUNCHER_DIST_PORT <= 65535,
               "DIST_PORT must be a TCP port number");
_Static_assert(sizeof LAUNCHER_RELEASE_NAME <= 65, "RELEASE_NAME is at most 64 characters");
_Static_assert(LAUNCHER_REQUIRE_TLS == 0 || LAUNCHER_REQUIRE_TLS == 1, "REQUIRE_TLS is 0 or 1");
_Static_assert(LAUNCHER_EPMDLESS == 0 || LAUNCHER_EPMDLESS == 1, "EPMDLESS is 0 or 1");

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define DIST_PORT_TEXT STRINGIFY(LAUNCHER_DIST_PORT)

/* Exit codes (documented in README.md). */
enum {
    EXIT_USAGE = 64,      /* the command line names nothing we run */
    EXIT_INTERNAL = 70,   /* a system call failed where it should not */
    EXIT_REFUSED = 78,    /* the release, environment or secrets are not acceptable */
    EXIT_EXEC = 127       /* erlexec could not be executed */
};

#define DEFAULT_COOKIE_MIN_LEN 32
/* The VM turns the cookie into an atom; atoms hold at most 255 characters. */
#define COOKIE_MAX_LEN 255
#define EPMD_MODULE "build_image_epmd"
/* ERTS 15 is OTP 27, which deprecated -epmd_module for the kernel parameter. */
#define ERTS_MAJOR_KERNEL_EPMD_MODULE 15
#define RUNTIME_CONFIG_MARKER "RUNTIME_CONFIG=true"
/*
 * How long the epmd helper waits, at most, for epmd's double fork to settle
 * (the intermediate process gone, the daemon listening or gone).  It takes
 * milliseconds; the bound only matters for an epmd that never listens.
 */
#define EPMD_SETTLE_SECONDS 5
#define EPMD_POLL_NS 5000000L
#define MAX_ARGS 48
#define SHOWN_WORD_MAX 64

#define LAUNCHER_TASK_ENTRY(verb, expression) {verb, expression},
static const struct launcher_task tasks[] = {LAUNCHER_TASKS(LAUNCHER_TASK_ENTRY){NULL, NULL}};

static const char *prog = LAUNCHER_RELEASE_NAME;

/* The private directory under RELEASE_TMP, removed again if we do not exec. */
static char private_dir[PATH_MAX];
static int private_dir_made;

/* Each path may be up to PATH_MAX bytes; they live packed in path_store. */
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

/*
 * Room for every path of struct release at its full PATH_MAX, but filled
 * end to end: the short real paths then share a page or two, where one
 * PATH_MAX array per path costs a page fault each (measurable at start-up).
 */
#define RELEASE_PATHS 12
static char path_store[RELEASE_PATHS * PATH_MAX];
static size_t path_store_used;

static void remove_private_dir(void);

__attribute__((format(printf, 1, 0))) static void vreport(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

/* Exit without a message, for failures a child process has already reported. */
__attribute__((noreturn)) static void quit(int code)
{
    remove_private_dir();
    exit(code);
}

__attribute__((noreturn, format(printf, 2, 3))) static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    quit(code);
}

/* Formats into a fixed buffer; a path that does not fit is fatal, never cut. */
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

__attribute__((format(printf, 3, 4))) static void compose(char *dst, size_t cap, const char *fmt,
                                                          ...)
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

/* Caller-supplied words are echoed back; keep them on one printable line. */
static const char *shown(const char *word, char *buf, size_t cap)
{
    size_t i = 0;
    for (; word[i] != '\0' && i + 1 < cap && i < SHOWN_WORD_MAX; i++) {
        unsigned char c = (unsigned char)word[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[i] = '\0';
    return buf;
}

static void allowed_commands(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    const char *fixed = "server, start";
    int n = snprintf(buf, cap, "%s", fixed);
    used = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; tasks[i].verb != NULL && used < cap; i++) {
        n = snprintf(buf + used, cap - used, ", %s", tasks[i].verb);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static void refuse_command(const struct resolution *r)
{
    char allowed[2048];
    char word[SHOWN_WORD_MAX + 1];
    char extra[SHOWN_WORD_MAX + 1];
    allowed_commands(allowed, sizeof allowed);
    switch (r->kind) {
    case REFUSED_EXPRESSION_COMMAND:
        die(EXIT_USAGE,
            "'%s' does not exist in this release: no command evaluates caller-supplied code; "
            "allowed commands: %s",
            shown(r->word, word, sizeof word), allowed);
    case REFUSED_EXTRA_ARGUMENT:
        die(EXIT_USAGE, "'%s' takes no arguments (got '%s'); allowed commands: %s",
            shown(r->word, word, sizeof word), shown(r->extra, extra, sizeof extra), allowed);
    case REFUSED_UNKNOWN:
        die(EXIT_USAGE, "unknown command '%s'; allowed commands: %s",
            shown(r->word, word, sizeof word), allowed);
    case RESOLVED_SERVER:
    case RESOLVED_TASK:
        break;
    }
}

/* Root = two directories above the executable, found without trusting argv[0]. */
static const char *find_root(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
    if (n < 0)
        return release_path("%s", LAUNCHER_DEFAULT_ROOT);
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

/* Open a file of the release; a missing one means the image is incomplete. */
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
    rel->tls_optfile = release_path("%s/dist/inet_tls.config", r);
    rel->tmp_default = release_path("%s/tmp", r);
}

static int env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, value) == 0;
}

static size_t cookie_min_len(void)
{
    const char *v = getenv("DIST_COOKIE_MIN_LEN");
    if (v == NULL || *v == '\0')
        return DEFAULT_COOKIE_MIN_LEN;
    size_t n = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || n > COOKIE_MAX_LEN)
            die(EXIT_REFUSED, "DIST_COOKIE_MIN_LEN must be a number from 1 to %d, got '%.32s'",
                COOKIE_MAX_LEN, v);
        n = n * 10 + (size_t)(*p - '0');
    }
    if (n < 1 || n > COOKIE_MAX_LEN)
        die(EXIT_REFUSED, "DIST_COOKIE_MIN_LEN must be a number from 1 to %d, got '%.32s'",
            COOKIE_MAX_LEN, v);
    return n;
}

/* Fail closed: a guessable cookie is a remote shell for anyone on the network. */
static const char *checked_cookie(void)
{
    const char *cookie = getenv("RELEASE_COOKIE");
    size_t min_len = cookie_min_len();
    int weak_ok = env_is("DIST_ALLOW_WEAK_COOKIE", "1");
    if (cookie == NULL || *cookie == '\0')
        die(EXIT_REFUSED,
            "RELEASE_COOKIE is empty or unset; mount the cookie secret and set RELEASE_COOKIE to "
            "at least %zu random characters",
            min_len);
    size_t len = strlen(cookie);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cookie[i];
        if (c <= 0x20 || c >= 0x7f)
            die(EXIT_REFUSED,
                "RELEASE_COOKIE contains a space, control or non-ASCII byte; use printable ASCII "
                "only (for example base64 of 32 random bytes)");
    }
    if (len > COOKIE_MAX_LEN)
        die(EXIT_REFUSED, "RELEASE_COOKIE is %zu characters; the VM accepts at most %d", len,
            COOKIE_MAX_LEN);
    const char *weakness = NULL;
    if (len < min_len)
        weakness = "is shorter than DIST_COOKIE_MIN_LEN";
    else if (strcmp(cookie, LAUNCHER_RELEASE_NAME) == 0)
        weakness = "equals the release name";
    if (weakness == NULL)
        return cookie;
    if (!weak_ok)
        die(EXIT_REFUSED,
            "RELEASE_COOKIE %s (%zu characters, minimum %zu); set it to at least %zu random "
            "characters (DIST_ALLOW_WEAK_COOKIE=1 accepts it for local work only)",
            weakness, len, min_len, min_len);
    warn("WARNING: RELEASE_COOKIE %s; accepted only because DIST_ALLOW_WEAK_COOKIE=1 - never "
         "run like this outside local development",
         weakness);
    return cookie;
}

static void require_readable(const char *path)
{
    if (access(path, R_OK) != 0)
        die(EXIT_REFUSED,
            "TLS distribution is required but %s is not readable (%s); mount the distribution "
            "certificates (dist-cert.pem, dist-key.pem, dist-ca.pem) at the dist-certs directory",
            path, strerror(errno));
}

static void check_tls_files(const struct release *rel)
{
    static const char *const certs[] = {"dist-cert.pem", "dist-key.pem", "dist-ca.pem"};
    char path[PATH_MAX];
    require_readable(rel->tls_optfile);
    for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
        compose(path, sizeof path, "%s/dist-certs/%s", rel->root, certs[i]);
        require_readable(path);
    }
}

/* The host part of the node name; it goes into -name, so only host-name bytes. */
static const char *node_host(void)
{
    const char *ip = getenv("POD_IP");
    if (ip == NULL || *ip == '\0') {
        warn("POD_IP is not set; using 127.0.0.1, so other nodes cannot reach this one (set "
             "POD_IP from status.podIP)");
        return "127.0.0.1";
    }
    size_t len = strlen(ip);
    int ok = len <= 253 && ip[0] != '-' && ip[0] != '.';
    for (size_t i = 0; ok && i < len; i++) {
        char c = ip[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '.' || c == '-';
    }
    if (!ok) {
        char buf[SHOWN_WORD_MAX + 1];
        die(EXIT_REFUSED,
            "POD_IP '%s' is not an IPv4 address or host name; set it from status.podIP",
            shown(ip, buf, sizeof buf));
    }
    return ip;
}

static const char *release_mode(void)
{
    const char *mode = getenv("RELEASE_MODE");
    if (mode == NULL || *mode == '\0')
        return "embedded";
    if (strcmp(mode, "embedded") != 0 && strcmp(mode, "interactive") != 0) {
        char buf[SHOWN_WORD_MAX + 1];
        die(EXIT_REFUSED, "RELEASE_MODE must be 'embedded' or 'interactive', got '%s'",
            shown(mode, buf, sizeof buf));
    }
    return mode;
}

struct file_bytes {
    char *data;
    size_t len;
};

static void read_file(const char *path, struct file_bytes *out)
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

static int contains(const struct file_bytes *f, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= f->len; i++) {
        if (memcmp(f->data + i, needle, n) == 0)
            return 1;
    }
    return 0;
}

static void remove_private_dir(void)
{
    if (!private_dir_made)
        return;
    int dfd = open(private_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        unlinkat(dfd, ".erlang.cookie", 0);
        unlinkat(dfd, "sys.config", 0);
        close(dfd);
    }
    rmdir(private_dir);
    private_dir_made = 0;
}

/* One fresh 0700 directory per boot for the cookie and the runtime config copy. */
static void make_private_dir(const char *tmp)
{
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        die(EXIT_REFUSED, "cannot create RELEASE_TMP %s (%s); mount a writable tmpfs there", tmp,
            strerror(errno));
    compose(private_dir, sizeof private_dir, "%s/%s-XXXXXX", tmp, LAUNCHER_RELEASE_NAME);
    if (mkdtemp(private_dir) == NULL)
        die(EXIT_REFUSED, "cannot create a private directory in RELEASE_TMP %s (%s); mount a "
            "writable tmpfs there", tmp, strerror(errno));
    private_dir_made = 1;
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

static void set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        die(EXIT_INTERNAL, "cannot set %s (%s)", name, strerror(errno));
}

static void set_default(const char *name, const char *value)
{
    const char *current = getenv(name);
    if (current == NULL || *current == '\0')
        set(name, value);
}

static void unset(const char *name)
{
    if (unsetenv(name) != 0)
        die(EXIT_INTERNAL, "cannot unset %s (%s)", name, strerror(errno));
}

/* What bin/<release>, releases/<vsn>/elixir and erts/bin/erl would export. */
static void set_common_env(const struct release *rel, const char *mode)
{
    set("ROOTDIR", rel->root);
    set("BINDIR", rel->bindir);
    set("EMU", "beam");
    set("PROGNAME", "erl");
    set("RELEASE_ROOT", rel->root);
    set("RELEASE_NAME", LAUNCHER_RELEASE_NAME);
    set("RELEASE_VSN", rel->versions.rel_vsn);
    set("RELEASE_MODE", mode);
    set_default("RELEASE_TMP", rel->tmp_default);
    set("RELEASE_VM_ARGS", rel->vm_args);
    set_default("ERL_CRASH_DUMP_SECONDS", "0");
}

/*
 * The config provider rewrites sys.config at boot when the release has a
 * runtime config, so it must live on the writable RELEASE_TMP (a tmpfs on a
 * read-only root), exactly as the stock script arranges.
 */
static void place_sys_config(const struct release *rel, int need_private_dir)
{
    struct file_bytes sys;
    read_file(rel->sys_config_file, &sys);
    int runtime = contains(&sys, RUNTIME_CONFIG_MARKER);
    if (runtime || need_private_dir)
        make_private_dir(getenv("RELEASE_TMP"));
    if (runtime) {
        char base[PATH_MAX];
        write_private_file("sys.config", 0600, sys.data, sys.len);
        compose(base, sizeof base, "%s/sys", private_dir);
        set("RELEASE_SYS_CONFIG", base);
    } else {
        set("RELEASE_SYS_CONFIG", rel->sys_config_base);
    }
    free(sys.data);
}

/* The VM reads $HOME/.erlang.cookie, so the secret never reaches any argv. */
static void hand_over_cookie(const char *cookie)
{
    write_private_file(".erlang.cookie", 0400, cookie, strlen(cookie));
    set("HOME", private_dir);
    unset("RELEASE_COOKIE");
}

/* The status a wait reported, as a shell would show it: exit code or 128 + signal. */
static int shown_status(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int wait_for_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* Time left until deadline, or -1 once it has passed. */
static int time_left(const struct timespec *deadline, struct timespec *left)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return -1;
    left->tv_sec = deadline->tv_sec - now.tv_sec;
    left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
    if (left->tv_nsec < 0) {
        left->tv_nsec += 1000000000L;
        left->tv_sec--;
    }
    return left->tv_sec < 0 ? -1 : 0;
}

/* Reads the parent pid of pid from /proc/<pid>/stat; -1 if it is gone. */
static pid_t parent_of(const char *pid)
{
    char path[64], buf[512];
    if (snprintf(path, sizeof path, "/proc/%s/stat", pid) >= (int)sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (name) state ppid ...": the name may hold anything, even ')'. */
    char *end = strrchr(buf, ')');
    int ppid;
    if (end == NULL || sscanf(end + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* Whether /proc/<pid>/net/<table> lists one of inodes as a listening socket. */
static int listed_as_listening(pid_t pid, const char *table, const unsigned long *inodes,
                               size_t count)
{
    enum { TCP_LISTEN = 0x0A };
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, table);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        unsigned state;
        unsigned long inode;
        /* sl local remote st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &state, &inode) != 2 ||
            state != TCP_LISTEN)
            continue;
        for (size_t i = 0; i < count && !found; i++)
            found = inodes[i] == inode;
    }
    fclose(f);
    return found;
}

/* Whether pid holds a listening TCP socket: epmd is serving, bind succeeded. */
static int has_listening_socket(pid_t pid)
{
    enum { MAX_SOCKETS = 16 };
    unsigned long inodes[MAX_SOCKETS];
    size_t count = 0;
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return 0;
    struct dirent *entry;
    while (count < MAX_SOCKETS && (entry = readdir(dir)) != NULL) {
        ssize_t n = readlinkat(dirfd(dir), entry->d_name, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (sscanf(target, "socket:[%lu]", &inodes[count]) == 1)
            count++;
    }
    closedir(dir);
    return count > 0 && (listed_as_listening(pid, "tcp", inodes, count) ||
                         listed_as_listening(pid, "tcp6", inodes, count));
}

/*
 * Whether the epmd daemon, by now our child, has settled: it listens, so it
 * will live on.  A daemon that cannot bind (another epmd already serves the
 * port in this network namespace) exits instead, and must be reaped here,
 * not by PID 1.  Without /proc this cannot be told: do not wait then.
 */
static int epmd_daemon_serving(void)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 1;
    pid_t self = getpid();
    int serving = 0;
    struct dirent *entry;
    while (!serving && (entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9' || parent_of(entry->d_name) != self)
            continue;
        serving = has_listening_socket((pid_t)atoi(entry->d_name));
    }
    closedir(proc);
    return serving;
}

/*
 * Reaps the processes orphaned to us (we are their subreaper): first the one
 * intermediate process of epmd's double fork, then the daemon too if it
 * exits instead of listening.  Returns once the intermediate is gone and the
 * daemon serves or is gone, or after EPMD_SETTLE_SECONDS; the daemon that
 * serves is never waited for, it must outlive us.  SIGCHLD is blocked, so
 * sigtimedwait() wakes at each exit; listening sends no signal, so it is
 * checked every EPMD_POLL_NS meanwhile.
 */
static int reap_epmd_orphans(const sigset_t *sigchld)
{
    struct timespec deadline, left;
    if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
        return -1;
    deadline.tv_sec += EPMD_SETTLE_SECONDS;
    int reaped = 0;
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            reaped++;
        if (pid < 0 && errno == ECHILD)
            return 0;
        if (pid < 0 && errno != EINTR)
            return -1;
        if ((reaped > 0 && epmd_daemon_serving()) || time_left(&deadline, &left) != 0)
            return 0;
        if (left.tv_sec > 0 || left.tv_nsec > EPMD_POLL_NS)
            left = (struct timespec){.tv_sec = 0, .tv_nsec = EPMD_POLL_NS};
        if (sigtimedwait(sigchld, NULL, &left) < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
    }
}

/*
 * The short-lived helper that starts epmd, run in a child of the launcher.
 * `epmd -daemon` forks, its child calls setsid() and forks the daemon, then
 * exits.  That intermediate process is orphaned; without a subreaper it would
 * go to PID 1, which in a container is the VM after our exec, and the VM
 * never reaps it: a zombie for the life of the container.  As subreaper this
 * helper reaps it instead, then exits, so the daemon alone is handed on to
 * PID 1, alive.  Every failure is reported here, on one line, as
 * EXIT_INTERNAL.
 */
static int epmd_helper(const struct release *rel)
{
    sigset_t sigchld, previous;
    sigemptyset(&sigchld);
    sigaddset(&sigchld, SIGCHLD);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
        warn("cannot become the reaper of epmd's intermediate process (%s); the kernel must "
             "support PR_SET_CHILD_SUBREAPER (Linux 3.4 or later)",
             strerror(errno));
        return EXIT_INTERNAL;
    }
    if (sigprocmask(SIG_BLOCK, &sigchld, &previous) != 0) {
        warn("cannot block SIGCHLD to start epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        warn("cannot fork to start epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    if (pid == 0) {
        char *const argv[] = {(char *)rel->epmd, "-daemon", NULL};
        sigprocmask(SIG_SETMASK, &previous, NULL);
        execv(rel->epmd, argv);
        fprintf(stderr, "%s: cannot execute %s (%s)\n", prog, rel->epmd, strerror(errno));
        _exit(EXIT_EXEC);
    }
    int status;
    if (wait_for_child(pid, &status) != 0) {
        warn("cannot wait for epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        warn("%s -daemon failed (status %d); the node cannot register its name", rel->epmd,
             shown_status(status));
        return EXIT_INTERNAL;
    }
    if (reap_epmd_orphans(&sigchld) != 0) {
        warn("cannot reap epmd's intermediate process (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    return 0;
}

/* Start epmd ourselves so erlexec never needs system() and thus /bin/sh. */
static void start_epmd(const struct release *rel)
{
    pid_t pid = fork();
    if (pid < 0)
        die(EXIT_INTERNAL, "cannot fork to start epmd (%s)", strerror(errno));
    if (pid == 0)
        _exit(epmd_helper(rel));
    int status;
    if (wait_for_child(pid, &status) != 0)
        die(EXIT_INTERNAL, "cannot wait for epmd (%s)", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_INTERNAL)
        quit(EXIT_INTERNAL);
    die(EXIT_INTERNAL, "the helper starting epmd failed (status %d); the node cannot register "
        "its name", shown_status(status));
}

struct argv_builder {
    char *args[MAX_ARGS];
    size_t n;
};

static void add(struct argv_builder *b, const char *arg)
{
    if (b->n + 1 >= MAX_ARGS)
        die(EXIT_INTERNAL, "too many arguments for erlexec");
    b->args[b->n++] = (char *)arg;
    b->args[b->n] = NULL;
}

static void add_release_boot(struct argv_builder *b, const struct release *rel)
{
    add(b, "-config");
    add(b, getenv("RELEASE_SYS_CONFIG"));
    add(b, "-boot");
    add(b, rel->boot);
    add(b, "-boot_var");
    add(b, "RELEASE_LIB");
    add(b, rel->lib);
}

/*
 * vm.args is expanded in place.  The VM takes the first -kernel value,
 * -proto_dist and -epmd_module it sees, so the distribution flags go before
 * it; erlexec takes the last -start_epmd, so that one goes after it.
 */
static void add_vm_args(struct argv_builder *b, const struct release *rel)
{
    add(b, "-args_file");
    add(b, rel->vm_args);
    add(b, "-start_epmd");
    add(b, "false");
}

static void add_distribution(struct argv_builder *b, const struct release *rel)
{
    add(b, "-kernel");
    add(b, "inet_dist_listen_min");
    add(b, DIST_PORT_TEXT);
    add(b, "inet_dist_listen_max");
    add(b, DIST_PORT_TEXT);
    if (LAUNCHER_REQUIRE_TLS) {
        add(b, "-proto_dist");
        add(b, "inet_tls");
        add(b, "-ssl_dist_optfile");
        add(b, rel->tls_optfile);
    }
    if (LAUNCHER_EPMDLESS) {
        if (rel->versions.erts_major >= ERTS_MAJOR_KERNEL_EPMD_MODULE) {
            add(b, "-kernel");
            add(b, "epmd_module");
        } else {
            add(b, "-epmd_module");
        }
        add(b, EPMD_MODULE);
    }
}

__attribute__((noreturn)) static void exec_erlexec(const struct release *rel,
                                                   struct argv_builder *b)
{
    execv(rel->erlexec, b->args);
    int err = errno;
    die(EXIT_EXEC, "cannot execute %s (%s); the release's ERTS is missing or broken",
        rel->erlexec, strerror(err));
}

__attribute__((noreturn)) static void run_server(struct release *rel)
{
    static char node[512];
    const char *mode = release_mode();
    const char *cookie = checked_cookie();
    const char *host = node_host();
    if (LAUNCHER_REQUIRE_TLS)
        check_tls_files(rel);
    compose(node, sizeof node, "%s@%s", LAUNCHER_RELEASE_NAME, host);

    set_common_env(rel, mode);
    set("RELEASE_COMMAND", "start");
    set("RELEASE_PROG", "server");
    set("RELEASE_BOOT_SCRIPT", "start");
    set("RELEASE_DISTRIBUTION", "name");
    set("RELEASE_NODE", node);
    set("DIST_PORT", DIST_PORT_TEXT);
    set("PHX_SERVER", "true");
    place_sys_config(rel, 1);
    hand_over_cookie(cookie);
    if (!LAUNCHER_EPMDLESS)
        start_epmd(rel);

    struct argv_builder b = {.n = 0};
    const char *head[] = {rel->erlexec, "-noshell", "-s", "elixir", "start_cli", "-mode", mode,
                          "-name", node};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        add(&b, head[i]);
    add_release_boot(&b, rel);
    add_distribution(&b, rel);
    add_vm_args(&b, rel);
    add(&b, "-extra");
    add(&b, "--no-halt");
    exec_erlexec(rel, &b);
}

__attribute__((noreturn)) static void run_task(struct release *rel, const struct launcher_task *t)
{
    const char *mode = release_mode();
    set_common_env(rel, mode);
    set("RELEASE_COMMAND", "eval");
    set("RELEASE_PROG", t->verb);
    set("RELEASE_BOOT_SCRIPT", "start_clean");
    set("RELEASE_DISTRIBUTION", "none");
    unset("RELEASE_NODE");
    unset("RELEASE_COOKIE");
    unset("PHX_SERVER");
    place_sys_config(rel, 0);

    struct argv_builder b = {.n = 0};
    const char *head[] = {rel->erlexec, "-noshell", "-s", "elixir", "start_cli"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        add(&b, head[i]);
    add_release_boot(&b, rel);
    add_vm_args(&b, rel);
    add(&b, "-extra");
    add(&b, "--eval");
    add(&b, t->expression);
    exec_erlexec(rel, &b);
}

int main(int argc, char *argv[])
{
    static struct release rel;
    struct resolution r;
    const char *self = (argc > 0 && argv[0] != NULL) ? launcher_basename(argv[0]) : "";
    if (launcher_is_command(self, tasks))
        prog = self;
    resolve_command(argc, argv, tasks, &r);
    refuse_command(&r);

    rel.root = find_root();
    read_versions(&rel);
    compose_paths(&rel, r.kind == RESOLVED_SERVER);
    if (access(rel.erlexec, X_OK) != 0)
        die(EXIT_EXEC, "cannot execute %s (%s); the release's ERTS is missing or broken",
            rel.erlexec, strerror(errno));
    if (r.kind == RESOLVED_SERVER)
        run_server(&rel);
    run_task(&rel, &tasks[r.task]);
}
