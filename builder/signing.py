"""Signatures and attestations in cosign's tag-based format, made by cosign, checked here too.

``build-image sign`` has the real ``cosign`` sign the pushed digest and
attach the SBOM and the SLSA provenance as in-toto attestations, with a key
and no transparency log.  The registry (distribution 2.8.2) has no
referrers API, so cosign stores them under tags derived from the digest:

- ``sha256-<hex>.sig``: one layer per signature, the simple-signing payload
  (``critical.image.docker-manifest-digest``, ``critical.identity.docker-reference``),
  its ECDSA-P256/SHA-256 signature base64 in the layer annotation
  ``dev.cosignproject.cosign/signature``;
- ``sha256-<hex>.att``: one layer per attestation, a DSSE envelope whose
  payload is the in-toto statement (subject: the image digest).

:func:`verify_signed` checks both without cosign, so ``build-image verify
--signed-by KEY`` is an independent second opinion: a signature or
attestation that names another digest, or was made with another key, is
refused, as is an image with no signature at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from builder.credentials import docker_config_for
from builder.errors import PolicyViolation, UsageError
from builder.registry import Reference, Registry
from builder.runner import run

COSIGN = "cosign"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
IN_TOTO = "application/vnd.in-toto+json"
SBOM_PREDICATE = "https://cyclonedx.org/bom"
PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1"
REQUIRED_PREDICATES = (SBOM_PREDICATE, PROVENANCE_PREDICATE)


@dataclass(frozen=True)
class Verified:
    """What ``verify --signed-by`` established about an image."""

    reference: Reference  # registry/repository@digest
    signatures: int
    attestations: tuple[str, ...]  # predicate types, each with a matching subject


def sign(reference: Reference, key: str, *, sbom: bytes, provenance: bytes) -> Reference:
    """Sign ``reference``'s digest and attach the SBOM and provenance as attestations (cosign, no tlog).

    cosign gets the registry's login as build-image found it (Docker's config or --authfile).

    ``key`` is anything cosign's ``--key`` takes: a cosign.key file or
    ``env://VARIABLE`` (CI: from a secret); its password is COSIGN_PASSWORD.
    """
    target = resolve(reference)
    subject = json.loads(provenance)["subject"][0]["digest"].get("sha256")
    if f"sha256:{subject}" != target.digest:
        raise UsageError(f"the provenance names sha256:{subject}, not {target.digest}",
                         hint="push the image again (`build-image push REF`) so its provenance is current")
    with (tempfile.TemporaryDirectory(prefix="build-image-sign-") as work,
          docker_config_for(target.registry) as env):
        sbom_file, predicate_file = Path(work) / "sbom.cdx.json", Path(work) / "provenance.json"
        sbom_file.write_bytes(sbom)
        predicate_file.write_text(json.dumps(json.loads(provenance)["predicate"], sort_keys=True))
        common = ["--key", key, "--tlog-upload=false", "--yes"]
        run([COSIGN, "sign", *common, str(target)], env=env)
        run([COSIGN, "attest", *common, "--type", "cyclonedx", "--predicate", sbom_file, str(target)], env=env)
        run([COSIGN, "attest", *common, "--type", "slsaprovenance1", "--predicate", predicate_file, str(target)],
            env=env)
    return target


def resolve(reference: Reference) -> Reference:
    """``reference`` pinned to the digest the registry serves for it now."""
    digest = reference.digest or Registry(reference).manifest_digest(reference.tag or "latest")
    if digest is None:
        raise UsageError(f"{reference}: the registry has no such image", hint="push it first: build-image push REF")
    return reference.with_digest(digest)


def verify_signed(reference: Reference, public_key: Path) -> Verified:
    """Refuse ``reference`` unless its digest is signed and attested (SBOM, provenance) by ``public_key``."""
    key = _load_key(public_key)
    target = resolve(reference)
    registry = Registry(target)
    assert target.digest is not None
    manifest = registry.find_manifest(target.digest)
    if manifest is None or "sha256:" + hashlib.sha256(manifest).hexdigest() != target.digest:
        raise PolicyViolation(f"{target}: the registry does not serve that manifest as stored")
    tag = target.digest.replace(":", "-")
    signatures = _signatures(registry, target, key, registry.find_manifest(f"{tag}.sig"))
    attestations = _attestations(registry, target, key, registry.find_manifest(f"{tag}.att"))
    missing = [p for p in REQUIRED_PREDICATES if p not in attestations]
    if missing:
        raise PolicyViolation(f"{target}: no attestation of {', '.join(missing)} signed by {public_key}",
                              hint="`build-image sign REF --key …` attaches the SBOM and the provenance")
    return Verified(target, signatures, tuple(sorted(set(attestations))))


def sign_with(target: Reference, key: str, annotations: Mapping[str, str]) -> None:
    """cosign signs ``target`` (pinned by digest), the ``annotations`` inside the signed payload."""
    notes = [word for name, value in sorted(annotations.items()) for word in ("-a", f"{name}={value}")]
    with docker_config_for(target.registry) as env:
        run([COSIGN, "sign", "--key", key, "--tlog-upload=false", "--yes", *notes, str(target)], env=env)


def verify_signature(target: Reference, public_key: Path, annotations: Mapping[str, str]) -> None:
    """Refuse ``target`` (pinned by digest) unless ``public_key`` signed it with these ``annotations``."""
    registry = Registry(target)
    assert target.digest is not None
    manifest = registry.find_manifest(target.digest.replace(":", "-") + ".sig")
    _signatures(registry, target, _load_key(public_key), manifest, annotations)


def _load_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a PEM public key ({exc})", hint="pass cosign.pub, not cosign.key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{path}: an ECDSA public key is needed (cosign generate-key-pair makes one)")
    return key


def _layers(registry: Registry, manifest: bytes) -> list[tuple[Mapping[str, str], bytes]]:
    """(annotations, blob) of each layer, each blob checked against its digest."""
    found = []
    for layer in json.loads(manifest).get("layers", []):
        blob = registry.get_blob(layer["digest"])
        if "sha256:" + hashlib.sha256(blob).hexdigest() != layer["digest"]:
            raise PolicyViolation(f"layer {layer['digest']} does not match its digest")
        found.append((layer.get("annotations") or {}, blob))
    return found


def _signatures(registry: Registry, target: Reference, key: ec.EllipticCurvePublicKey,
                manifest: bytes | None, optional: Mapping[str, str] | None = None) -> int:
    """How many signatures by ``key`` name this digest (and carry ``optional``); refuse if none does."""
    valid = 0
    for notes, payload in _layers(registry, manifest) if manifest is not None else []:
        if not _verifies(key, notes.get(SIGNATURE_ANNOTATION, ""), payload):
            continue
        signed = json.loads(payload)
        critical = signed.get("critical", {})
        if (critical.get("type") == SIGNATURE_TYPE
                and critical.get("image", {}).get("docker-manifest-digest") == target.digest
                and critical.get("identity", {}).get("docker-reference") == f"{target.registry}/{target.repository}"
                and all((signed.get("optional") or {}).get(k) == v for k, v in (optional or {}).items())):
            valid += 1
    if not valid:
        raise PolicyViolation(f"{target}: no signature of this digest verifies with the given key",
                              hint="a wrong key, an unsigned or altered image: sign the digest you pushed")
    return valid


def _attestations(registry: Registry, target: Reference, key: ec.EllipticCurvePublicKey,
                  manifest: bytes | None) -> list[str]:
    """Predicate types of the attestations; any whose subject is another digest is refused."""
    predicates = []
    for _, blob in _layers(registry, manifest) if manifest is not None else []:
        envelope = json.loads(blob)
        payload = base64.b64decode(envelope.get("payload", ""))
        if envelope.get("payloadType") != IN_TOTO or not any(
                _verifies(key, s.get("sig", ""), _pae(IN_TOTO, payload)) for s in envelope.get("signatures", [])):
            continue  # another signer's attestation: not evidence, not a refusal
        statement: dict[str, Any] = json.loads(payload)
        subjects = {f"sha256:{s.get('digest', {}).get('sha256')}" for s in statement.get("subject", [])}
        if subjects != {target.digest}:
            raise PolicyViolation(f"{target}: an attestation ({statement.get('predicateType')}) names "
                                  f"{', '.join(sorted(subjects))}, not this digest",
                                  hint="attestations were copied from another image: sign this digest again")
        predicates.append(str(statement.get("predicateType")))
    return predicates


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _verifies(key: ec.EllipticCurvePublicKey, signature_b64: str, data: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
