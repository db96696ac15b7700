"""The units ``build-image systemd`` writes, read as data and as text (no systemd needed).

The score itself is asserted twice: here, hermetically, by the settings
``systemd-analyze security`` weighs (each present with its value), and in
``test_score.py`` by the host's own ``systemd-analyze`` when it has one.
"""

from __future__ import annotations

import configparser
from dataclasses import replace
from pathlib import Path

import pytest

from builder import contract
from builder.config import load
from builder.errors import ConfigError, UsageError
from builder.rootfs import ImageRun
from builder.seccomp import DENIED
from builder.systemd import (
    CREDENTIALS,
    Distribution,
    UnitSettings,
    default_settings,
    distribution_of,
    render,
    units,
    write_units,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
RUN = ImageRun(user=contract.RUN_USER, entrypoint=(contract.ENTRYPOINT,),
               env=(("LANG", "C.UTF-8"), ("RELEASE_TMP", "/tmp"), ("HOME", "/home/nonroot")), workdir="/app")
WITH_EPMD = Distribution(dist_port=contract.DEFAULT_DIST_PORT, epmdless=False)
SETTINGS = default_settings("hello")


def parsed(text: str) -> configparser.RawConfigParser:
    """The unit text read back by an independent INI reader (repeated keys joined by newlines)."""
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), interpolation=None,
                                          dict_type=_MultiDict)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


class _MultiDict(dict):  # type: ignore[type-arg]
    def __setitem__(self, key, value):  # type: ignore[no-untyped-def]
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def service_text(settings: UnitSettings = SETTINGS, distribution: Distribution = WITH_EPMD) -> str:
    return render(units("hello", RUN, distribution, settings).service)


def test_the_service_runs_the_server_in_its_root_as_notify() -> None:
    service = units("hello", RUN, WITH_EPMD, SETTINGS).service
    assert service.name == "hello.service"
    assert service.values("Service", "ExecStart") == [contract.ENTRYPOINT]
    assert service.values("Service", "RootDirectory") == ["/var/lib/hello/rootfs"]
    assert service.values("Service", "RootImage") == []
    assert service.values("Service", "Type") == ["notify"]
    assert service.values("Service", "NotifyAccess") == ["main"]
    assert service.values("Service", "WorkingDirectory") == ["/app"]
    assert service.values("Service", "Sockets") == ["hello.socket"]


def test_secrets_are_credentials_never_environment() -> None:
    service = units("hello", RUN, WITH_EPMD, SETTINGS).service
    assert service.values("Service", "LoadCredential") == [f"{name}:/etc/hello/{name}" for name in CREDENTIALS]
    assert set(CREDENTIALS) == {"cookie", *contract.DIST_CERT_FILES}
    assert service.values("Service", "BindReadOnlyPaths") == [f"%d:{contract.DIST_CERTS_MOUNT}"]
    text = service_text()
    assert contract.COOKIE_VAR not in text
    assert "SetCredential" not in text


def test_the_image_environment_and_the_node_host_are_set() -> None:
    environment = units("hello", RUN, WITH_EPMD, SETTINGS).service.values("Service", "Environment")
    assert environment == ['"LANG=C.UTF-8"', '"RELEASE_TMP=/tmp"', '"HOME=/home/nonroot"', '"POD_IP=%H"']
    pinned = units("hello", RUN, WITH_EPMD, replace(SETTINGS, node_host="10.0.0.7")).service
    assert pinned.values("Service", "Environment")[-1] == '"POD_IP=10.0.0.7"'


def test_a_cookie_in_the_image_environment_is_not_copied() -> None:
    leaky = replace(RUN, env=(*RUN.env, (contract.COOKIE_VAR, "x" * 40)))
    assert contract.COOKIE_VAR not in render(units("hello", leaky, WITH_EPMD, SETTINGS).service)


def test_percent_signs_in_paths_are_escaped_and_control_characters_refused() -> None:
    odd = replace(SETTINGS, root_directory="/srv/100%/rootfs")
    assert "RootDirectory=/srv/100%%/rootfs" in service_text(odd)
    with pytest.raises(ConfigError, match="control character"):
        render(units("hello", replace(RUN, env=(("X", "a\nExecStartPre=/bin/evil"),)), WITH_EPMD, SETTINGS).service)


# The settings systemd-analyze security weighs, with the values that score them safe.
SANDBOX = {
    "DynamicUser": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
    "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "PrivateMounts": "yes", "DevicePolicy": "closed", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    "ProtectClock": "yes", "ProtectHostname": "yes", "ProtectProc": "invisible", "ProcSubset": "pid",
    "RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "RemoveIPC": "yes", "KeyringMode": "private", "UMask": "0077",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "SystemCallArchitectures": "native",
}


def test_every_scored_sandbox_setting_is_present() -> None:
    service = parsed(service_text())["Service"]
    for key, value in SANDBOX.items():
        assert service.get(key) == value, key
    assert service["TemporaryFileSystem"] == f"{contract.RELEASE_TMP}:{contract.TMPFS_OPTIONS}"
    assert "PrivateUsers" not in service  # breaks with ProtectProc=invisible (systemd issue 29656)


def test_the_system_call_filter_is_system_service_minus_the_seccomp_denials() -> None:
    filters = units("hello", RUN, WITH_EPMD, SETTINGS).service.values("Service", "SystemCallFilter")
    assert filters[0] == "@system-service"
    denied = {word for rule in filters[1:] for word in rule.removeprefix("~").split()}
    assert all(rule.startswith("~") for rule in filters[1:])
    assert denied >= DENIED | {"@privileged", "@resources"}


@pytest.mark.parametrize(("epmdless", "ports"), [(False, ["tcp:24369", "tcp:4369"]), (True, ["tcp:24369"])])
def test_socket_bind_allows_only_distribution(epmdless: bool, ports: list[str]) -> None:
    service = units("hello", RUN, replace(WITH_EPMD, epmdless=epmdless), SETTINGS).service
    assert service.values("Service", "SocketBindAllow") == ports
    assert service.values("Service", "SocketBindDeny") == ["any"]


def test_one_socket_per_http_port_naming_the_service() -> None:
    made = units("hello", RUN, WITH_EPMD, replace(SETTINGS, http_ports=(4000, 8443)))
    assert [s.name for s in made.sockets] == ["hello.socket", "hello-8443.socket"]
    for socket, port in zip(made.sockets, (4000, 8443), strict=True):
        assert socket.values("Socket", "ListenStream") == [f"0.0.0.0:{port}"]
        assert socket.values("Socket", "Service") == ["hello.service"]
        assert socket.values("Install", "WantedBy") == ["sockets.target"]
    assert made.service.values("Service", "Sockets") == ["hello.socket", "hello-8443.socket"]
    assert made.service.values("Install", "Also") == ["hello.socket", "hello-8443.socket"]


def test_watchdog_only_when_asked() -> None:
    assert units("hello", RUN, WITH_EPMD, SETTINGS).service.values("Service", "WatchdogSec") == []
    timed = units("hello", RUN, WITH_EPMD, replace(SETTINGS, watchdog_sec=30)).service
    assert timed.values("Service", "WatchdogSec") == ["30s"]


@pytest.mark.parametrize("settings", [
    replace(SETTINGS, http_ports=(24369,)), replace(SETTINGS, http_ports=(4369,)),
    replace(SETTINGS, http_ports=(0,)), replace(SETTINGS, http_ports=(4000, 4000)),
    replace(SETTINGS, root_directory="var/lib/hello"), replace(SETTINGS, credentials_dir="/etc/../tmp"),
    replace(SETTINGS, node_host="-name evil"), replace(SETTINGS, watchdog_sec=0),
])
def test_bad_settings_are_usage_errors(settings: UnitSettings) -> None:
    with pytest.raises(UsageError):
        units("hello", RUN, WITH_EPMD, settings)


def test_the_distribution_comes_from_the_image_labels_and_must_match_the_config() -> None:
    config = load(EXAMPLE)
    labels = {"io.build-image.launcher.dist_port": "24369", "io.build-image.launcher.epmdless": "false"}
    assert distribution_of(config, labels) == WITH_EPMD
    assert distribution_of(config, {}) == WITH_EPMD
    with pytest.raises(ConfigError, match=r"are not .*build-image\.yaml"):
        distribution_of(config, {**labels, "io.build-image.launcher.epmdless": "true"})


def test_written_units_are_stable_bytes(tmp_path: Path) -> None:
    made = units("hello", RUN, WITH_EPMD, SETTINGS)
    first = [p.read_bytes() for p in write_units(made, tmp_path / "a")]
    second = [p.read_bytes() for p in write_units(made, tmp_path / "b")]
    assert first == second
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["hello.service", "hello.socket"]
    assert all(text.endswith(b"\n") and not text.endswith(b"\n\n") for text in first)


def test_an_image_with_another_entrypoint_is_refused() -> None:
    with pytest.raises(ConfigError, match="not an image build-image assembled"):
        units("hello", replace(RUN, entrypoint=("/bin/sh",)), WITH_EPMD, SETTINGS)
