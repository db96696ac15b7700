#define _POSIX_C_SOURCE 200809L

#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LAUNCHER_RELEASE_NAME
#error "LAUNCHER_RELEASE_NAME must be defined (make RELEASE_NAME=...)"
#endif

/* Room for a message naming two paths of PATH_MAX, with text around them. */
#define REPORT_LINE_MAX 10240

static const char *prog = LAUNCHER_RELEASE_NAME;
static void (*on_exit_cleanup)(void);

void report_set_program(const char *name) { prog = name; }

void report_on_exit(void (*cleanup)(void)) { on_exit_cleanup = cleanup; }

static int printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

const char *shown(const char *word, char *buf, size_t cap)
{
    size_t i = 0;
    for (; word[i] != '\0' && i + 1 < cap && i < SHOWN_WORD_MAX; i++)
        buf[i] = printable((unsigned char)word[i]) ? word[i] : '?';
    buf[i] = '\0';
    return buf;
}

/*
 * Formats the whole line first and filters it, so a value that reaches a
 * message without shown() (a path under RELEASE_TMP, an errno text) still
 * cannot break it in two; one fwrite keeps it one line between writers.
 */
__attribute__((format(printf, 1, 0))) static void vreport(const char *fmt, va_list ap)
{
    static char line[REPORT_LINE_MAX];
    int head = snprintf(line, sizeof line, "%s: ", prog);
    size_t len = head > 0 ? (size_t)head : 0;
    if (len < sizeof line) {
        int body = vsnprintf(line + len, sizeof line - len, fmt, ap);
        len += body > 0 ? (size_t)body : 0;
    }
    if (len >= sizeof line) {
        len = sizeof line - 1;
        memcpy(line + len - 3, "...", 3);
    }
    for (size_t i = 0; i < len; i++)
        line[i] = printable((unsigned char)line[i]) ? line[i] : '?';
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

void quit(int code)
{
    void (*cleanup)(void) = on_exit_cleanup;
    on_exit_cleanup = NULL;
    if (cleanup != NULL)
        cleanup();
    exit(code);
}

void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    quit(code);
}
