"""systemd credentials: CREDENTIALS_DIRECTORY only under /run/credentials/,
the cookie from its ``cookie`` credential under the same fail-closed rules as
RELEASE_COOKIE, and the dist certificates the VM reads under dist-certs
proven to be the credentials themselves (the unit binds the directory there).

The directories are real ones under /run/credentials/ (made and removed by
the ``credentials`` fixture, so these tests need root); the fake release's
dist-certs is a symlink to the credentials directory, which shows the
launcher the same files as BindReadOnlyPaths=%d:/app/dist-certs does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from builder import contract
from tests.launcher.conftest import RELEASE_NAME, STRONG_COOKIE, ReleaseTree, Run, Variant

pytestmark = pytest.mark.tools("make", "gcc", "root")

ROOT = Path(contract.CREDENTIALS_ROOT)
EXIT_ENV_REFUSED = contract.EXIT_ENV_REFUSED
EXIT_REFUSED = 78
NO_TLS = Variant(require_tls=False)


@pytest.fixture
def credentials() -> Iterator[Path]:
    """A service's credentials directory, /run/credentials/<unique>, with the
    certificates in it (no cookie: each test writes the one it needs)."""
    directory = ROOT / f"build-image-test-{uuid.uuid4().hex[:12]}.service"
    directory.mkdir(parents=True)
    try:
        for name in contract.DIST_CERT_FILES:
            (directory / name).write_text("-----BEGIN FAKE CREDENTIAL-----\n")
        yield directory
    finally:
        shutil.rmtree(directory)


def bind(tree: ReleaseTree, credentials: Path) -> None:
    """dist-certs shows the credentials' own files, as the unit's bind does."""
    certs = tree.root / contract.DIST_CERTS_DIR
    shutil.rmtree(certs)
    certs.symlink_to(credentials)


def serve(tree: ReleaseTree, credentials: Path | str, **env: str | None) -> Run:
    """The server under systemd: the credentials directory, no RELEASE_COOKIE."""
    return tree.run("server", env={contract.COOKIE_VAR: None,
                                   contract.CREDENTIALS_VAR: str(credentials), **env})  # fmt: skip


def assert_refused(tree: ReleaseTree, run: Run, code: int, message: str) -> None:
    """One line, exactly this one, and nothing started or written."""
    assert run.returncode == code, run.stderr
    assert run.stderr == f"server: {message}\n"
    assert run.erlexec is None and run.epmd is None
    assert tree.tmp_entries() == []


@pytest.fixture
def bound(tree: ReleaseTree, credentials: Path) -> Callable[[str | bytes], Run]:
    """Writes the cookie credential and runs the server with dist-certs bound."""
    bind(tree, credentials)

    def run(cookie: str | bytes, **env: str | None) -> Run:
        data = cookie.encode() if isinstance(cookie, str) else cookie
        (credentials / contract.COOKIE_CREDENTIAL).write_bytes(data)
        return serve(tree, credentials, **env)

    return run


# --- where the directory may be -------------------------------------------------

HOW = (f"only systemd sets it, to the service's own directory under {contract.CREDENTIALS_ROOT} "
       "(LoadCredential=): unset it or fix the unit")


@pytest.mark.parametrize(
    ("value", "shown", "reason"),
    [
        ("/etc", "/etc", f"is not under {contract.CREDENTIALS_ROOT}"),
        ("run/credentials/a.service", "run/credentials/a.service",
         f"is not under {contract.CREDENTIALS_ROOT}"),
        ("/run/credentials", "/run/credentials", f"is not under {contract.CREDENTIALS_ROOT}"),
        ("/run/credentials/", "/run/credentials/", f"is not under {contract.CREDENTIALS_ROOT}"),
        ("/run/credentials//etc", "/run/credentials//etc", f"is not under {contract.CREDENTIALS_ROOT}"),
        ("/run/credentialsx/a", "/run/credentialsx/a", f"is not under {contract.CREDENTIALS_ROOT}"),
        ("/run/credentials/../etc", "/run/credentials/../etc", "has a '.' or '..' component"),
        ("/run/credentials/a/..", "/run/credentials/a/..", "has a '.' or '..' component"),
        ("/run/credentials/./a", "/run/credentials/./a", "has a '.' or '..' component"),
        ("/run/credentials/a\nb", "/run/credentials/a?b", "has a control or non-ASCII byte"),
        ("/run/credentials/" + "a" * 1010, "/run/credentials/" + "a" * 1010,
         "is longer than 1024 bytes"),
    ],
)  # fmt: skip
def test_a_directory_outside_run_credentials_is_refused(
    tree: ReleaseTree, value: str, shown: str, reason: str
) -> None:
    run = serve(tree, value)
    assert_refused(tree, run, EXIT_ENV_REFUSED,
                   f"{contract.CREDENTIALS_VAR}={shown} {reason}; {HOW}")  # fmt: skip


def test_a_symlink_out_of_run_credentials_is_refused(tree: ReleaseTree, credentials: Path) -> None:
    link = credentials / "escape"
    link.symlink_to("/etc")
    run = serve(tree, link)
    assert_refused(tree, run, EXIT_ENV_REFUSED,
                   f"{contract.CREDENTIALS_VAR}={link} resolves to a path that is not under "
                   f"{contract.CREDENTIALS_ROOT}; {HOW}")  # fmt: skip


def test_a_directory_that_does_not_exist_is_refused(tree: ReleaseTree) -> None:
    missing = ROOT / f"build-image-test-{uuid.uuid4().hex[:12]}.service"
    run = serve(tree, missing)
    assert_refused(tree, run, EXIT_REFUSED,
                   f"cannot resolve {contract.CREDENTIALS_VAR}={missing} (No such file or "
                   "directory); systemd creates it before the service starts: check "
                   "LoadCredential= in the unit")  # fmt: skip


def test_a_symlink_inside_run_credentials_is_followed_and_used(
    tree: ReleaseTree, credentials: Path
) -> None:
    alias = ROOT / f"build-image-test-{uuid.uuid4().hex[:12]}.alias"
    alias.symlink_to(credentials)
    try:
        bind(tree, credentials)
        (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
        run = serve(tree, alias)
    finally:
        alias.unlink()
    assert run.returncode == 0, run.stderr
    assert run.erlexec["cookie"] == STRONG_COOKIE


# --- the cookie -------------------------------------------------------------------

def test_the_cookie_comes_from_the_credential_and_never_shows(
    bound: Callable[..., Run], tree: ReleaseTree
) -> None:
    run = bound(STRONG_COOKIE + "\n")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    # One trailing newline dropped; handed over as the RELEASE_COOKIE one is.
    assert run.erlexec["cookie"] == STRONG_COOKIE
    assert run.erlexec["cookie_mode"] == 0o400
    assert not any(STRONG_COOKIE in arg for arg in run.erlexec["argv"])
    assert "-setcookie" not in run.erlexec["argv"]
    assert not any(STRONG_COOKIE in value for value in run.erlexec["env"].values())
    assert contract.COOKIE_VAR not in run.erlexec["env"]
    assert run.erlexec["env"]["HOME"].startswith(f"{tree.release_tmp}/{RELEASE_NAME}-")


def test_an_empty_release_cookie_beside_the_credentials_means_unset(
    bound: Callable[..., Run],
) -> None:
    run = bound(STRONG_COOKIE, **{contract.COOKIE_VAR: ""})
    assert run.returncode == 0, run.stderr
    assert contract.COOKIE_VAR not in run.erlexec["env"]


def test_release_cookie_and_credentials_together_are_refused(
    bound: Callable[..., Run], tree: ReleaseTree
) -> None:
    run = bound(STRONG_COOKIE, **{contract.COOKIE_VAR: STRONG_COOKIE})
    assert_refused(tree, run, EXIT_ENV_REFUSED,
                   f"{contract.COOKIE_VAR} and {contract.CREDENTIALS_VAR} are both set: the cookie "
                   f"would come from two places; unset {contract.COOKIE_VAR} (under systemd the "
                   f"cookie is the credential '{contract.COOKIE_CREDENTIAL}')")  # fmt: skip
    assert STRONG_COOKIE not in run.stderr


def test_a_missing_cookie_credential_is_refused(tree: ReleaseTree, credentials: Path) -> None:
    bind(tree, credentials)
    run = serve(tree, credentials)
    path = credentials / contract.COOKIE_CREDENTIAL
    assert_refused(tree, run, EXIT_REFUSED,
                   f"cannot read the credential {path} (No such file or directory); pass the "
                   f"cookie with LoadCredential={contract.COOKIE_CREDENTIAL}:<file> (or "
                   "SetCredentialEncrypted=) in the unit")  # fmt: skip


def test_a_symlinked_cookie_credential_is_not_followed(tree: ReleaseTree, credentials: Path) -> None:
    bind(tree, credentials)
    target = credentials / "elsewhere"
    target.write_text(STRONG_COOKIE)
    (credentials / contract.COOKIE_CREDENTIAL).symlink_to(target)
    run = serve(tree, credentials)
    assert run.returncode == EXIT_REFUSED, run.stderr
    assert "Too many levels of symbolic links" in run.stderr


def test_a_cookie_credential_that_is_not_a_file_is_refused(
    tree: ReleaseTree, credentials: Path
) -> None:
    bind(tree, credentials)
    os.mkfifo(credentials / contract.COOKIE_CREDENTIAL)
    run = serve(tree, credentials)
    path = credentials / contract.COOKIE_CREDENTIAL
    assert_refused(tree, run, EXIT_REFUSED,
                   f"the credential {path} is not a regular file; pass the cookie with "
                   f"LoadCredential={contract.COOKIE_CREDENTIAL}:<file> in the unit")  # fmt: skip


@pytest.mark.parametrize(
    ("cookie", "message"),
    [
        ("", "{path} is empty; write at least 32 random characters into the credential file "
             "the unit names (LoadCredential=cookie:<file>)"),
        ("\n", "{path} is empty; write at least 32 random characters into the credential file "
               "the unit names (LoadCredential=cookie:<file>)"),
        ("k" * 31, "{path} is shorter than DIST_COOKIE_MIN_LEN (31 characters, minimum 32); "
                   "write into it at least 32 random characters (DIST_ALLOW_WEAK_COOKIE=1 "
                   "accepts it for local work only)"),
        ("k" * 31 + "\n\n", "{path} contains a space, control or non-ASCII byte; use printable "
                            "ASCII only (for example base64 of 32 random bytes)"),
        ("k" * 20 + "\0" + "k" * 20, "{path} contains a space, control or non-ASCII byte; use "
                                     "printable ASCII only (for example base64 of 32 random bytes)"),
        ("k" * 256, "{path} is longer than 255 characters, the most the VM accepts"),
        ("k" * 5000, "{path} is longer than 255 characters, the most the VM accepts"),
    ],
    ids=["empty", "newline", "weak", "two-newlines", "nul", "256", "5000"],
)  # fmt: skip
def test_a_bad_cookie_credential_is_refused_naming_the_file(
    bound: Callable[..., Run], tree: ReleaseTree, credentials: Path, cookie: str, message: str
) -> None:
    run = bound(cookie)
    path = credentials / contract.COOKIE_CREDENTIAL
    assert_refused(tree, run, EXIT_REFUSED, message.format(path=path))


def test_the_longest_cookie_credential_with_its_newline_is_accepted(
    bound: Callable[..., Run],
) -> None:
    run = bound("k" * 255 + "\n")
    assert run.returncode == 0, run.stderr
    assert run.erlexec["cookie"] == "k" * 255


def test_a_weak_cookie_credential_boots_only_when_allowed(
    bound: Callable[..., Run], credentials: Path
) -> None:
    run = bound(RELEASE_NAME, DIST_COOKIE_MIN_LEN="5", DIST_ALLOW_WEAK_COOKIE="1")
    assert run.returncode == 0, run.stderr
    path = credentials / contract.COOKIE_CREDENTIAL
    assert run.stderr == (f"server: WARNING: {path} equals the release name; accepted only "
                          "because DIST_ALLOW_WEAK_COOKIE=1 - never run like this outside local "
                          "development\n")  # fmt: skip
    assert run.erlexec["cookie"] == RELEASE_NAME


# --- the certificates -----------------------------------------------------------

def bind_fix(tree: ReleaseTree) -> str:
    return f"BindReadOnlyPaths=%d:{tree.root}/{contract.DIST_CERTS_DIR}"


def test_certificates_not_bound_from_the_credentials_are_refused(
    tree: ReleaseTree, credentials: Path
) -> None:
    """dist-certs holds files of its own (the image's mount point, filled some
    other way): readable, but not what systemd was given."""
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    run = serve(tree, credentials)
    certs = f"{tree.root}/{contract.DIST_CERTS_DIR}"
    assert_refused(tree, run, EXIT_REFUSED,
                   f"{certs}/{contract.DIST_CERT} is not the credential {credentials}/"
                   f"{contract.DIST_CERT} (the VM reads the certificates from {certs}, named in "
                   f"the image's TLS options); bind the credentials directory there: "
                   f"{bind_fix(tree)}")  # fmt: skip


def test_an_empty_dist_certs_mount_point_is_refused_with_the_bind_fix(
    tree: ReleaseTree, credentials: Path
) -> None:
    for pem in (tree.root / contract.DIST_CERTS_DIR).iterdir():
        pem.unlink()
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    run = serve(tree, credentials)
    assert run.returncode == EXIT_REFUSED
    assert run.stderr.endswith(f"; bind the credentials directory there: {bind_fix(tree)}\n")


@pytest.mark.parametrize("missing", contract.DIST_CERT_FILES)
def test_a_missing_certificate_credential_is_named(
    tree: ReleaseTree, credentials: Path, missing: str
) -> None:
    bind(tree, credentials)
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    (credentials / missing).unlink()
    run = serve(tree, credentials)
    assert_refused(tree, run, EXIT_REFUSED,
                   f"TLS distribution is required but the credential {credentials}/{missing} is "
                   f"not readable (No such file or directory); pass it with "
                   f"LoadCredential={missing}:<file> in the unit")  # fmt: skip


def test_one_certificate_from_elsewhere_is_named(tree: ReleaseTree, credentials: Path) -> None:
    """A directory of symlinks: two of them are the credentials, the key is not."""
    certs = tree.root / contract.DIST_CERTS_DIR
    shutil.rmtree(certs)
    certs.mkdir()
    for name in contract.DIST_CERT_FILES:
        (certs / name).symlink_to(credentials / name)
    (certs / contract.DIST_KEY).unlink()
    (certs / contract.DIST_KEY).write_text("-----BEGIN OTHER KEY-----\n")
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    run = serve(tree, credentials)
    assert run.returncode == EXIT_REFUSED
    assert run.stderr.startswith(f"server: {certs}/{contract.DIST_KEY} is not the credential "
                                 f"{credentials}/{contract.DIST_KEY} ")  # fmt: skip


def test_without_tls_the_certificates_are_not_required(
    tree_factory: Callable[..., ReleaseTree], credentials: Path
) -> None:
    tree = tree_factory(NO_TLS)
    for name in contract.DIST_CERT_FILES:
        (credentials / name).unlink()
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    run = serve(tree, credentials)
    assert run.returncode == 0, run.stderr
    assert run.erlexec["cookie"] == STRONG_COOKIE


def test_task_verbs_ignore_the_credentials(tree: ReleaseTree) -> None:
    """Task verbs read no cookie: the directory is not even looked at."""
    run = tree.run("migrate", env={contract.CREDENTIALS_VAR: "/etc"})
    assert run.returncode == 0, run.stderr


def test_a_real_bind_mount_of_the_credentials_is_accepted(
    tree: ReleaseTree, credentials: Path
) -> None:
    """What the unit does, BindReadOnlyPaths=%d:<root>/dist-certs, in a
    private mount namespace: the bound files are the credentials' inodes."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], check=False).returncode != 0:
        pytest.skip("no private mount namespace here (needs CAP_SYS_ADMIN)")
    (credentials / contract.COOKIE_CREDENTIAL).write_text(STRONG_COOKIE)
    env = {k: v for k, v in tree.base_env.items() if k != contract.COOKIE_VAR}
    env[contract.CREDENTIALS_VAR] = str(credentials)
    script = 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && exec "$3"'
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", script, "sh", str(credentials),
         str(tree.root / contract.DIST_CERTS_DIR), str(tree.link("server"))],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads((tree.record_dir / "erlexec.json").read_text())
    assert record["cookie"] == STRONG_COOKIE
