/*
 * The build-time inputs of one launcher binary: the make variables of
 * launcher/Makefile, checked here once more where the compiler can.  Each
 * binary serves exactly one release, so these are constants, not settings.
 */
#ifndef LAUNCHER_CONFIG_H
#define LAUNCHER_CONFIG_H

#include "contract.h"

#ifndef LAUNCHER_RELEASE_NAME
#error "LAUNCHER_RELEASE_NAME must be defined (make RELEASE_NAME=...)"
#endif
/* Not given: the contract's port, the one every other part of build-image assumes. */
#ifndef LAUNCHER_DIST_PORT
#define LAUNCHER_DIST_PORT CONTRACT_DEFAULT_DIST_PORT
#endif
#ifndef LAUNCHER_REQUIRE_TLS
#error "LAUNCHER_REQUIRE_TLS must be defined (make REQUIRE_TLS=0|1)"
#endif
#ifndef LAUNCHER_EPMDLESS
#error "LAUNCHER_EPMDLESS must be defined (make EPMDLESS=0|1)"
#endif

_Static_assert(LAUNCHER_DIST_PORT >= 1 && LAUNCHER_DIST_PORT <= 65535,
               "DIST_PORT must be a TCP port number");
_Static_assert(sizeof LAUNCHER_RELEASE_NAME <= 65, "RELEASE_NAME is at most 64 characters");
_Static_assert(LAUNCHER_REQUIRE_TLS == 0 || LAUNCHER_REQUIRE_TLS == 1, "REQUIRE_TLS is 0 or 1");
_Static_assert(LAUNCHER_EPMDLESS == 0 || LAUNCHER_EPMDLESS == 1, "EPMDLESS is 0 or 1");

#define LAUNCHER_STRINGIFY_(x) #x
#define LAUNCHER_STRINGIFY(x) LAUNCHER_STRINGIFY_(x)
#define DIST_PORT_TEXT LAUNCHER_STRINGIFY(LAUNCHER_DIST_PORT)

#endif
