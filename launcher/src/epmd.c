#define _POSIX_C_SOURCE 200809L

#include "epmd.h"

#include "activation.h"
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * How long the epmd helper waits, at most, for epmd's double fork to settle
 * (the intermediate process gone, the daemon listening or gone).  It takes
 * milliseconds; the bound only matters for an epmd that never listens.
 */
#define EPMD_SETTLE_SECONDS 5
#define EPMD_POLL_NS 5000000L

/* The status a wait reported, as a shell would show it: exit code or 128 + signal. */
static int shown_status(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int wait_for_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* Time left until deadline, or -1 once it has passed. */
static int time_left(const struct timespec *deadline, struct timespec *left)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return -1;
    left->tv_sec = deadline->tv_sec - now.tv_sec;
    left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
    if (left->tv_nsec < 0) {
        left->tv_nsec += 1000000000L;
        left->tv_sec--;
    }
    return left->tv_sec < 0 ? -1 : 0;
}

/* Reads the parent pid of pid from /proc/<pid>/stat; -1 if it is gone. */
static pid_t parent_of(const char *pid)
{
    char path[64], buf[512];
    if (snprintf(path, sizeof path, "/proc/%s/stat", pid) >= (int)sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (name) state ppid ...": the name may hold anything, even ')'. */
    char *end = strrchr(buf, ')');
    int ppid;
    if (end == NULL || sscanf(end + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* Whether /proc/<pid>/net/<table> lists one of inodes as a listening socket. */
static int listed_as_listening(pid_t pid, const char *table, const unsigned long *inodes,
                               size_t count)
{
    enum { TCP_LISTEN = 0x0A };
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, table);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        unsigned state;
        unsigned long inode;
        /* sl local remote st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &state, &inode) != 2 ||
            state != TCP_LISTEN)
            continue;
        for (size_t i = 0; i < count && !found; i++)
            found = inodes[i] == inode;
    }
    fclose(f);
    return found;
}

/* Whether pid holds a listening TCP socket: epmd is serving, bind succeeded. */
static int has_listening_socket(pid_t pid)
{
    enum { MAX_SOCKETS = 16 };
    unsigned long inodes[MAX_SOCKETS];
    size_t count = 0;
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return 0;
    struct dirent *entry;
    while (count < MAX_SOCKETS && (entry = readdir(dir)) != NULL) {
        ssize_t n = readlinkat(dirfd(dir), entry->d_name, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (sscanf(target, "socket:[%lu]", &inodes[count]) == 1)
            count++;
    }
    closedir(dir);
    return count > 0 && (listed_as_listening(pid, "tcp", inodes, count) ||
                         listed_as_listening(pid, "tcp6", inodes, count));
}

/*
 * Whether the epmd daemon, by now our child, has settled: it listens, so it
 * will live on.  A daemon that cannot bind (another epmd already serves the
 * port in this network namespace) exits instead, and must be reaped here,
 * not by PID 1.  Without /proc this cannot be told: do not wait then.
 */
static int epmd_daemon_serving(void)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 1;
    pid_t self = getpid();
    int serving = 0;
    struct dirent *entry;
    while (!serving && (entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9' || parent_of(entry->d_name) != self)
            continue;
        serving = has_listening_socket((pid_t)atoi(entry->d_name));
    }
    closedir(proc);
    return serving;
}

/*
 * Reaps the processes orphaned to us (we are their subreaper): first the one
 * intermediate process of epmd's double fork, then the daemon too if it
 * exits instead of listening.  Returns once the intermediate is gone and the
 * daemon serves or is gone, or after EPMD_SETTLE_SECONDS; the daemon that
 * serves is never waited for, it must outlive us.  SIGCHLD is blocked, so
 * sigtimedwait() wakes at each exit; listening sends no signal, so it is
 * checked every EPMD_POLL_NS meanwhile.
 */
static int reap_epmd_orphans(const sigset_t *sigchld)
{
    struct timespec deadline, left;
    if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
        return -1;
    deadline.tv_sec += EPMD_SETTLE_SECONDS;
    int reaped = 0;
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            reaped++;
        if (pid < 0 && errno == ECHILD)
            return 0;
        if (pid < 0 && errno != EINTR)
            return -1;
        if ((reaped > 0 && epmd_daemon_serving()) || time_left(&deadline, &left) != 0)
            return 0;
        if (left.tv_sec > 0 || left.tv_nsec > EPMD_POLL_NS)
            left = (struct timespec){.tv_sec = 0, .tv_nsec = EPMD_POLL_NS};
        if (sigtimedwait(sigchld, NULL, &left) < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
    }
}

/*
 * The short-lived helper that starts epmd, run in a child of the launcher.
 * `epmd -daemon` forks, its child calls setsid() and forks the daemon, then
 * exits.  That intermediate process is orphaned; without a subreaper it would
 * go to PID 1, which in a container is the VM after our exec, and the VM
 * never reaps it: a zombie for the life of the container.  As subreaper this
 * helper reaps it instead, then exits, so the daemon alone is handed on to
 * PID 1, alive.  Every failure is reported here, on one line, as
 * EXIT_INTERNAL.
 */
static int epmd_helper(const char *epmd)
{
    sigset_t sigchld, previous;
    sigemptyset(&sigchld);
    sigaddset(&sigchld, SIGCHLD);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
        warn("cannot become the reaper of epmd's intermediate process (%s); the kernel must "
             "support PR_SET_CHILD_SUBREAPER (Linux 3.4 or later)",
             strerror(errno));
        return EXIT_INTERNAL;
    }
    if (sigprocmask(SIG_BLOCK, &sigchld, &previous) != 0) {
        warn("cannot block SIGCHLD to start epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        warn("cannot fork to start epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    if (pid == 0) {
        char *const argv[] = {(char *)epmd, "-daemon", NULL};
        sigprocmask(SIG_SETMASK, &previous, NULL);
        execv(epmd, argv);
        warn("cannot execute %s (%s)", epmd, strerror(errno));
        _exit(EXIT_EXEC);
    }
    int status;
    if (wait_for_child(pid, &status) != 0) {
        warn("cannot wait for epmd (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        warn("%s -daemon failed (status %d); the node cannot register its name", epmd,
             shown_status(status));
        return EXIT_INTERNAL;
    }
    if (reap_epmd_orphans(&sigchld) != 0) {
        warn("cannot reap epmd's intermediate process (%s)", strerror(errno));
        return EXIT_INTERNAL;
    }
    return 0;
}

/* Start epmd ourselves so erlexec never needs system() and thus /bin/sh. */
void start_epmd(const char *epmd, unsigned listen_fds)
{
    pid_t pid = fork();
    if (pid < 0)
        die(EXIT_INTERNAL, "cannot fork to start epmd (%s)", strerror(errno));
    if (pid == 0) {
        close_listen_fds(listen_fds);
        _exit(epmd_helper(epmd));
    }
    int status;
    if (wait_for_child(pid, &status) != 0)
        die(EXIT_INTERNAL, "cannot wait for epmd (%s)", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_INTERNAL)
        quit(EXIT_INTERNAL);
    die(EXIT_INTERNAL, "the helper starting epmd failed (status %d); the node cannot register "
        "its name", shown_status(status));
}
