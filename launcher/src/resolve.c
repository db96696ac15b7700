#include "resolve.h"

#include "contract.h"

#include <string.h>

/* Commands of the stock release script that take or run caller expressions. */
static const char *const expression_commands[] = CONTRACT_EXPRESSION_COMMANDS;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_version_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '_' || c == '-' || c == '+';
}

/* ERTS versions are dotted numbers ("15.2.3"); anything else is not ERTS. */
static int valid_erts_vsn(const char *s, size_t len)
{
    int need_digit = 1;
    for (size_t i = 0; i < len; i++) {
        if (is_digit(s[i])) {
            need_digit = 0;
        } else if (s[i] == '.' && !need_digit) {
            need_digit = 1;
        } else {
            return 0;
        }
    }
    return !need_digit;
}

/* Release versions are free-form but must be one harmless path component. */
static int valid_rel_vsn(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_version_char(s[i]))
            return 0;
    }
    return 1;
}

static unsigned long leading_number(const char *s)
{
    unsigned long n = 0;
    for (; is_digit(*s) && n < 100000UL; s++)
        n = n * 10UL + (unsigned long)(*s - '0');
    return n;
}

int parse_start_erl_data(const char *buf, size_t len, struct start_erl_data *out)
{
    if (len > LAUNCHER_START_ERL_DATA_MAX)
        return -1;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    const char *space = memchr(buf, ' ', len);
    if (space == NULL)
        return -1;
    size_t erts_len = (size_t)(space - buf);
    size_t rel_len = len - erts_len - 1;
    const char *rel = space + 1;
    if (erts_len > LAUNCHER_VSN_MAX || rel_len > LAUNCHER_VSN_MAX)
        return -1;
    if (!valid_erts_vsn(buf, erts_len) || !valid_rel_vsn(rel, rel_len))
        return -1;
    memcpy(out->erts_vsn, buf, erts_len);
    out->erts_vsn[erts_len] = '\0';
    memcpy(out->rel_vsn, rel, rel_len);
    out->rel_vsn[rel_len] = '\0';
    out->erts_major = leading_number(out->erts_vsn);
    return 0;
}

const char *launcher_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int is_server_word(const char *word)
{
    return strcmp(word, CONTRACT_SERVER_COMMAND) == 0 || strcmp(word, CONTRACT_SERVER_ALIAS) == 0;
}

static int is_expression_command(const char *word)
{
    for (size_t i = 0; expression_commands[i] != NULL; i++) {
        if (strcmp(word, expression_commands[i]) == 0)
            return 1;
    }
    return 0;
}

static int find_task(const char *word, const struct launcher_task *tasks, size_t *index)
{
    for (size_t i = 0; tasks[i].verb != NULL; i++) {
        if (strcmp(word, tasks[i].verb) == 0) {
            *index = i;
            return 1;
        }
    }
    return 0;
}

/* Classifies one command word; reports whether it names something we run. */
static int classify(const char *word, const struct launcher_task *tasks, struct resolution *out)
{
    out->word = word;
    if (is_server_word(word)) {
        out->kind = RESOLVED_SERVER;
        return 1;
    }
    if (find_task(word, tasks, &out->task)) {
        out->kind = RESOLVED_TASK;
        return 1;
    }
    out->kind = is_expression_command(word) ? REFUSED_EXPRESSION_COMMAND : REFUSED_UNKNOWN;
    return 0;
}

int launcher_is_command(const char *word, const struct launcher_task *tasks)
{
    size_t index;
    return is_server_word(word) || find_task(word, tasks, &index);
}

void resolve_command(int argc, char *const argv[], const struct launcher_task *tasks,
                     struct resolution *out)
{
    out->extra = NULL;
    out->task = 0;
    const char *self = (argc > 0 && argv[0] != NULL) ? launcher_basename(argv[0]) : "";
    struct resolution by_name;
    by_name.task = 0;
    by_name.extra = NULL;
    if (classify(self, tasks, &by_name) || by_name.kind == REFUSED_EXPRESSION_COMMAND) {
        *out = by_name;
        if (out->kind != REFUSED_EXPRESSION_COMMAND && argc > 1) {
            out->kind = REFUSED_EXTRA_ARGUMENT;
            out->extra = argv[1];
        }
        return;
    }
    if (argc < 2) {
        out->kind = RESOLVED_SERVER;
        out->word = CONTRACT_SERVER_COMMAND;
        return;
    }
    if (classify(argv[1], tasks, out) && argc > 2) {
        out->kind = REFUSED_EXTRA_ARGUMENT;
        out->extra = argv[2];
    }
}
