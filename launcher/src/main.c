/*
 * The shell-free release launcher.
 *
 * A distroless image has no /bin/sh, so the release's start scripts cannot
 * run.  This program does what that script chain does for the commands the
 * build allows (the server and the audited task verbs), then execv()s erlexec
 * directly.  The behaviour contract lives in launcher/README.md; this file
 * only puts the steps in order: refusals first, then the hand-over, then exec.
 */
#define _POSIX_C_SOURCE 200809L

#include "argv.h"
#include "config.h"
#include "credentials.h"
#include "epmd.h"
#include "knobs.h"
#include "release.h"
#include "report.h"
#include "resolve.h"
#include "secrets.h"
#include "vmenv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef LAUNCHER_TASKS
#error "the generated task header (make TASKS_HEADER=...) must define LAUNCHER_TASKS"
#endif

extern char **environ;

#define LAUNCHER_TASK_ENTRY(verb, expression) {verb, expression},
static const struct launcher_task tasks[] = {LAUNCHER_TASKS(LAUNCHER_TASK_ENTRY){NULL, NULL}};

/*
 * A parent that ignores SIGCHLD (some supervisors, `nohup`-style wrappers)
 * passes that on through exec: the kernel then reaps our children itself,
 * waitpid() fails, epmd cannot be started and the VM inherits it too.
 */
static void reset_sigchld(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGCHLD, &dfl, NULL) != 0)
        die(EXIT_INTERNAL, "cannot reset SIGCHLD (%s)", strerror(errno));
}

static void allowed_commands(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s, %s", CONTRACT_SERVER_COMMAND, CONTRACT_SERVER_ALIAS);
    size_t used = n > 0 ? (size_t)n : 0;
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

/*
 * In interactive mode (every task verb: no -mode) the code path starts with
 * ".", the working directory: a module there would shadow the release's.
 */
static void enter_root(const struct release *rel)
{
    if (chdir(rel->root) != 0)
        die(EXIT_REFUSED, "cannot change to the release root %s (%s); it must be readable",
            rel->root, strerror(errno));
}

__attribute__((noreturn)) static void exec_erlexec(const struct release *rel,
                                                   struct erl_argv *b)
{
    execv(rel->erlexec, b->args);
    int err = errno;
    die(EXIT_EXEC, "cannot execute %s (%s); the release's ERTS is missing or broken",
        rel->erlexec, strerror(err));
}

__attribute__((noreturn)) static void run_server(const struct release *rel)
{
    static char node[512];
    static struct erl_argv b;
    struct knobs k;
    read_common_knobs(&k);
    read_server_knobs(&k);
    /* Credentials first: their refusal says how to bind them where the VM looks. */
    if (LAUNCHER_REQUIRE_TLS && k.credentials != NULL)
        credentials_check_dist_certs(k.credentials, rel);
    if (LAUNCHER_REQUIRE_TLS)
        release_check_tls_files(rel);
    compose(node, sizeof node, "%s@%s", LAUNCHER_RELEASE_NAME, k.host);

    export_release_env(rel, k.mode);
    export_server_env(node);
    const char *sys_config = place_sys_config(rel, 1);
    hand_over_cookie(k.cookie);
    if (!LAUNCHER_EPMDLESS)
        start_epmd(rel->epmd, k.listen_fds);
    build_server_argv(&b, rel, k.mode, node, sys_config);
    exec_erlexec(rel, &b);
}

__attribute__((noreturn)) static void run_task(const struct release *rel,
                                               const struct launcher_task *t)
{
    static struct erl_argv b;
    struct knobs k;
    read_common_knobs(&k);
    export_release_env(rel, k.mode);
    export_task_env(t->verb);
    const char *sys_config = place_sys_config(rel, 0);
    build_task_argv(&b, rel, sys_config, t->expression);
    exec_erlexec(rel, &b);
}

int main(int argc, char *argv[])
{
    static struct release rel;
    struct resolution r;
    reset_sigchld();
    const char *self = (argc > 0 && argv[0] != NULL) ? launcher_basename(argv[0]) : "";
    if (launcher_is_command(self, tasks))
        report_set_program(self);
    resolve_command(argc, argv, tasks, &r);
    refuse_command(&r);
    refuse_environment(environ);

    release_locate(&rel, r.kind == RESOLVED_SERVER);
    if (access(rel.erlexec, X_OK) != 0)
        die(EXIT_EXEC, "cannot execute %s (%s); the release's ERTS is missing or broken",
            rel.erlexec, strerror(errno));
    enter_root(&rel);
    if (r.kind == RESOLVED_SERVER)
        run_server(&rel);
    run_task(&rel, &tasks[r.task]);
}
