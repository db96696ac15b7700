/*
 * Pure parsing and dispatch logic of the launcher, kept apart from main.c so
 * the fuzz target can drive exactly the code the launcher runs, without any
 * file system or environment side effects.
 */
#ifndef LAUNCHER_RESOLVE_H
#define LAUNCHER_RESOLVE_H

#include <stddef.h>

/* Longest ERTS or release version accepted from start_erl.data. */
#define LAUNCHER_VSN_MAX 64

/* start_erl.data larger than this is not a version file. */
#define LAUNCHER_START_ERL_DATA_MAX 256

struct launcher_task {
    const char *verb;
    const char *expression;
};

struct start_erl_data {
    char erts_vsn[LAUNCHER_VSN_MAX + 1];
    char rel_vsn[LAUNCHER_VSN_MAX + 1];
    unsigned long erts_major;
};

/*
 * Parses "ERTS_VSN REL_VSN" with an optional final newline.  Both versions
 * become path components, so anything that could walk out of the release
 * (slashes, "..", spaces, control bytes) is rejected rather than cleaned.
 * Returns 0 on success, -1 when the content is malformed.
 */
int parse_start_erl_data(const char *buf, size_t len, struct start_erl_data *out);

enum resolution_kind {
    RESOLVED_SERVER,
    RESOLVED_TASK,
    REFUSED_UNKNOWN,
    REFUSED_EXTRA_ARGUMENT,
    REFUSED_EXPRESSION_COMMAND
};

struct resolution {
    enum resolution_kind kind;
    /* The command word as the caller gave it (argv[0]'s basename or argv[1]). */
    const char *word;
    /* For REFUSED_EXTRA_ARGUMENT: the first argument that is too many. */
    const char *extra;
    /* For RESOLVED_TASK: index into the task table. */
    size_t task;
};

/* The part of a path after its last '/', or the whole string. */
const char *launcher_basename(const char *path);

/* Whether `word` names a command: server, start or a task verb. */
int launcher_is_command(const char *word, const struct launcher_task *tasks);

/*
 * Busybox-style dispatch: a known command as basename(argv[0]) takes no
 * arguments; otherwise argv[1] is the command (none means server) and
 * nothing may follow it.  `tasks` ends with a {NULL, NULL} entry.
 */
void resolve_command(int argc, char *const argv[], const struct launcher_task *tasks,
                     struct resolution *out);

#endif
