"""What the verifier requires, and the written exceptions to it.

The policy is data: ``config.py`` builds it from ``build-image.yaml``::

    verify:
      require: [pie, relro, stack-protector, fortify, nx-stack, no-rpath]
      waivers:
        - path: /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
          properties: [relro, stack-protector, fortify]
          reason: Debian builds libgcc without -z now or -fstack-protector

``required`` names ELF properties (:data:`ELF_PROPERTIES`).  The image checks
(:data:`IMAGE_CHECKS`) always run; a waiver can excuse a named path from any
property or image check, and its reason is printed next to what it excuses so
an exception is never silent.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from builder import contract
from builder.verify.elf import CET, FORTIFY, NO_RPATH, NX_STACK, PIE, RELRO, STACK_PROTECTOR

#: ELF properties judged on every executable and shared object, with what each means.
ELF_PROPERTIES: dict[str, str] = {
    PIE: "position independent: ET_DYN (PIE executable or shared object), no text relocations",
    RELRO: "full RELRO: PT_GNU_RELRO and BIND_NOW (-z relro -z now)",
    STACK_PROTECTOR: "imports __stack_chk_fail/__stack_chk_guard (or is the C library that defines it)",
    FORTIFY: "imports glibc *_chk functions (-D_FORTIFY_SOURCE); nothing fortifiable is not a failure",
    NX_STACK: "PT_GNU_STACK present and not executable",
    NO_RPATH: "no DT_RPATH or DT_RUNPATH",
    CET: "IBT and SHSTK in .note.gnu.property (informational unless required)",
}

#: Required unless build-image.yaml says otherwise: everything but CET, which
#: Debian 12's C start files drop from every linked program.
DEFAULT_REQUIRED: frozenset[str] = frozenset(ELF_PROPERTIES) - {CET}

#: Image-wide checks (always on; waivable per path).
IMAGE_CHECKS: dict[str, str] = {
    "readable-elf": "every file with the ELF magic parses as ELF (a corrupt one cannot be judged)",
    "no-shell": "no shell or interpreter (by name, by embedded interpreter library, or a #! script)",
    "run-user": "the image's USER is numeric, not root, and the configured run user",
    "entrypoint": "the image's ENTRYPOINT is exactly the launcher and the launcher is an ELF file",
    "hardlinked-entrypoints": "the launcher and every verb are hardlinks of one inode",
    "no-setuid": "no setuid or setgid files",
    "no-world-writable": "no world-writable files or directories (sticky /tmp excepted)",
    "read-only-app": "nothing under the app root is owned by, or group-writable for, the run user",
    "no-cookie": "no releases/COOKIE or .erlang.cookie in any layer, even one a later layer deletes",
    "no-private-key": "no PEM private key in any layer, even one a later layer deletes",
    "empty-dist-certs": "the certificate mount point <app>/dist-certs is empty",
    "no-vm-env": "the image's ENV sets nothing the launcher refuses (ERL_*, LD_*, ELIXIR_ERL_OPTIONS, …): "
                 "such an image could never start",
    "vm-args": "the release's vm.args holds only allowlisted + emulator flags: no distribution, cookie, "
               "code-path or code flags (cannot be waived)",
    "beam-audit": "no module of the release calls a denied function (os:cmd, open_port spawn, code loading, "
                  "eval, cookie changes, …) unless OTP's baseline or a reasoned audit.allow entry covers it",
}

#: Checks no waiver excuses: each guards a promise the launcher makes at run time.
UNWAIVABLE: frozenset[str] = frozenset({"vm-args"})

WILDCARD = "*"


@dataclass(frozen=True)
class Waiver:
    """A written exception: ``properties`` do not count as violations on ``path``.

    ``path`` is a glob on the absolute image path (``fnmatch`` rules, so ``*``
    also crosses ``/``); ``properties`` holds names from :data:`ELF_PROPERTIES`
    or :data:`IMAGE_CHECKS`, or ``"*"``.  ``config.py`` validates waivers
    where it reads them, naming the file and key; a check in
    :data:`UNWAIVABLE` is never covered, whatever a waiver says.

    ``package`` (the built-in waivers for Debian's base libraries) adds a
    condition the path cannot meet alone: the file must be that Debian
    package's, as the image records it (:mod:`builder.verify.dpkg`), so an
    unhardened file dropped at a waived path stays a violation.
    """

    path: str
    properties: frozenset[str]
    reason: str
    package: str = ""

    def covers(self, path: str, prop: str) -> bool:
        """Whether the path and property match; ownership is :meth:`VerifyPolicy.waiver_for`'s to check."""
        if prop in UNWAIVABLE:
            return False
        return (WILDCARD in self.properties or prop in self.properties) and fnmatch.fnmatchcase(path, self.path)


#: ``owns(path, package)``: whether the image's file at ``path`` is ``package``'s as installed.
Owns = Callable[[str, str], bool]


def _owned_by_nobody(path: str, package: str) -> bool:
    """The default: with no ownership read, a waiver that names a package never applies."""
    return False


@dataclass(frozen=True)
class VerifyPolicy:
    """Everything ``verify_image`` checks against; the defaults are the safe ones."""

    required: frozenset[str] = DEFAULT_REQUIRED
    waivers: tuple[Waiver, ...] = ()
    run_user: int = contract.RUN_UID
    entrypoint: str = contract.ENTRYPOINT
    app_root: str = contract.APP_ROOT
    verbs: tuple[str, ...] = field(default=())

    def waiver_for(self, path: str, prop: str, owns: Owns = _owned_by_nobody) -> Waiver | None:
        """The first waiver that covers ``prop`` on ``path`` (and whose package, if it names one, owns it)."""
        return next((w for w in self.waivers
                     if w.covers(path, prop) and (not w.package or owns(path, w.package))), None)
