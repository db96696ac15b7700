#include "checks.h"

#include "contract.h"

#include <string.h>

static const char *const refused_prefixes[] = CONTRACT_REFUSED_ENV_PREFIXES;
static const char *const refused_names[] = CONTRACT_REFUSED_ENV_NAMES;
static const char *const allowed_names[] = CONTRACT_ALLOWED_ENV_NAMES;

/* The variables with a message of their own; every other refused one is generic. */
static const struct {
    const char *name;
    enum env_kind kind;
} explained[] = {
    {"ERL_AFLAGS", ENV_VM_FLAGS},          {"ERL_FLAGS", ENV_VM_FLAGS},
    {"ERL_ZFLAGS", ENV_VM_FLAGS},          {"ERL_LIBS", ENV_CODE_PATH},
    {"ERL_EPMD_PORT", ENV_EPMD},           {"ERL_EPMD_ADDRESS", ENV_EPMD},
    {"ERL_INETRC", ENV_INETRC},            {"ERL_INET_ETC_DIR", ENV_INETRC},
    {"ERL_CRASH_DUMP", ENV_CRASH_DUMP},    {"ERL_CRASH_DUMP_BYTES", ENV_CRASH_DUMP},
    {"ERL_CRASH_DUMP_NICE", ENV_CRASH_DUMP}, {"ELIXIR_ERL_OPTIONS", ENV_ELIXIR_OPTIONS},
    {"GLIBC_TUNABLES", ENV_GLIBC_TUNABLES}, {"GCONV_PATH", ENV_GCONV_PATH},
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int name_is(const char *name, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(name, word, len) == 0;
}

static int name_starts(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(name, prefix, n) == 0;
}

static int listed(const char *name, size_t len, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (name_is(name, len, list[i]))
            return 1;
    }
    return 0;
}

static int prefixed(const char *name, size_t len, const char *const *prefixes)
{
    for (size_t i = 0; prefixes[i] != NULL; i++) {
        if (name_starts(name, len, prefixes[i]))
            return 1;
    }
    return 0;
}

/* ERL_OTP<n>_FLAGS: erlexec reads the one of its own release, before ERL_AFLAGS. */
static int is_otp_flags(const char *name, size_t len)
{
    static const char head[] = "ERL_OTP", tail[] = "_FLAGS";
    size_t h = sizeof head - 1, t = sizeof tail - 1;
    if (len <= h + t || !name_starts(name, len, head) ||
        memcmp(name + len - t, tail, t) != 0)
        return 0;
    for (size_t i = h; i < len - t; i++) {
        if (!is_digit(name[i]))
            return 0;
    }
    return 1;
}

enum env_kind classify_env_name(const char *name, size_t len)
{
    if (listed(name, len, allowed_names))
        return ENV_ACCEPTED;
    if (!prefixed(name, len, refused_prefixes) && !listed(name, len, refused_names))
        return ENV_ACCEPTED;
    for (size_t i = 0; i < sizeof explained / sizeof explained[0]; i++) {
        if (name_is(name, len, explained[i].name))
            return explained[i].kind;
    }
    if (is_otp_flags(name, len))
        return ENV_VM_FLAGS;
    if (name_starts(name, len, "LD_"))
        return ENV_LOADER;
    if (name_starts(name, len, "ERL_"))
        return ENV_ERLANG;
    return ENV_LISTED;
}

void check_environment(char *const envp[], struct env_verdict *out)
{
    out->kind = ENV_ACCEPTED;
    out->name = NULL;
    out->name_len = 0;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        const char *equals = strchr(envp[i], '=');
        size_t len = equals != NULL ? (size_t)(equals - envp[i]) : strlen(envp[i]);
        enum env_kind kind = classify_env_name(envp[i], len);
        if (kind != ENV_ACCEPTED) {
            out->kind = kind;
            out->name = envp[i];
            out->name_len = len;
            return;
        }
    }
}

static int unset(const char *value) { return value == NULL || *value == '\0'; }

enum cookie_verdict check_cookie(const char *cookie, size_t min_len, const char *release_name)
{
    if (unset(cookie))
        return COOKIE_EMPTY;
    size_t len = strlen(cookie);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cookie[i];
        if (c <= 0x20 || c >= 0x7f)
            return COOKIE_BAD_BYTE;
    }
    if (len > COOKIE_MAX_LEN)
        return COOKIE_TOO_LONG;
    if (len < min_len)
        return COOKIE_SHORT;
    if (strcmp(cookie, release_name) == 0)
        return COOKIE_IS_RELEASE_NAME;
    return COOKIE_OK;
}

int cookie_verdict_is_weak(enum cookie_verdict v)
{
    return v == COOKIE_SHORT || v == COOKIE_IS_RELEASE_NAME;
}

int parse_cookie_min_len(const char *value, size_t *out)
{
    if (unset(value)) {
        *out = DEFAULT_COOKIE_MIN_LEN;
        return 0;
    }
    size_t n = 0;
    for (const char *p = value; *p != '\0'; p++) {
        /* Stop before overflow: anything past the maximum is refused anyway. */
        if (!is_digit(*p) || n > COOKIE_MAX_LEN)
            return -1;
        n = n * 10 + (size_t)(*p - '0');
    }
    if (n < 1 || n > COOKIE_MAX_LEN)
        return -1;
    *out = n;
    return 0;
}

enum weak_cookie_flag parse_weak_cookie_flag(const char *value)
{
    if (unset(value) || strcmp(value, "0") == 0)
        return WEAK_COOKIE_REFUSED;
    return strcmp(value, "1") == 0 ? WEAK_COOKIE_ALLOWED : WEAK_COOKIE_BAD_VALUE;
}

enum pod_ip_verdict check_pod_ip(const char *value)
{
    if (unset(value))
        return POD_IP_UNSET;
    size_t len = strlen(value);
    /* A leading '-' would read as a flag; 253 is the longest DNS name. */
    if (len > 253 || value[0] == '-' || value[0] == '.')
        return POD_IP_BAD;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (!is_digit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '.' &&
            c != '-')
            return POD_IP_BAD;
    }
    return POD_IP_OK;
}

const char *check_release_mode(const char *value)
{
    if (unset(value))
        return "embedded";
    if (strcmp(value, "embedded") == 0)
        return "embedded";
    if (strcmp(value, "interactive") == 0)
        return "interactive";
    return NULL;
}

enum release_tmp_verdict check_release_tmp(const char *value)
{
    if (unset(value))
        return RELEASE_TMP_UNSET;
    size_t len = strlen(value);
    if (len > RELEASE_TMP_MAX)
        return RELEASE_TMP_TOO_LONG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c >= 0x7f)
            return RELEASE_TMP_NOT_PRINTABLE;
    }
    if (value[0] != '/')
        return RELEASE_TMP_NOT_ABSOLUTE;
    /* Components are the runs between slashes; ".." anywhere leaves the directory. */
    for (const char *p = value; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return RELEASE_TMP_DOT_DOT;
        p += n;
        p += *p == '/';
    }
    return RELEASE_TMP_OK;
}

enum crash_dump_seconds_verdict check_crash_dump_seconds(const char *value)
{
    if (unset(value))
        return CRASH_DUMP_SECONDS_UNSET;
    const char *digits = value + (value[0] == '-');
    size_t n = strlen(digits);
    if (n < 1 || n > 9)
        return CRASH_DUMP_SECONDS_BAD;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(digits[i]))
            return CRASH_DUMP_SECONDS_BAD;
    }
    return CRASH_DUMP_SECONDS_OK;
}

enum cookie_verdict check_cookie_file(const char *data, size_t len, size_t min_len,
                                      const char *release_name, size_t *cookie_len)
{
    char cookie[COOKIE_MAX_LEN + 1];
    if (len > 0 && data[len - 1] == '\n')
        len--;
    *cookie_len = len;
    if (memchr(data, '\0', len) != NULL)
        return COOKIE_BAD_BYTE;
    /* Too long is only said of a cookie without bad bytes, as check_cookie does. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c <= 0x20 || c >= 0x7f)
            return COOKIE_BAD_BYTE;
    }
    if (len > COOKIE_MAX_LEN)
        return COOKIE_TOO_LONG;
    memcpy(cookie, data, len);
    cookie[len] = '\0';
    return check_cookie(cookie, min_len, release_name);
}

static int printable(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* Whether a component of the absolute path value is "." or "..". */
static int has_dot_component(const char *value)
{
    for (const char *p = value; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 1;
        p += n;
        p += *p == '/';
    }
    return 0;
}

enum credentials_dir_verdict check_credentials_dir(const char *value)
{
    static const char root[] = CONTRACT_CREDENTIALS_ROOT;
    if (unset(value))
        return CREDENTIALS_DIR_UNSET;
    size_t len = strlen(value);
    if (len > CREDENTIALS_DIR_MAX)
        return CREDENTIALS_DIR_TOO_LONG;
    if (!printable(value, len))
        return CREDENTIALS_DIR_NOT_PRINTABLE;
    /* The root itself is no service's directory: a name must follow it. */
    if (strncmp(value, root, sizeof root - 1) != 0 || value[sizeof root - 1] == '\0' ||
        value[sizeof root - 1] == '/')
        return CREDENTIALS_DIR_OUTSIDE;
    if (has_dot_component(value))
        return CREDENTIALS_DIR_DOT_DOT;
    return CREDENTIALS_DIR_OK;
}

/* Digits only, at most max_digits of them; their value in *out (no overflow). */
static int parse_digits(const char *value, size_t max_digits, unsigned long long *out)
{
    size_t len = strlen(value);
    if (len < 1 || len > max_digits)
        return -1;
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(value[i]))
            return -1;
        n = n * 10 + (unsigned long long)(value[i] - '0');
    }
    *out = n;
    return 0;
}

int parse_listen_fds(const char *value, unsigned *count)
{
    unsigned long long n = 0;
    *count = 0;
    if (unset(value))
        return 0;
    if (parse_digits(value, 4, &n) != 0 || n > LISTEN_FDS_MAX)
        return -1;
    *count = (unsigned)n;
    return 0;
}

int parse_pid(const char *value, long *pid)
{
    unsigned long long n = 0;
    *pid = 0;
    if (unset(value))
        return 0;
    if (parse_digits(value, 10, &n) != 0 || n < 1 || n > 2147483647ULL)
        return -1;
    *pid = (long)n;
    return 0;
}

int check_listen_fdnames(const char *value, unsigned *count)
{
    *count = 0;
    if (unset(value))
        return 0;
    for (const char *p = value;; p++) {
        size_t n = strcspn(p, ":");
        if (n > FDNAME_MAX || !printable(p, n) || ++*count > LISTEN_FDS_MAX)
            return -1;
        p += n;
        if (*p == '\0')
            return 0;
    }
}

enum notify_socket_verdict check_notify_socket(const char *value)
{
    if (unset(value))
        return NOTIFY_SOCKET_UNSET;
    size_t len = strlen(value);
    if (!printable(value, len))
        return NOTIFY_SOCKET_NOT_PRINTABLE;
    if ((value[0] != '/' && value[0] != '@') || len < 2)
        return NOTIFY_SOCKET_NOT_UNIX;
    if (len > NOTIFY_SOCKET_MAX)
        return NOTIFY_SOCKET_TOO_LONG;
    return NOTIFY_SOCKET_OK;
}

int check_watchdog_usec(const char *value)
{
    unsigned long long n = 0;
    if (unset(value))
        return 0;
    /* 19 digits stay below 2^64; systemd refuses 0 (no watchdog). */
    if (parse_digits(value, 19, &n) != 0 || n == 0)
        return -1;
    return 0;
}
