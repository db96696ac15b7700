#define _POSIX_C_SOURCE 200809L

#include "knobs.h"

#include "activation.h"
#include "checks.h"
#include "config.h"
#include "credentials.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>

#define VM_FLAGS_FIX "VM flags are fixed at build time (launcher.vm_flags in build-image.yaml)"

/* What a refused variable would do, and how to fix it: "<what>; <fix>". */
static const char *refusal_text(enum env_kind kind)
{
    switch (kind) {
    case ENV_VM_FLAGS:
        return "erlexec would add its words to the VM's flags, where they can change the "
               "distribution or the cookie or run code; unset it: " VM_FLAGS_FIX;
    case ENV_CODE_PATH:
        return "the code server would load modules from its directories ahead of the "
               "release's; unset it: the release's code is fixed at build time";
    case ENV_EPMD:
        return "erlexec passes it on to the VM and epmd reads it, so nodes would register with "
               "and look up an epmd the build did not choose; unset it: the distribution is "
               "fixed at build time";
    case ENV_INETRC:
        return "the kernel would read host and name server settings from there and resolve "
               "node names by them; unset it: name resolution comes from the image and the "
               "platform";
    case ENV_CRASH_DUMP:
        return "the VM would write its crash dump, which holds secrets, as it says; unset it: "
               "ERL_CRASH_DUMP_SECONDS is the one crash dump setting";
    case ENV_ERLANG:
        return "erlexec, the VM or OTP read ERL_* variables as settings, and none but "
               "ERL_CRASH_DUMP_SECONDS may reach the VM; unset it: " VM_FLAGS_FIX;
    case ENV_ELIXIR_OPTIONS:
        return "only the stock start script read it and this launcher never passes it on, so "
               "it would do nothing; unset it: " VM_FLAGS_FIX;
    case ENV_LOADER:
        return "the dynamic loader would load or redirect code in erlexec, epmd and the VM; "
               "unset it: the image's libraries are fixed at build time";
    case ENV_GLIBC_TUNABLES:
        return "glibc would change its loader and allocator in erlexec, epmd and the VM; unset "
               "it: the image's C library settings are fixed at build time";
    case ENV_GCONV_PATH:
        return "glibc would load character set converters (shared objects) from there; unset "
               "it: the image's libraries are fixed at build time";
    case ENV_LISTED:
    case ENV_ACCEPTED:
        break;
    }
    return "the image contract (builder/contract.py) refuses it; unset it";
}

void refuse_environment(char *const envp[])
{
    struct env_verdict v;
    check_environment(envp, &v);
    if (v.kind == ENV_ACCEPTED)
        return;
    int len = (int)(v.name_len > SHOWN_WORD_MAX ? SHOWN_WORD_MAX : v.name_len);
    die(EXIT_ENV_REFUSED, "%.*s is set: %s", len, v.name, refusal_text(v.kind));
}

static void read_release_tmp(void)
{
    static const char *const reasons[] = {
        [RELEASE_TMP_NOT_ABSOLUTE] = "is not an absolute path",
        [RELEASE_TMP_NOT_PRINTABLE] = "has a control or non-ASCII byte",
        [RELEASE_TMP_DOT_DOT] = "has a '..' component",
        [RELEASE_TMP_TOO_LONG] = "is longer than 1024 bytes",
    };
    _Static_assert(RELEASE_TMP_MAX == 1024, "the message above names RELEASE_TMP_MAX");
    const char *tmp = getenv("RELEASE_TMP");
    enum release_tmp_verdict v = check_release_tmp(tmp);
    if (v == RELEASE_TMP_UNSET || v == RELEASE_TMP_OK)
        return;
    char buf[SHOWN_WORD_MAX + 1];
    die(EXIT_REFUSED,
        "RELEASE_TMP '%s' %s; set it to an absolute path of printable characters without '..', "
        "on a tmpfs",
        shown(tmp, buf, sizeof buf), reasons[v]);
}

static void read_crash_dump_seconds(void)
{
    const char *seconds = getenv("ERL_CRASH_DUMP_SECONDS");
    if (check_crash_dump_seconds(seconds) != CRASH_DUMP_SECONDS_BAD)
        return;
    char buf[SHOWN_WORD_MAX + 1];
    die(EXIT_REFUSED,
        "ERL_CRASH_DUMP_SECONDS must be an integer (0: no crash dump, the default), got '%s'",
        shown(seconds, buf, sizeof buf));
}

void read_common_knobs(struct knobs *k)
{
    const char *mode = getenv("RELEASE_MODE");
    k->mode = check_release_mode(mode);
    if (k->mode == NULL) {
        char buf[SHOWN_WORD_MAX + 1];
        die(EXIT_REFUSED, "RELEASE_MODE must be 'embedded' or 'interactive', got '%s'",
            shown(mode, buf, sizeof buf));
    }
    read_release_tmp();
    read_crash_dump_seconds();
}

static size_t read_cookie_min_len(void)
{
    const char *value = getenv("DIST_COOKIE_MIN_LEN");
    size_t n;
    if (parse_cookie_min_len(value, &n) != 0) {
        char buf[SHOWN_WORD_MAX + 1];
        die(EXIT_REFUSED, "DIST_COOKIE_MIN_LEN must be a number from 1 to %d, got '%s'",
            COOKIE_MAX_LEN, shown(value, buf, sizeof buf));
    }
    return n;
}

static int read_weak_cookie_flag(void)
{
    const char *value = getenv("DIST_ALLOW_WEAK_COOKIE");
    enum weak_cookie_flag flag = parse_weak_cookie_flag(value);
    if (flag == WEAK_COOKIE_BAD_VALUE) {
        char buf[SHOWN_WORD_MAX + 1];
        die(EXIT_REFUSED,
            "DIST_ALLOW_WEAK_COOKIE must be unset, '0' or '1' (local work only), got '%s'",
            shown(value, buf, sizeof buf));
    }
    return flag == WEAK_COOKIE_ALLOWED;
}

/* Where the cookie came from, for every message: the variable or the credential file. */
struct cookie_source {
    const char *name; /* RELEASE_COOKIE, or the credential's path */
    int is_file;
};

/* Empty, bad bytes, too long: never accepted, whatever DIST_ALLOW_WEAK_COOKIE says. */
__attribute__((noreturn)) static void refuse_cookie(const struct cookie_source *src,
                                                    enum cookie_verdict v, size_t len,
                                                    size_t min_len)
{
    if (v == COOKIE_EMPTY && src->is_file)
        die(EXIT_REFUSED, "%s is empty; write at least %zu random characters into the "
            "credential file the unit names (LoadCredential=%s:<file>)", src->name, min_len,
            CONTRACT_COOKIE_CREDENTIAL);
    if (v == COOKIE_EMPTY)
        die(EXIT_REFUSED,
            "RELEASE_COOKIE is empty or unset; mount the cookie secret and set RELEASE_COOKIE to "
            "at least %zu random characters",
            min_len);
    if (v == COOKIE_TOO_LONG && src->is_file)
        die(EXIT_REFUSED, "%s is longer than %d characters, the most the VM accepts", src->name,
            COOKIE_MAX_LEN);
    if (v == COOKIE_TOO_LONG)
        die(EXIT_REFUSED, "%s is %zu characters; the VM accepts at most %d", src->name, len,
            COOKIE_MAX_LEN);
    die(EXIT_REFUSED, "%s contains a space, control or non-ASCII byte; use printable ASCII only "
        "(for example base64 of 32 random bytes)", src->name);
}

/* Fail closed: a guessable cookie is a remote shell for anyone on the network. */
static void judge_cookie(const struct cookie_source *src, enum cookie_verdict v, size_t len,
                         size_t min_len, int weak_ok)
{
    if (v == COOKIE_OK)
        return;
    if (!cookie_verdict_is_weak(v))
        refuse_cookie(src, v, len, min_len);
    const char *weakness = v == COOKIE_SHORT ? "is shorter than DIST_COOKIE_MIN_LEN"
                                             : "equals the release name";
    if (!weak_ok)
        die(EXIT_REFUSED,
            "%s %s (%zu characters, minimum %zu); %s at least %zu random characters "
            "(DIST_ALLOW_WEAK_COOKIE=1 accepts it for local work only)",
            src->name, weakness, len, min_len, src->is_file ? "write into it" : "set it to",
            min_len);
    warn("WARNING: %s %s; accepted only because DIST_ALLOW_WEAK_COOKIE=1 - never run like this "
         "outside local development",
         src->name, weakness);
}

/* The cookie credential, its trailing newline dropped; it lives as long as the launcher. */
static const char *read_credential_cookie(const char *dir, size_t min_len, int weak_ok)
{
    static struct credential_bytes file;
    static char cookie[COOKIE_MAX_LEN + 1];
    size_t len;
    credentials_read_cookie(dir, &file);
    enum cookie_verdict v =
        check_cookie_file(file.data, file.len, min_len, LAUNCHER_RELEASE_NAME, &len);
    struct cookie_source src = {file.path, 1};
    judge_cookie(&src, v, len, min_len, weak_ok);
    memcpy(cookie, file.data, len);
    cookie[len] = '\0';
    return cookie;
}

/*
 * From RELEASE_COOKIE, or under systemd from the `cookie` credential; never
 * both, so no one has to guess which one the node uses.
 */
static const char *read_cookie(const char *credentials)
{
    size_t min_len = read_cookie_min_len();
    int weak_ok = read_weak_cookie_flag();
    const char *cookie = getenv(CONTRACT_COOKIE_VAR);
    if (credentials != NULL && cookie != NULL && *cookie != '\0')
        die(EXIT_ENV_REFUSED,
            "%s and %s are both set: the cookie would come from two places; unset %s (under "
            "systemd the cookie is the credential '%s')",
            CONTRACT_COOKIE_VAR, CONTRACT_CREDENTIALS_VAR, CONTRACT_COOKIE_VAR,
            CONTRACT_COOKIE_CREDENTIAL);
    if (credentials != NULL)
        return read_credential_cookie(credentials, min_len, weak_ok);
    struct cookie_source src = {CONTRACT_COOKIE_VAR, 0};
    enum cookie_verdict v = check_cookie(cookie, min_len, LAUNCHER_RELEASE_NAME);
    judge_cookie(&src, v, cookie != NULL ? strlen(cookie) : 0, min_len, weak_ok);
    return cookie;
}

/* The host part of the node name; it goes into -name, so only host-name bytes. */
static const char *read_host(void)
{
    const char *ip = getenv("POD_IP");
    switch (check_pod_ip(ip)) {
    case POD_IP_OK:
        return ip;
    case POD_IP_UNSET:
        warn("POD_IP is not set; using 127.0.0.1, so other nodes cannot reach this one (set "
             "POD_IP from status.podIP)");
        return "127.0.0.1";
    case POD_IP_BAD:
        break;
    }
    char buf[SHOWN_WORD_MAX + 1];
    die(EXIT_REFUSED, "POD_IP '%s' is not an IPv4 address or host name; set it from status.podIP",
        shown(ip, buf, sizeof buf));
}

void read_server_knobs(struct knobs *k)
{
    k->credentials = credentials_locate();
    k->cookie = read_cookie(k->credentials);
    k->host = read_host();
    k->listen_fds = read_activation_knobs();
}
