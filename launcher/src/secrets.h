/*
 * The hand-over of secrets and writable config to the VM: one fresh 0700
 * directory per boot under RELEASE_TMP, holding the cookie (the VM reads
 * $HOME/.erlang.cookie, so the cookie reaches no command line) and, for a
 * release with a runtime config, the sys.config copy the config provider
 * rewrites.  The server first removes the directories of earlier boots.
 */
#ifndef LAUNCHER_SECRETS_H
#define LAUNCHER_SECRETS_H

#include "release.h"

/*
 * Points RELEASE_SYS_CONFIG at the release's sys.config, or at a private
 * copy when it has a runtime config, and returns it (the -config value).
 * The server always gets a private directory, for the cookie.
 */
const char *place_sys_config(const struct release *rel, int is_server);

/* Writes the cookie into the private directory, points HOME there, unsets RELEASE_COOKIE. */
void hand_over_cookie(const char *cookie);

#endif
