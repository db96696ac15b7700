"""systemd units for the configured image, as plain data first, rendered second.

``build-image systemd OUTDIR`` writes what it takes to run the release under
systemd on a host, without a container engine:

- ``OUTDIR/rootfs``: the image's root filesystem (:mod:`builder.rootfs`),
  which the service enters with ``RootDirectory=`` (``RootImage=`` would need
  loop devices);
- ``<release>.service``: ``/app/bin/server`` inside that root, ``Type=notify``
  (the release's readiness module sends ``READY=1`` once it has booted; systemd
  252 binds its notify socket into a ``RootDirectory=`` by itself, so no
  ``BindPaths=`` is needed), secrets as systemd credentials, and the
  hardening set :data:`HARDENING`, which ``systemd-analyze security`` scores
  1.2 (target ≤ 1.5);
- one ``.socket`` unit per HTTP port: the service starts on the first
  connection and gets the listening socket (``LISTEN_FDS``).

Secrets are credentials, never environment: ``LoadCredential=`` reads the
cookie and the three distribution files from a root-only directory on the host
(``/etc/<release>/`` by default) into the service's private credentials
directory; the launcher reads the cookie from ``$CREDENTIALS_DIRECTORY``, and
``BindReadOnlyPaths=%d:/app/dist-certs`` puts the certificates where the
image's ``inet_tls.config`` names them (the launcher checks they are the same
files).  ``RELEASE_COOKIE`` is never set.

Every fact comes from :mod:`builder.contract`, the image's own settings (its
environment and working directory, which systemd would not read from an image)
and its labels (the distribution port and epmd), so nothing is written twice.
Units are modelled as :class:`UnitFile` (sections of ordered key/value pairs)
and rendered by one template of the project's Jinja environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from builder import contract
from builder.config import Config
from builder.errors import ConfigError, UsageError
from builder.rootfs import ImageRun
from builder.seccomp import DENIED
from builder.templates import environment

#: Every credential the unit loads: the cookie and the distribution files, by their contract names.
CREDENTIALS: Final = (contract.COOKIE_CREDENTIAL, *contract.DIST_CERT_FILES)
#: systemd's specifier for the service's credentials directory.
CREDENTIALS_SPECIFIER: Final = "%d"
#: The node's host part when none is given: systemd's specifier for the host name.
DEFAULT_NODE_HOST: Final = "%H"
TEMPLATE: Final = "systemd.unit.j2"
#: The name each passed socket carries in ``LISTEN_FDNAMES``.
SOCKET_NAME: Final = "http"

#: The sandbox, in the order ``systemd-analyze security`` lists it.  Measured on
#: systemd 252 (tests/systemd): ``PrivateUsers=yes`` together with
#: ``ProtectProc=invisible`` fails to start in a container (217/USER, systemd
#: issue 29656: the user namespace's maps are written through the hidden
#: /proc); ``ProtectProc=invisible`` is kept (it hides the other processes,
#: whose environment might hold secrets), ``PrivateUsers=`` is not set.
HARDENING: Final = (
    ("DynamicUser", "yes"),
    ("NoNewPrivileges", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateMounts", "yes"),
    ("DevicePolicy", "closed"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("ProcSubset", "pid"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    # The JIT keeps W^X (its dual mapping); vm_flags refuses the switches that undo it.
    ("MemoryDenyWriteExecute", "yes"),
    ("RemoveIPC", "yes"),
    ("KeyringMode", "private"),
    ("UMask", "0077"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    # Minus the privileged and resource-control groups (the release was observed to make no
    # call of either: builder/syscalls/) and the image seccomp profile's explicit denials
    # (builder/seccomp.py DENIED), whatever @system-service allows.
    ("SystemCallFilter", "~@privileged @resources"),
    ("SystemCallFilter", "~" + " ".join(sorted(DENIED))),
    ("SystemCallErrorNumber", "EPERM"),
)

_SAFE_VALUE = re.compile(r"[^\x00-\x1f\x7f]*")


@dataclass(frozen=True)
class Section:
    """One ``[Name]`` section: its settings in order (a key may repeat, as systemd allows)."""

    name: str
    entries: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UnitFile:
    """A unit file as data: its file name, a comment header and its sections."""

    name: str
    comment: tuple[str, ...]
    sections: tuple[Section, ...]

    def values(self, section: str, key: str) -> list[str]:
        """Every value of ``key`` in ``section``, in order (for tests and checks)."""
        return [value for s in self.sections if s.name == section for k, value in s.entries if k == key]


@dataclass(frozen=True)
class UnitSettings:
    """What the host decides: where the root and the credentials are, the ports, the node's host part."""

    root_directory: str
    credentials_dir: str
    http_ports: tuple[int, ...] = (contract.DEFAULT_HTTP_PORT,)
    node_host: str = DEFAULT_NODE_HOST
    watchdog_sec: int | None = None


@dataclass(frozen=True)
class Distribution:
    """The image's distribution ports: the pinned one, and whether epmd runs beside it."""

    dist_port: int
    epmdless: bool

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.dist_port,) if self.epmdless else (self.dist_port, contract.EPMD_PORT)


@dataclass(frozen=True)
class Units:
    """The service and its sockets, ready to render."""

    service: UnitFile
    sockets: tuple[UnitFile, ...] = field(default_factory=tuple)

    @property
    def all(self) -> tuple[UnitFile, ...]:
        return (self.service, *self.sockets)


def default_settings(release: str) -> UnitSettings:
    """The defaults the command documents: the root below /var/lib, the credentials in /etc."""
    return UnitSettings(root_directory=f"/var/lib/{release}/rootfs", credentials_dir=f"/etc/{release}")


def distribution_of(config: Config, labels: Mapping[str, str]) -> Distribution:
    """The distribution settings from the image's labels (the image is what runs), else the config.

    A label that disagrees with the config means the image is not the one
    the config builds: refused, since the unit would open the wrong ports.
    """
    dist_port, epmdless = config.launcher.dist_port, config.launcher.epmdless
    label_port = labels.get("io.build-image.launcher.dist_port")
    label_epmdless = labels.get("io.build-image.launcher.epmdless")
    if (label_port is not None and label_port != str(dist_port)) or (
            label_epmdless is not None and label_epmdless != str(epmdless).lower()):
        raise ConfigError(f"the image's launcher settings (dist_port {label_port}, epmdless {label_epmdless}) "
                          f"are not {config.file}'s (dist_port {dist_port}, epmdless {str(epmdless).lower()})",
                          hint="rebuild the image from this config, or give the config it was built from")
    return Distribution(dist_port=dist_port, epmdless=epmdless)


def units(release: str, run: ImageRun, distribution: Distribution, settings: UnitSettings) -> Units:
    """The service unit and one socket unit per HTTP port."""
    _check_settings(settings, distribution)
    if run.entrypoint != (contract.ENTRYPOINT,):
        raise ConfigError(f"the image's entrypoint is {list(run.entrypoint)}, not [{contract.ENTRYPOINT!r}]: "
                          "it is not an image build-image assembled",
                          hint="give --image an image `build-image build` made")
    sockets = tuple(_socket(release, port, index) for index, port in enumerate(settings.http_ports))
    return Units(service=_service(release, run, distribution, settings, sockets), sockets=sockets)


def render(unit: UnitFile) -> str:
    """The unit file's text, through the project's one Jinja environment."""
    for section in unit.sections:
        for key, value in section.entries:
            if not _SAFE_VALUE.fullmatch(value):
                raise ConfigError(f"{unit.name}: [{section.name}] {key}= holds a control character: {value!r}")
    return environment().get_template(TEMPLATE).render(unit=unit)


def write_units(rendered: Units, out: Path) -> list[Path]:
    """Write each unit to ``out/<name>``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for unit in rendered.all:
        path = out / unit.name
        path.write_text(render(unit), encoding="utf-8")
        written.append(path)
    return written


def service_name(release: str) -> str:
    return f"{_unit_stem(release)}.service"


def socket_name(release: str, port: int, index: int = 0) -> str:
    """``<release>.socket`` for the first port, ``<release>-<port>.socket`` for more."""
    stem = _unit_stem(release)
    return f"{stem}.socket" if index == 0 else f"{stem}-{port}.socket"


# -- the units -----------------------------------------------------------------

def _service(release: str, run: ImageRun, distribution: Distribution, settings: UnitSettings,
             sockets: Sequence[UnitFile]) -> UnitFile:
    unit = Section("Unit", (
        ("Description", f"{release}: Erlang/Elixir release (build-image), in its own root"),
        ("After", "network-online.target"),
        ("Wants", "network-online.target"),
    ))
    service = Section("Service", (
        *_start(run, settings, sockets),
        *_environment(run, settings),
        *_credentials(settings),
        ("TemporaryFileSystem", f"{contract.RELEASE_TMP}:{contract.TMPFS_OPTIONS}"),
        *HARDENING,
        # Scored, enforced only on cgroup v2 with systemd's BPF support: distribution (and epmd) only.
        *(("SocketBindAllow", f"tcp:{port}") for port in distribution.ports),
        ("SocketBindDeny", "any"),
    ))
    install = Section("Install", tuple(("Also", socket.name) for socket in sockets))
    comment = (f"{service_name(release)}: written by `build-image systemd`: the image's {contract.ENTRYPOINT} "
               "in its unpacked root.",
               f"Secrets: put {', '.join(CREDENTIALS)} in {settings.credentials_dir}/ (root only, 0600).")
    return UnitFile(service_name(release), comment, (unit, service, install))


def _start(run: ImageRun, settings: UnitSettings, sockets: Sequence[UnitFile]) -> list[tuple[str, str]]:
    entries = [
        ("Type", "notify"),
        # READY=1 comes from beam.smp, the main process (the launcher exec()s into it).
        ("NotifyAccess", "main"),
        ("ExecStart", contract.ENTRYPOINT),
        ("RootDirectory", _literal(settings.root_directory)),
        ("WorkingDirectory", _literal(run.workdir)),
        *(("Sockets", socket.name) for socket in sockets),
        ("Restart", "on-failure"),
        ("RestartSec", "2s"),
    ]
    if settings.watchdog_sec is not None:
        entries.append(("WatchdogSec", f"{settings.watchdog_sec}s"))
    return entries


def _environment(run: ImageRun, settings: UnitSettings) -> list[tuple[str, str]]:
    """The image's environment (systemd reads no image config) and the node's host part."""
    pairs = [(name, value) for name, value in run.env if name not in ("POD_IP", contract.COOKIE_VAR)]
    # The host part is a specifier (%H) by default, so it is not escaped.
    assignments = [f'"{name}={_quoted(_literal(value))}"' for name, value in pairs]
    assignments.append(f'"POD_IP={_quoted(settings.node_host)}"')
    return [("Environment", assignment) for assignment in assignments]


def _credentials(settings: UnitSettings) -> list[tuple[str, str]]:
    source = _literal(settings.credentials_dir.rstrip("/"))
    loads = [("LoadCredential", f"{name}:{source}/{name}") for name in CREDENTIALS]
    return [*loads, ("BindReadOnlyPaths", f"{CREDENTIALS_SPECIFIER}:{contract.DIST_CERTS_MOUNT}")]


def _socket(release: str, port: int, index: int) -> UnitFile:
    unit = Section("Unit", (("Description", f"{release}: HTTP on port {port} (socket activation)"),))
    socket = Section("Socket", (
        # IPv4, as the launcher's node names are: a bare port would pass a dual-stack AF_INET6
        # socket, which an app opening it as gen_tcp's default inet family cannot use (einval).
        ("ListenStream", f"0.0.0.0:{port}"),
        ("FileDescriptorName", SOCKET_NAME),
        ("Service", service_name(release)),
        ("NoDelay", "yes"),
    ))
    install = Section("Install", (("WantedBy", "sockets.target"),))
    comment = (f"{socket_name(release, port, index)}: written by `build-image systemd`; "
               f"starts {service_name(release)} on the first connection.",)
    return UnitFile(socket_name(release, port, index), comment, (unit, socket, install))


# -- checks and escaping ----------------------------------------------------------

def _check_settings(settings: UnitSettings, distribution: Distribution) -> None:
    for port in settings.http_ports:
        if not 1 <= port <= 65535 or port in distribution.ports:
            raise UsageError(f"--http-port {port}: expected a port between 1 and 65535 other than "
                             f"the distribution ports {', '.join(map(str, distribution.ports))}")
    if len(set(settings.http_ports)) != len(settings.http_ports):
        raise UsageError(f"--http-port: a port given twice ({', '.join(map(str, settings.http_ports))})")
    for name, path in (("--root-dir", settings.root_directory), ("--credentials", settings.credentials_dir)):
        if not path.startswith("/") or any(part == ".." for part in path.split("/")):
            raise UsageError(f"{name} {path}: expected an absolute path without '..'")
    if settings.node_host != DEFAULT_NODE_HOST and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}",
                                                                    settings.node_host):
        raise UsageError(f"--node-host {settings.node_host!r}: expected an IPv4 address or host name "
                         "(what the launcher accepts in POD_IP)")
    if settings.watchdog_sec is not None and settings.watchdog_sec < 1:
        raise UsageError(f"--watchdog {settings.watchdog_sec}: expected a number of seconds ≥ 1")


def _unit_stem(release: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", release):
        raise ConfigError(f"release {release!r} cannot name a systemd unit")
    return release


def _literal(text: str) -> str:
    """``text`` with systemd's specifier character escaped (``%`` → ``%%``)."""
    return text.replace("%", "%%")


def _quoted(text: str) -> str:
    """``text`` inside a double-quoted ``Environment=`` word."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
