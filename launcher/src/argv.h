/*
 * The erlexec command lines of the server and of a task verb.  Every word
 * is decided here or at build time (the task expression, LAUNCHER_VM_FLAGS);
 * the order matters, see add_vm_args() in argv.c.
 */
#ifndef LAUNCHER_ARGV_H
#define LAUNCHER_ARGV_H

#include "release.h"

#include <stddef.h>

#ifndef LAUNCHER_VM_FLAGS
#error "the generated task header (make TASKS_HEADER=...) must define LAUNCHER_VM_FLAGS"
#endif

#define ARGV_COUNT_WORD(word) +1
/* The most words the launcher itself adds, with room to spare, plus the build's VM flags. */
#define ERL_ARGV_MAX (48 + (0 LAUNCHER_VM_FLAGS(ARGV_COUNT_WORD)))

struct erl_argv {
    char *args[ERL_ARGV_MAX];
    size_t n;
};

void build_server_argv(struct erl_argv *b, const struct release *rel, const char *mode,
                       const char *node, const char *sys_config);

void build_task_argv(struct erl_argv *b, const struct release *rel, const char *sys_config,
                     const char *expression);

#endif
