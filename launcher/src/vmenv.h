/*
 * The environment handed to erlexec: what bin/<release>, releases/<vsn>/elixir
 * and erts/bin/erl would export, set by the launcher itself so nothing the
 * caller set under those names survives (launcher/README.md, "Environment
 * handed to erlexec").
 */
#ifndef LAUNCHER_VMENV_H
#define LAUNCHER_VMENV_H

#include "release.h"

void env_set(const char *name, const char *value);
void env_unset(const char *name);

/* Common to the server and task verbs. */
void export_release_env(const struct release *rel, const char *mode);

/* The server: a named, distributed node on the pinned port. */
void export_server_env(const char *node);

/* A task verb: a non-distributed VM that runs one compiled-in expression. */
void export_task_env(const char *verb);

#endif
