"""One real OTP build, two proofs: a patch to erts shows in the running VM, and ``--set`` is recorded.

OTP costs minutes to compile, so the patch reaches the build through
``--set otp.patches=[…]``: the same build proves that an override moves the
OTP stage key and lands in the labels, and that a patch applied before
configure changes the VM (``erlang:system_info(system_version)`` grows a
marker) and is listed in the labels with its sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import docker
import pytest

from builder import contract
from builder.cli import main
from hygiene import LABELS

pytestmark = pytest.mark.docker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"
MARKER = "[build-image-patched]"
# erts/emulator/beam/erl_bif_info.c of OTP 27.3.4.1: one more tag in the system version string.
PATCH = (
    "--- a/erts/emulator/beam/erl_bif_info.c\n"
    "+++ b/erts/emulator/beam/erl_bif_info.c\n"
    "@@ -87,6 +87,7 @@\n"
    ' static char erts_system_version[] = ("Erlang/OTP " ERLANG_OTP_RELEASE\n'
    ' \t\t\t\t     "%s"\n'
    ' \t\t\t\t     " [erts-" ERLANG_VERSION "]"\n'
    f'+\t\t\t\t     " {MARKER}"\n'
    " #ifndef OTP_RELEASE\n"
    " #ifdef ERLANG_GIT_VERSION\n"
    ' \t\t\t\t     " [source-" ERLANG_GIT_VERSION "]"\n'
)
VERSION_TASK = "IO.puts(:erlang.system_info(:system_version))"


def _config(directory: Path) -> Path:
    """The example's pins, a task that prints the VM's system version, no patch (it comes by --set)."""
    example = (EXAMPLE / "build-image.yaml").read_text()
    pins = example[example.index("otp:"):example.index("launcher:")]
    config = directory / "build-image.yaml"
    config.write_text(f"release: hello\napp: {EXAMPLE}\ntag: hello-patched:latest\n\n{pins}"
                      f"launcher:\n  tasks:\n    banner: \"{VERSION_TASK}\"\n")
    return config


def _system_version(client: docker.DockerClient, image: str) -> str:
    """Run the image's banner verb, hardened as in production, and return what it printed."""
    container = client.containers.run(image, entrypoint=[f"{contract.APP_ROOT}/{contract.BIN_DIR}/banner"],
                                      detach=True, read_only=True, user=contract.RUN_USER,
                                      tmpfs={contract.RELEASE_TMP: contract.TMPFS_OPTIONS}, cap_drop=["ALL"],
                                      security_opt=["no-new-privileges"], labels=LABELS)
    try:
        status = container.wait(timeout=120)
        output = container.logs().decode(errors="replace")
        assert status["StatusCode"] == 0, output
        return output
    finally:
        container.remove(force=True)


def test_a_patch_given_by_set_is_built_shown_by_the_vm_and_recorded(
        example_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "erts-banner.patch").write_text(PATCH)
    override = "otp.patches=[erts-banner.patch]"
    assert main(["build", "-c", str(_config(tmp_path)), "--set", override, "--no-verify"]) == 0
    capsys.readouterr()

    assert main(["inspect", "hello-patched:latest", "--json"]) == 0
    patched = json.loads(capsys.readouterr().out)
    assert main(["inspect", example_image, "--json"]) == 0
    example = json.loads(capsys.readouterr().out)

    assert patched["overrides"] == [override]
    assert patched["otp"]["patches"] == [{"name": "erts-banner.patch",
                                          "sha256": hashlib.sha256(PATCH.encode()).hexdigest()}]
    assert patched["otp"]["version"] == example["otp"]["version"]
    assert patched["stages"]["otp"] != example["stages"]["otp"]  # the override moved the OTP stage key
    assert patched["stages"]["runtime"] == example["stages"]["runtime"]
    assert patched["unknown"] == []

    client = docker.from_env()
    version = _system_version(client, "hello-patched:latest")
    assert version.startswith("Erlang/OTP 27") and MARKER in version, version
