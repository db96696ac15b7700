#define _POSIX_C_SOURCE 200809L

#include "vmenv.h"

#include "config.h"
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void env_set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        die(EXIT_INTERNAL, "cannot set %s (%s)", name, strerror(errno));
}

void env_unset(const char *name)
{
    if (unsetenv(name) != 0)
        die(EXIT_INTERNAL, "cannot unset %s (%s)", name, strerror(errno));
}

/* Knobs the caller may set (already checked by knobs.c); unset or "" means ours. */
static void set_default(const char *name, const char *value)
{
    const char *current = getenv(name);
    if (current == NULL || *current == '\0')
        env_set(name, value);
}

void export_release_env(const struct release *rel, const char *mode)
{
    env_set("ROOTDIR", rel->root);
    env_set("BINDIR", rel->bindir);
    env_set("EMU", "beam");
    env_set("PROGNAME", "erl");
    env_set("RELEASE_ROOT", rel->root);
    env_set("RELEASE_NAME", LAUNCHER_RELEASE_NAME);
    env_set("RELEASE_VSN", rel->versions.rel_vsn);
    env_set("RELEASE_MODE", mode);
    set_default("RELEASE_TMP", rel->tmp_default);
    env_set("RELEASE_VM_ARGS", rel->vm_args);
    /* Crash dumps hold secrets (the cookie, TLS keys in memory): off unless asked for. */
    set_default("ERL_CRASH_DUMP_SECONDS", "0");
}

void export_server_env(const char *node)
{
    env_set("RELEASE_COMMAND", "start");
    env_set("RELEASE_PROG", CONTRACT_SERVER_COMMAND);
    env_set("RELEASE_BOOT_SCRIPT", "start");
    env_set("RELEASE_DISTRIBUTION", "name");
    env_set("RELEASE_NODE", node);
    env_set("DIST_PORT", DIST_PORT_TEXT);
    env_set("PHX_SERVER", "true");
}

void export_task_env(const char *verb)
{
    env_set("RELEASE_COMMAND", "eval");
    env_set("RELEASE_PROG", verb);
    env_set("RELEASE_BOOT_SCRIPT", "start_clean");
    env_set("RELEASE_DISTRIBUTION", "none");
    env_unset("RELEASE_NODE");
    env_unset(CONTRACT_COOKIE_VAR);
    env_unset("PHX_SERVER");
}
