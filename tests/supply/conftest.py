"""Fixtures of the supply-chain tests: a real registry, started and stopped here."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder import config as config_module
from builder.appsource import AppSource
from builder.sources import FetchedSource
from cosign_keys import make_key_pair
from local_registry import LOGIN, local_registry

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh registry with a throwaway storage directory."""
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh registry that needs the login ``LOGIN`` (htpasswd, bcrypt)."""
    directory = tmp_path_factory.mktemp("auth-registry")
    htpasswd = directory / "htpasswd"
    entry = subprocess.run(["htpasswd", "-Bbn", *LOGIN], check=True, capture_output=True, text=True).stdout
    htpasswd.write_text(entry)
    with local_registry(directory, htpasswd=htpasswd) as address:
        yield address


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two cosign key pairs: the signer's and a stranger's (each a directory with cosign.key, cosign.pub)."""
    return {name: make_key_pair(tmp_path_factory.mktemp(name)) for name in ("signer", "stranger")}


JASON = ('  "jason": {:hex, :jason, "1.4.4", "b9226785a9aa77b6857ca22832cffa5d5011a667207eb2a0ad56adb5db443b8a", '
         '[:mix], [{:decimal, "~> 1.0 or ~> 2.0", [hex: :decimal, repo: "hexpm", optional: true]}], "hexpm", '
         '"c5eb0cab91f094599f94d55bc63409236a8ec69a21a67814529e8d5f6cc90b3b"},')
LIBC6 = (b"Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u14\nArchitecture: amd64\nDescription: x\n"
         b"SHA256: " + b"c" * 64 + b"\n")
TZDATA = b"Package: tzdata\nVersion: 2026f-0+deb12u1\nArchitecture: all\n"


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, object]:
    """What the assembler hands make_sbom, made up: an app with a Hex dependency and an OTP patch."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "mix.exs").write_text(
        'defmodule Shop.MixProject do\n  def project, do: [package: [licenses: ["MIT"]]]\nend\n')
    (app / "mix.lock").write_text("%{\n" + JASON + "\n}\n")
    patch = tmp_path / "fix.patch"
    patch.write_text("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
    config = config_module.load(EXAMPLE_CONFIG)
    config = dataclasses.replace(config, app=app, otp=dataclasses.replace(config.otp, patches=(patch,)))
    sources = [FetchedSource("otp", "27.3.4.1", tmp_path / "otp.tar.xz", "a" * 64, "debian:trixie/erlang=1:27"),
               FetchedSource("elixir", "1.18.3", tmp_path / "elixir.tar.xz", "b" * 64, "debian:trixie/elixir-lang")]
    return {
        "config": config, "release": "hello", "tag": "hello:latest", "sources": sources, "app_version": "0.1.0",
        "app": AppSource(revision="0" * 40, url=None, licenses="MIT"),
        "build_info": {"openssl": "3.0.22-1~deb12u2"},
        "release_files": ["lib/kernel-10.2.7.1/ebin/kernel.app", "lib/elixir-1.18.3/ebin/elixir.app",
                          "lib/hello-0.1.0/ebin/hello.app", "lib/jason-1.4.4/ebin/jason.app",
                          "lib/jason-1.4.4/ebin/Elixir.Jason.beam", "erts-15.2.7/bin/beam.smp"],
        "runtime_files": {"var/lib/dpkg/status.d/libc6": LIBC6, "var/lib/dpkg/status.d/tzdata": TZDATA,
                          "etc/passwd": b"root:x:0:0::/root:/sbin/nologin\n"},
        "launcher": b"\x7fELF launcher",
    }
