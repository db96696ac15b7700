/*
 * libFuzzer target for the code that reads untrusted input before anything
 * else: the start_erl.data parser and the command dispatch.  The input is
 * used whole as start_erl.data, then split at NUL bytes into an argv.
 */
#include "resolve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_ARGS 8

static const struct launcher_task fuzz_tasks[] = {
    {"migrate", "Hello.Release.migrate()"},
    {"seed", "Hello.Release.seed()"},
    {NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static void check_dispatch(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *argv[FUZZ_MAX_ARGS + 1];
    int argc = 0;
    if (copy == NULL)
        return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t start = 0; start <= size && argc < FUZZ_MAX_ARGS;) {
        argv[argc++] = copy + start;
        start += strlen(copy + start) + 1;
    }
    argv[argc] = NULL;
    struct resolution r;
    resolve_command(argc, argv, fuzz_tasks, &r);
    if (r.kind == RESOLVED_TASK &&
        strcmp(r.word, fuzz_tasks[r.task].verb) != 0)
        abort();
    if (r.kind == RESOLVED_SERVER && strcmp(r.word, "server") != 0 && strcmp(r.word, "start") != 0)
        abort();
    if (r.kind == REFUSED_EXTRA_ARGUMENT && r.extra == NULL)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_versions(data, size);
    check_dispatch(data, size);
    return 0;
}
