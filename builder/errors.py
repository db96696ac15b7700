"""One error hierarchy for the whole tool.

Every failure a user can cause or meet is a :class:`BuildImageError` with an
exit code of its own, so scripts can tell "your config is wrong" from "the
Docker engine is not running" without parsing text.  ``main()`` catches them
once; nothing else prints tracebacks.

Exit codes (also listed in the README):

==  =====================================================================
0   success
1   the image violates the verification policy
2   the image could not be read (hostile or broken layers, missing image)
3   the configuration file is invalid
4   a source could not be fetched or its checksum did not match
5   the Docker engine is not reachable
6   a build stage failed
7   a command the tool runs failed (mmdebstrap, apt, …)
8   certificates could not be written
9   a registry refused or could not be reached
10  ``pins --check``: a newer release of a pin exists (patch; minor too with --fail-on minor)
64  the command line is wrong
==  =====================================================================
"""

from __future__ import annotations


class BuildImageError(Exception):
    """Base of every error the tool reports to the user.

    ``hint`` says how to fix it; it is printed on its own line.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class PolicyViolation(BuildImageError):
    """The image was read and breaks the verification policy."""

    exit_code = 1


class ImageUnreadable(BuildImageError):
    """The image could not be read safely (missing, hostile or corrupt)."""

    exit_code = 2


class ConfigError(BuildImageError):
    """``build-image.yaml`` is missing, malformed or has a bad value."""

    exit_code = 3


class SourceError(BuildImageError):
    """A pinned source could not be fetched or does not match its checksum."""

    exit_code = 4


class EngineUnavailable(BuildImageError):
    """No Docker daemon answers."""

    exit_code = 5


class BuildFailed(BuildImageError):
    """A stage of the multi-stage build failed."""

    exit_code = 6


class CommandFailed(BuildImageError):
    """An external program the tool runs exited non-zero."""

    exit_code = 7


class CertificateError(BuildImageError):
    """Distribution certificates could not be generated or written."""

    exit_code = 8


class RegistryError(BuildImageError):
    """A registry could not be reached, refused a request or served other bytes."""

    exit_code = 9


class NewerReleaseAvailable(BuildImageError):
    """``pins --check`` found a newer release its gate counts: CI should move the pin (not a failure of the tool)."""

    exit_code = 10


class UsageError(BuildImageError):
    """The command line itself is wrong."""

    exit_code = 64
