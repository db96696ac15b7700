/*
 * How the launcher speaks: the program name every message starts with, the
 * one-line warn/die reports, the printable filter for echoed values, and the
 * documented exit codes (launcher/README.md, "Exit codes").
 */
#ifndef LAUNCHER_REPORT_H
#define LAUNCHER_REPORT_H

#include "contract.h"

#include <stddef.h>

enum {
    EXIT_USAGE = 64,                             /* the command line names nothing we run */
    EXIT_INTERNAL = 70,                          /* a system call failed where it should not */
    EXIT_ENV_REFUSED = CONTRACT_EXIT_ENV_REFUSED, /* a refused variable is in the environment */
    EXIT_REFUSED = 78, /* the release, a knob's value or the secrets are not acceptable */
    EXIT_EXEC = 127    /* erlexec could not be executed */
};

/* Caller-supplied words are cut to this many characters when echoed. */
#define SHOWN_WORD_MAX 64

/* The name messages start with; the release name until this is called. */
void report_set_program(const char *name);

/* Run once by quit() and die() before exiting: undo what a refusal leaves behind. */
void report_on_exit(void (*cleanup)(void));

__attribute__((format(printf, 1, 2))) void warn(const char *fmt, ...);

__attribute__((noreturn, format(printf, 2, 3))) void die(int code, const char *fmt, ...);

/* Exit without a message, for failures a child process has already reported. */
__attribute__((noreturn)) void quit(int code);

/*
 * `word` cut to SHOWN_WORD_MAX characters (and cap - 1) with every byte
 * outside printable ASCII replaced by '?', in buf.  The same filter runs
 * over every whole message line, so nothing echoed can start a new line or
 * an escape sequence on the operator's terminal or in a log collector.
 */
const char *shown(const char *word, char *buf, size_t cap);

#endif
