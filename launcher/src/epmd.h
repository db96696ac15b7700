/*
 * epmd without /bin/sh and without a zombie: erlexec would start epmd
 * through system(), so the launcher starts `<bindir>/epmd -daemon` itself,
 * from a short-lived subreaper helper that reaps epmd's double fork before
 * the exec (launcher/README.md, "epmd without a zombie").
 */
#ifndef LAUNCHER_EPMD_H
#define LAUNCHER_EPMD_H

/* Starts epmd; returns once it serves or is gone, exits 70 when it cannot start. */
void start_epmd(const char *epmd);

#endif
