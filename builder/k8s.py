"""Kubernetes manifests for the configured image, built as plain data.

``build-image k8s`` writes what it takes to run the release as a cluster of
nodes on Kubernetes, each fact taken from :mod:`builder.contract` and the
config, never written twice:

- a **StatefulSet**: ``POD_IP`` from the downward API (``status.podIP``), which
  the launcher makes the host part of the node name (``<release>@<POD_IP>``);
  ``RELEASE_COOKIE`` from a Secret by ``secretKeyRef``; the distribution
  certificates from a second Secret, mounted read-only (0400) at the
  contract's mount point; an ``emptyDir`` in memory at ``/tmp``; the
  restricted Pod Security Standard with the image's own seccomp profile
  (``Localhost``); ``enableServiceLinks: false``, since a Service named
  ``erl-…`` or ``ld-…`` would inject ``ERL_*``/``LD_*`` variables the launcher
  refuses; no service account token (the release never calls the API);
- a **headless Service**, so each pod's address is in DNS for its peers (also
  before it is ready: a cluster forms while the nodes boot);
- a **NetworkPolicy**: the distribution port, and epmd's port unless the
  build is EPMD-less, open only between the release's own pods; the app's
  HTTP port open to all.

The Secrets themselves are never written: their values are the user's.  The
seccomp profile is written beside the manifests, under ``seccomp/``, laid out
as it must lie below the kubelet's seccomp directory on every node.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

from builder import contract
from builder.config import Config
from builder.errors import ConfigError, UsageError
from builder.seccomp import PROFILE_NAME, write_profile

#: Where the kubelet looks for ``Localhost`` seccomp profiles on a node.
KUBELET_SECCOMP_DIR: Final = "/var/lib/kubelet/seccomp"
#: The profile's path below :data:`KUBELET_SECCOMP_DIR` (and below ``<out>/seccomp/``).
PROFILE_DIR: Final = "build-image"
#: The label that selects the release's pods.
NAME_LABEL: Final = "app.kubernetes.io/name"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "build-image"}
#: The key of the cookie Secret that holds the cookie.
COOKIE_KEY: Final = "cookie"
DEFAULT_REPLICAS: Final = 3
#: The volumes, by name.
CERTS_VOLUME: Final = "dist-certs"
TMP_VOLUME: Final = "tmp"
#: Secret files: read by the owner only (the group ``fsGroup`` gets read access from the kubelet).
SECRET_MODE: Final = 0o400
# A StatefulSet's pods carry a controller-revision-hash label ``<name>-<10 chars>``,
# which must stay within a 63-character label value.
_MAX_NAME: Final = 52


def resource_name(release: str) -> str:
    """The release's name as Kubernetes spells names (DNS-1035: ``my_app`` → ``my-app``)."""
    name = re.sub(r"_+", "-", release).strip("-")
    if not re.fullmatch(r"[a-z]([a-z0-9-]*[a-z0-9])?", name) or len(name) > _MAX_NAME:
        raise ConfigError(f"release {release!r} cannot name Kubernetes objects ({name!r})",
                          hint=f"a release name of at most {_MAX_NAME} characters")
    return name


def profile_path(release: str) -> str:
    """The ``localhostProfile``: the profile's path below the kubelet's seccomp directory."""
    return f"{PROFILE_DIR}/{resource_name(release)}/{PROFILE_NAME}"


def cookie_secret(release: str) -> str:
    return f"{resource_name(release)}-cookie"


def certs_secret(release: str) -> str:
    return f"{resource_name(release)}-dist-certs"


def tmp_size_limit() -> str:
    """The contract's tmpfs size (``size=64m``) as a Kubernetes quantity (``64Mi``)."""
    found = re.search(r"(?:^|,)size=(\d+)([kmg])(?:,|$)", contract.TMPFS_OPTIONS)
    if found is None:
        raise AssertionError(f"contract.TMPFS_OPTIONS has no size=<n>[kmg]: {contract.TMPFS_OPTIONS}")
    return f"{found[1]}{found[2].upper()}i"


def manifests(config: Config, *, image: str | None = None, replicas: int = DEFAULT_REPLICAS,
              http_port: int = contract.DEFAULT_HTTP_PORT) -> list[dict[str, Any]]:
    """The StatefulSet, headless Service and NetworkPolicy of ``config``'s image.

    ``config`` must name its release (the CLI resolves it first); ``image``
    defaults to the configured tag (give the pushed ``REF@sha256:…`` instead).
    """
    release, tag = config.release, image or config.tag
    if release is None or tag is None:
        raise ConfigError(f"{config.file}: the release is not named", hint="write `release: NAME` in it")
    if replicas < 1:
        raise UsageError(f"--replicas {replicas}: a StatefulSet needs at least one replica")
    if not 1 <= http_port <= 65535 or http_port in _dist_ports(config):
        raise UsageError(f"--http-port {http_port}: expected a port between 1 and 65535 other than "
                         f"the distribution ports {', '.join(map(str, _dist_ports(config)))}")
    name = resource_name(release)
    selector = {NAME_LABEL: name}
    labels = {**selector, **MANAGED_BY}
    return [
        _statefulset(config, name, tag, labels, selector, replicas, http_port),
        _service(config, name, labels, selector, http_port),
        _network_policy(config, name, labels, selector, http_port),
    ]


def write_manifests(config: Config, out: Path, *, image: str | None = None, replicas: int = DEFAULT_REPLICAS,
                    http_port: int = contract.DEFAULT_HTTP_PORT) -> list[Path]:
    """Write each manifest to ``out/<kind>.yaml`` and the seccomp profile below ``out/seccomp/``
    (a subdirectory: ``kubectl apply -f OUT`` reads only the manifests)."""
    documents = manifests(config, image=image, replicas=replicas, http_port=http_port)
    assert config.release is not None  # manifests() refuses an unnamed release
    profile = write_profile(config, out / "seccomp" / profile_path(config.release))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        path = out / f"{document['kind'].lower()}.yaml"
        path.write_text(yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False),
                        encoding="utf-8")
        written.append(path)
    return [*written, profile]


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors: a label set used twice is written out twice, as people write it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dist_ports(config: Config) -> list[int]:
    """The ports distribution needs between nodes: the pinned one, and epmd's unless EPMD-less."""
    return [config.launcher.dist_port, *([] if config.launcher.epmdless else [contract.EPMD_PORT])]


def _named_ports(config: Config, http_port: int) -> list[tuple[str, int]]:
    dist = [("dist", config.launcher.dist_port)]
    epmd = [] if config.launcher.epmdless else [("epmd", contract.EPMD_PORT)]
    return [*dist, *epmd, ("http", http_port)]


def _metadata(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": labels}


def _statefulset(config: Config, name: str, image: str, labels: dict[str, str], selector: dict[str, str],
                 replicas: int, http_port: int) -> dict[str, Any]:
    assert config.release is not None
    seccomp = {"type": "Localhost", "localhostProfile": profile_path(config.release)}
    container = {
        "name": name,
        "image": image,
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}
                  for port_name, port in _named_ports(config, http_port)],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": contract.COOKIE_VAR,
             "valueFrom": {"secretKeyRef": {"name": cookie_secret(config.release), "key": COOKIE_KEY}}},
        ],
        "volumeMounts": [
            {"name": CERTS_VOLUME, "mountPath": contract.DIST_CERTS_MOUNT, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": contract.RELEASE_TMP},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": contract.RUN_UID,
            "runAsGroup": contract.RUN_GID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": seccomp,
        },
    }
    pod = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": contract.RUN_UID,
            "runAsGroup": contract.RUN_GID,
            "fsGroup": contract.RUN_GID,
            "seccompProfile": seccomp,
        },
        "containers": [container],
        "volumes": [
            {"name": CERTS_VOLUME, "secret": {
                "secretName": certs_secret(config.release),
                "defaultMode": SECRET_MODE,
                "items": [{"key": file, "path": file} for file in contract.DIST_CERT_FILES],
            }},
            {"name": TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": tmp_size_limit()}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(name, labels),
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            # Nodes find each other, whichever starts first: no need to start them in order.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def _service(config: Config, name: str, labels: dict[str, str], selector: dict[str, str],
             http_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, labels),
        "spec": {
            "clusterIP": "None",
            # Peers look each other up while they boot, before any is ready.
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                      for port_name, port in _named_ports(config, http_port)],
        },
    }


def _network_policy(config: Config, name: str, labels: dict[str, str], selector: dict[str, str],
                    http_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, labels),
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": selector}}],
                 "ports": [{"protocol": "TCP", "port": port} for port in _dist_ports(config)]},
                {"ports": [{"protocol": "TCP", "port": http_port}]},
            ],
        },
    }
