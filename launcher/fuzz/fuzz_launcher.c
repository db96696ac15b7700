/*
 * libFuzzer target for the code that reads untrusted input before anything
 * else: the start_erl.data parser, the command dispatch, the environment
 * rule and the checks of the launcher's own knobs (src/resolve.c and
 * src/checks.c, both pure).  The input is used whole as start_erl.data and
 * as a cookie credential file, then split at NUL bytes into an argv, into
 * an envp, and into values for every knob check (the systemd ones too:
 * CREDENTIALS_DIRECTORY, LISTEN_*, NOTIFY_SOCKET, WATCHDOG_USEC).  Each verdict is checked against an independent
 * statement of the rule; a wrong one abort()s.
 */
#include "checks.h"
#include "resolve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_ARGS 8
#define FUZZ_MAX_ENV 32
#define FUZZ_RELEASE_NAME "hello"

static const struct launcher_task fuzz_tasks[] = {
    {"migrate", "Hello.Release.migrate()"},
    {"seed", "Hello.Release.seed()"},
    {NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits a NUL-terminated copy of the input at NUL bytes into at most max words. */
static size_t split_words(char *copy, size_t size, char **words, size_t max)
{
    size_t n = 0;
    for (size_t start = 0; start <= size && n < max;) {
        words[n++] = copy + start;
        start += strlen(copy + start) + 1;
    }
    words[n] = NULL;
    return n;
}

static void check_versions(const uint8_t *data, size_t size)
{
    struct start_erl_data out;
    if (parse_start_erl_data((const char *)data, size, &out) != 0)
        return;
    /* Accepted versions must be single, non-empty path components. */
    if (out.erts_vsn[0] == '\0' || out.rel_vsn[0] == '\0' || strchr(out.rel_vsn, '/') ||
        strchr(out.erts_vsn, '/') || out.rel_vsn[0] == '.')
        abort();
}

static void check_dispatch(char **argv, size_t argc)
{
    struct resolution r;
    resolve_command((int)argc, argv, fuzz_tasks, &r);
    if (r.kind == RESOLVED_TASK && strcmp(r.word, fuzz_tasks[r.task].verb) != 0)
        abort();
    if (r.kind == RESOLVED_SERVER && strcmp(r.word, "server") != 0 && strcmp(r.word, "start") != 0)
        abort();
    if (r.kind == REFUSED_EXTRA_ARGUMENT && r.extra == NULL)
        abort();
}

/* The rule as launcher/README.md states it, written apart from checks.c. */
static int oracle_refuses(const char *name, size_t len)
{
    static const char *const names[] = {"ELIXIR_ERL_OPTIONS", "GLIBC_TUNABLES", "GCONV_PATH"};
    static const char allowed[] = "ERL_CRASH_DUMP_SECONDS";
    if (len == sizeof allowed - 1 && strncmp(name, allowed, len) == 0)
        return 0;
    if ((len >= 4 && strncmp(name, "ERL_", 4) == 0) || (len >= 3 && strncmp(name, "LD_", 3) == 0))
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (len == strlen(names[i]) && strncmp(name, names[i], len) == 0)
            return 1;
    }
    return 0;
}

static size_t name_length(const char *entry)
{
    const char *equals = strchr(entry, '=');
    return equals != NULL ? (size_t)(equals - entry) : strlen(entry);
}

static void check_env_rule(char **envp, size_t count)
{
    struct env_verdict v;
    check_environment(envp, &v);
    size_t first = count;
    for (size_t i = 0; i < count && first == count; i++) {
        if (oracle_refuses(envp[i], name_length(envp[i])))
            first = i;
    }
    /* A refused name never passes; an accepted one is never refused; the first one is named. */
    if ((v.kind == ENV_ACCEPTED) != (first == count))
        abort();
    if (first < count && (v.name != envp[first] || v.name_len != name_length(envp[first])))
        abort();
    if (v.kind != ENV_ACCEPTED && classify_env_name(v.name, v.name_len) != v.kind)
        abort();
}

static int all_bytes(const char *s, int (*ok)(unsigned char))
{
    for (; *s != '\0'; s++) {
        if (!ok((unsigned char)*s))
            return 0;
    }
    return 1;
}

static int cookie_byte(unsigned char c) { return c > 0x20 && c < 0x7f; }
static int printable_byte(unsigned char c) { return c >= 0x20 && c < 0x7f; }
static int digit_byte(unsigned char c) { return c >= '0' && c <= '9'; }

static int host_byte(unsigned char c)
{
    return digit_byte(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-';
}

static void check_cookie_value(const char *value, size_t min_len)
{
    enum cookie_verdict v = check_cookie(value, min_len, FUZZ_RELEASE_NAME);
    size_t len = strlen(value);
    int acceptable = len > 0 && all_bytes(value, cookie_byte) && len <= COOKIE_MAX_LEN;
    if ((v == COOKIE_EMPTY) != (len == 0))
        abort();
    if (v == COOKIE_OK &&
        (!acceptable || len < min_len || strcmp(value, FUZZ_RELEASE_NAME) == 0))
        abort();
    /* Only a cookie that is otherwise fine may be called merely weak. */
    if (cookie_verdict_is_weak(v) && !acceptable)
        abort();
}

static void check_knob_values(const char *value)
{
    size_t len = strlen(value);
    size_t min_len = 0;
    if (parse_cookie_min_len(value, &min_len) == 0) {
        if (min_len < 1 || min_len > COOKIE_MAX_LEN || !all_bytes(value, digit_byte))
            abort();
    } else {
        min_len = DEFAULT_COOKIE_MIN_LEN;
    }
    check_cookie_value(value, min_len);

    enum weak_cookie_flag weak = parse_weak_cookie_flag(value);
    if ((weak == WEAK_COOKIE_ALLOWED) != (strcmp(value, "1") == 0))
        abort();

    enum pod_ip_verdict ip = check_pod_ip(value);
    if (ip == POD_IP_OK && (len > 253 || value[0] == '-' || !all_bytes(value, host_byte)))
        abort();

    const char *mode = check_release_mode(value);
    if (mode != NULL && strcmp(mode, "embedded") != 0 && strcmp(mode, "interactive") != 0)
        abort();

    if (check_release_tmp(value) == RELEASE_TMP_OK &&
        (value[0] != '/' || len > RELEASE_TMP_MAX || !all_bytes(value, printable_byte) ||
         strstr(value, "/../") != NULL || (len >= 3 && strcmp(value + len - 3, "/..") == 0)))
        abort();

    if (check_crash_dump_seconds(value) == CRASH_DUMP_SECONDS_OK) {
        const char *digits = value + (value[0] == '-');
        if (strlen(digits) < 1 || strlen(digits) > 9 || !all_bytes(digits, digit_byte))
            abort();
    }
}

/* A component of path (between slashes) is "." or "..". */
static int has_dot_component(const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < len; i++) {
        if (path[i] != '.' || (i > 0 && path[i - 1] != '/'))
            continue;
        size_t dots = (i + 1 < len && path[i + 1] == '.') ? 2 : 1;
        if (path[i + dots] == '/' || path[i + dots] == '\0')
            return 1;
    }
    return 0;
}

static void check_credentials_value(const char *value)
{
    static const char root[] = "/run/credentials/";
    size_t n = sizeof root - 1;
    if (check_credentials_dir(value) != CREDENTIALS_DIR_OK)
        return;
    /* Accepted: under the root, a name right after it, nothing that climbs or hides. */
    if (strncmp(value, root, n) != 0 || value[n] == '\0' || value[n] == '/' ||
        strlen(value) > CREDENTIALS_DIR_MAX || !all_bytes(value, printable_byte) ||
        has_dot_component(value))
        abort();
}

/* The cookie file rule: one newline dropped, then exactly the RELEASE_COOKIE rule. */
static void check_cookie_file_value(const uint8_t *data, size_t size)
{
    size_t len = 0;
    enum cookie_verdict v = check_cookie_file((const char *)data, size, DEFAULT_COOKIE_MIN_LEN,
                                              FUZZ_RELEASE_NAME, &len);
    size_t expect = size > 0 && data[size - 1] == '\n' ? size - 1 : size;
    if (len != expect)
        abort();
    if (memchr(data, '\0', expect) != NULL || expect > COOKIE_MAX_LEN) {
        if (v == COOKIE_OK || cookie_verdict_is_weak(v))
            abort();
        return;
    }
    char copy[COOKIE_MAX_LEN + 1];
    memcpy(copy, data, expect);
    copy[expect] = '\0';
    if (v != check_cookie(copy, DEFAULT_COOKIE_MIN_LEN, FUZZ_RELEASE_NAME))
        abort();
}

static int fdname_byte(unsigned char c) { return printable_byte(c); }

static void check_activation_values(const char *value)
{
    size_t len = strlen(value);
    unsigned count = 0;
    long pid = 0;
    if (parse_listen_fds(value, &count) == 0 &&
        (count > LISTEN_FDS_MAX || (len > 0 && !all_bytes(value, digit_byte))))
        abort();
    if (parse_pid(value, &pid) == 0 && len > 0 &&
        (pid < 1 || pid > 2147483647L || !all_bytes(value, digit_byte)))
        abort();
    if (check_listen_fdnames(value, &count) == 0 && len > 0) {
        size_t run = 0, names = 1;
        for (const char *p = value; *p != '\0'; p++) {
            run = *p == ':' ? 0 : run + 1;
            names += *p == ':';
            if (run > FDNAME_MAX || !fdname_byte((unsigned char)*p))
                abort();
        }
        if (names != count || count > LISTEN_FDS_MAX)
            abort();
    }
    if (check_notify_socket(value) == NOTIFY_SOCKET_OK &&
        ((value[0] != '/' && value[0] != '@') || len < 2 || len > NOTIFY_SOCKET_MAX ||
         !all_bytes(value, printable_byte)))
        abort();
    if (check_watchdog_usec(value) == 0 && len > 0 &&
        (len > 19 || !all_bytes(value, digit_byte) || strspn(value, "0") == len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *words[FUZZ_MAX_ENV + 1];
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    check_versions(data, size);

    size_t n = split_words(copy, size, words, FUZZ_MAX_ENV);
    check_env_rule(words, n);
    for (size_t i = 0; i < n; i++) {
        check_knob_values(words[i]);
        check_credentials_value(words[i]);
        check_activation_values(words[i]);
    }
    check_cookie_file_value(data, size);
    if (n > FUZZ_MAX_ARGS)
        words[FUZZ_MAX_ARGS] = NULL;
    check_dispatch(words, n > FUZZ_MAX_ARGS ? FUZZ_MAX_ARGS : n);
    free(copy);
    return 0;
}
