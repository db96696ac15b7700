#define _POSIX_C_SOURCE 200809L

#include "activation.h"

#include "checks.h"
#include "report.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

_Static_assert(LISTEN_FDS_MAX == 1024 && FDNAME_MAX == 255 && NOTIFY_SOCKET_MAX == 107,
               "the messages below name these limits");

#define SET_BY_SYSTEMD "systemd sets it (socket activation): unset it or fix the unit"

__attribute__((noreturn)) static void refuse(const char *name, const char *value,
                                             const char *accepted, const char *fix)
{
    char buf[SHOWN_WORD_MAX + 1];
    die(EXIT_REFUSED, "%s must be %s, got '%s'; %s", name, accepted, shown(value, buf, sizeof buf),
        fix);
}

static long read_pid(const char *name)
{
    long pid;
    const char *value = getenv(name);
    if (parse_pid(value, &pid) != 0)
        refuse(name, value, "a process id in digits", SET_BY_SYSTEMD);
    return pid;
}

static void read_notify_knobs(void)
{
    const char *notify = getenv("NOTIFY_SOCKET");
    switch (check_notify_socket(notify)) {
    case NOTIFY_SOCKET_UNSET:
    case NOTIFY_SOCKET_OK:
        break;
    case NOTIFY_SOCKET_NOT_UNIX:
    case NOTIFY_SOCKET_NOT_PRINTABLE:
    case NOTIFY_SOCKET_TOO_LONG:
        refuse("NOTIFY_SOCKET", notify,
               "an AF_UNIX socket, an absolute path or '@' and an abstract name, of printable "
               "characters, at most 107", "systemd sets it (Type=notify): unset it or fix the unit");
    }
    const char *usec = getenv("WATCHDOG_USEC");
    if (check_watchdog_usec(usec) != 0)
        refuse("WATCHDOG_USEC", usec, "a number of microseconds, 1 to 19 digits, not 0",
               "systemd sets it (WatchdogSec=): unset it or fix the unit");
    read_pid("WATCHDOG_PID");
}

/* A passed fd that is not open would make the VM wrap whatever it opens there. */
static void require_open(unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        if (fcntl((int)(LISTEN_FDS_START + i), F_GETFD) == -1)
            die(EXIT_REFUSED, "LISTEN_FDS=%u but fd %u is not open; the process that starts "
                "the server must pass the sockets as fds %d onwards", count,
                LISTEN_FDS_START + i, LISTEN_FDS_START);
    }
}

unsigned read_activation_knobs(void)
{
    unsigned count, names;
    const char *fds = getenv("LISTEN_FDS");
    const char *fdnames = getenv("LISTEN_FDNAMES");
    if (parse_listen_fds(fds, &count) != 0)
        refuse("LISTEN_FDS", fds, "a number of sockets from 0 to 1024", SET_BY_SYSTEMD);
    long pid = read_pid("LISTEN_PID");
    if (check_listen_fdnames(fdnames, &names) != 0)
        refuse("LISTEN_FDNAMES", fdnames,
               "names separated by ':', each of printable characters, at most 255",
               SET_BY_SYSTEMD " (FileDescriptorName=)");
    if (names > 0 && names != count)
        die(EXIT_REFUSED, "LISTEN_FDNAMES names %u sockets but LISTEN_FDS is %u; %s", names,
            count, SET_BY_SYSTEMD);
    read_notify_knobs();
    /* Sockets passed to another process (a wrapper's) are not ours to hand on. */
    if (pid != (long)getpid())
        return 0;
    require_open(count);
    return count;
}

void close_listen_fds(unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        close((int)(LISTEN_FDS_START + i));
}
