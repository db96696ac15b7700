/*
 * systemd's socket activation and service notification, as the launcher
 * sees them: LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, NOTIFY_SOCKET and
 * WATCHDOG_USEC/WATCHDOG_PID are validated knobs that pass through to the
 * VM; the passed sockets (fds 3 onwards) stay open across the exec of
 * erlexec, which execs beam.smp in the same process, so LISTEN_PID stays
 * right.  The release's build_image_systemd module reads them there.
 */
#ifndef LAUNCHER_ACTIVATION_H
#define LAUNCHER_ACTIVATION_H

/* First fd systemd passes (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3

/*
 * Checks every variable (78 on a bad value) and returns how many sockets
 * were passed to this process: LISTEN_FDS when LISTEN_PID is our pid, else
 * 0.  Each of those fds must be open.
 */
unsigned read_activation_knobs(void);

/* In a child that must not hold the sockets (epmd): closes fds 3..3+count-1. */
void close_listen_fds(unsigned count);

#endif
