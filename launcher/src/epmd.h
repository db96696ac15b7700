/*
 * epmd without /bin/sh and without a zombie: erlexec would start epmd
 * through system(), so the launcher starts `<bindir>/epmd -daemon` itself,
 * from a short-lived subreaper helper that reaps epmd's double fork before
 * the exec (launcher/README.md, "epmd without a zombie").
 */
#ifndef LAUNCHER_EPMD_H
#define LAUNCHER_EPMD_H

/*
 * Starts epmd; returns once it serves or is gone, exits 70 when it cannot
 * start.  The helper first closes the listen_fds sockets systemd passed
 * (fds 3 onwards): they are the VM's, and an epmd daemon holding them
 * would keep them open after the VM stops.
 */
void start_epmd(const char *epmd, unsigned listen_fds);

#endif
