"""The verifier holds vm.args to the VM-flag allowlist, and the image's ENV to the launcher's environment rule."""

from __future__ import annotations

import io

from _support import directory, file, layer, save_archive
from builder.verify import VerifyPolicy, Waiver, check_contents
from builder.verify.imagefs import read_image


def image_with_vm_args(text: str) -> bytes:
    return save_archive([layer([directory("app"), directory("app/releases"), directory("app/releases/0.1.0"),
                                file("app/releases/0.1.0/vm.args", text.encode())])], "t:1")


def test_verify_names_each_vm_args_violation_with_file_and_line() -> None:
    archive = image_with_vm_args("+S 2:2\n-proto_dist inet_tcp\n-kernel inet_dist_listen_min 1\n")
    everything = Waiver(path="*", properties=frozenset({"*"}), reason="a waiver that covers everything else")
    report = check_contents("t", read_image(io.BytesIO(archive), "t"), VerifyPolicy(waivers=(everything,)))
    found = [(v.check, v.path, v.detail.split(":")[0]) for v in report.violations]
    assert found == [("vm-args", "/app/releases/0.1.0/vm.args", "line 2"),
                     ("vm-args", "/app/releases/0.1.0/vm.args", "line 3")]
    assert "-proto_dist" in report.violations[0].detail


def test_verify_passes_a_clean_vm_args() -> None:
    archive = image_with_vm_args("## Increase number of concurrent ports/sockets\n##+Q 65536\n+S 2:2\n")
    report = check_contents("t", read_image(io.BytesIO(archive), "t"), VerifyPolicy())
    assert not [v for v in report.violations if v.check == "vm-args"]


def test_verify_refuses_an_image_whose_env_the_launcher_would_refuse() -> None:
    archive = save_archive([layer([directory("app")])], "t:1",
                           env=("PATH=/app/bin", "ERL_AFLAGS=-proto_dist inet_tcp", "ERL_CRASH_DUMP_SECONDS=0",
                                "LD_PRELOAD=/x.so"))
    report = check_contents("t", read_image(io.BytesIO(archive), "t"), VerifyPolicy())
    found = [v.detail.split(" is set")[0] for v in report.violations if v.check == "no-vm-env"]
    assert found == ["ENV ERL_AFLAGS", "ENV LD_PRELOAD"]
