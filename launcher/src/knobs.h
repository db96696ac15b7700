/*
 * The environment the caller hands in: the environment rule, enforced
 * before anything else, and the launcher's own knobs (launcher/README.md,
 * "The environment"), each read once, checked by checks.c and refused here
 * with a message that says what is wrong and how to fix it.
 */
#ifndef LAUNCHER_KNOBS_H
#define LAUNCHER_KNOBS_H

struct knobs {
    const char *mode;   /* RELEASE_MODE, "embedded" unless set */
    const char *cookie; /* server only: RELEASE_COOKIE, strong or accepted as weak */
    const char *host;   /* server only: POD_IP, or 127.0.0.1 with a warning */
    /* server only: the resolved CREDENTIALS_DIRECTORY, or NULL without credentials */
    const char *credentials;
    /* server only: sockets systemd passed to this process (fds 3 onwards), else 0 */
    unsigned listen_fds;
};

/* Exits 77 naming the first refused variable in envp, its value never echoed. */
void refuse_environment(char *const envp[]);

/* RELEASE_MODE, RELEASE_TMP and ERL_CRASH_DUMP_SECONDS: every command. */
void read_common_knobs(struct knobs *k);

/*
 * The server's: CREDENTIALS_DIRECTORY, DIST_COOKIE_MIN_LEN,
 * DIST_ALLOW_WEAK_COOKIE, the cookie (RELEASE_COOKIE or the credential),
 * POD_IP, then socket activation and notification (activation.h).
 */
void read_server_knobs(struct knobs *k);

#endif
