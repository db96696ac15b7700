"""The systemd test host: Debian bookworm with systemd as PID 1, in a container.

The image is bootstrapped with mmdebstrap from the host's apt sources (the
mirror is read the way a build reads it, :func:`builder.debian.host_mirror`;
no host name is written here) and ``docker import``-ed under a tag made of
its inputs, so a rerun, or another session, reuses it.  It carries no run
label: it is a cache, like the stage images, not a test's leftover.

It runs the way the issue measured on this machine (cgroup v1, where
``--privileged`` is refused): ``CAP_SYS_ADMIN`` for systemd's mounts, no
seccomp filter (systemd installs its own per unit), ``/run`` and
``/run/lock`` as tmpfs, the host's cgroup tree read-only, and ``/`` made a
shared mount before systemd starts (see :mod:`systemd_support`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Final

import docker
import docker.errors

from builder.debian import bootstrap_rootfs, host_mirror

SUITE: Final = "bookworm"
PACKAGES: Final = ("ca-certificates", "curl", "systemd", "systemd-sysv")
REPOSITORY: Final = "build-image-test/systemd-host"
#: Marks the cached host image (not a run's leftover: hygiene looks at the run label only).
CACHE_LABEL: Final = {"io.build-image.test-cache": "systemd-host"}
#: Bump when the recipe below changes in a way the inputs do not show.
RECIPE: Final = 1
SOURCE_DATE_EPOCH: Final = 1704067200

#: ``docker run`` settings systemd needs as PID 1 here (SDK keyword arguments).
RUN_SETTINGS: Final = {
    "cap_add": ["SYS_ADMIN"],
    "security_opt": ["seccomp=unconfined"],
    "tmpfs": {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
    "volumes": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
    "environment": {"container": "docker"},
    "stop_signal": "SIGRTMIN+3",
    # Shared mount propagation first, as systemd has it on a host (systemd_support explains why).
    "command": ["/bin/sh", "-c", "mount --make-rshared / && exec /sbin/init"],
}


def host_tag() -> str:
    """The image tag: a digest of the suite, the packages, the mirror and the recipe."""
    mirror = host_mirror()
    inputs = json.dumps({"suite": SUITE, "packages": PACKAGES, "sources": mirror.lines(SUITE),
                         "recipe": RECIPE}, sort_keys=True)
    return f"{REPOSITORY}:{hashlib.sha256(inputs.encode()).hexdigest()[:16]}"


def ensure_host_image(client: docker.DockerClient) -> str:
    """The host image's tag, bootstrapping and importing it when the engine lacks it."""
    tag = host_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="systemd-host-") as work:
        tarball = Path(work) / "rootfs.tar"
        bootstrap_rootfs(host_mirror(), SUITE, PACKAGES, tarball, SOURCE_DATE_EPOCH, keep_apt_lists=False)
        repository, version = tag.split(":", 1)
        changes = [f"LABEL {key}={value}" for key, value in CACHE_LABEL.items()]
        client.api.import_image(src=str(tarball), repository=repository, tag=version, changes=changes)
    client.images.get(tag)
    return tag


if __name__ == "__main__":
    print(ensure_host_image(docker.from_env(timeout=600)))
