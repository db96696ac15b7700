"""The one-way flow: config → sources → plan → build → assemble → verify."""

from __future__ import annotations

from dataclasses import dataclass

from builder.assemble import AssembledImage, assemble
from builder.build import Progress, build_all, debian_rootfs
from builder.config import Config
from builder.debian import host_mirror
from builder.engine import DockerEngine
from builder.engine_protocol import Engine
from builder.plan import Plan, make_plan
from builder.project import overlay_scripts, resolve_release
from builder.sources import fetch, fetch_rebar3
from builder.stage_cache import CacheSettings
from builder.verify import Report, verify_image


@dataclass(frozen=True)
class Built:
    image: AssembledImage
    report: Report | None


def prepare(config: Config, progress: Progress, engine: Engine | None = None) -> Plan:
    """Fetch and verify the pinned sources, then plan every stage: nothing built yet.

    The host's apt sources are read only when a source comes from Debian, so
    ``render`` works with url/path sources on a host without a Debian mirror.
    Without ``release:`` in the config, the release is found in mix.exs first,
    which builds the toolchain stages (on ``engine``, connected when needed).
    """
    pins = (config.otp.source, config.elixir, *([config.rebar3] if config.rebar3 else []))
    from_debian = any(pin.debian_suite is not None for pin in pins)
    mirror = host_mirror(config.bases.mirror) if from_debian else None
    progress.say(f"sources: OTP {config.otp.source.version}, Elixir {config.elixir.version}")
    otp = fetch("otp", config.otp.source, mirror)
    elixir = fetch("elixir", config.elixir, mirror)
    hex_client = fetch("hex", config.hex.client, None) if config.hex is not None else None
    rebar3 = fetch_rebar3(config.rebar3, mirror) if config.rebar3 is not None else None
    for source in (otp, elixir, *([hex_client] if hex_client else []), *([rebar3] if rebar3 else [])):
        progress.say(f"      {source.name:<7}{source.path.name}  sha256 {source.sha256[:16]}…  ({source.origin})")
    if config.release is None:
        config = resolve_release(engine or DockerEngine.connect(), config, otp, elixir, progress,
                                 debian_rootfs(config, progress))
    for script in overlay_scripts(config.app):
        progress.say(f"      left out: {script} is a shell script and the image has no shell "
                     "(an Elixir task verb can do its work: launcher.tasks)")
    if config.hex is not None and config.hex.unsafe_skip_signature_check:
        progress.say("      WARNING hex.unsafe_skip_signature_check: the Hex registry's signatures are NOT checked")
    return make_plan(config, otp, elixir, hex_client, rebar3)


def build(config: Config, progress: Progress, *, verify: bool = True, cache: CacheSettings | None = None) -> Built:
    """Build every stage (pulling and pushing them through ``cache``), assemble the image, verify it."""
    engine: Engine = DockerEngine.connect()  # a missing daemon is reported before any download
    if cache is not None:
        engine = cache.wrap(engine, progress.say)
    plan = prepare(config, progress, engine)
    progress.total = plan.steps(verify=verify)
    stages = build_all(engine, plan, progress, debian_rootfs(config, progress))
    started = progress.begin("assemble", f"final image {plan.tag}")
    image = assemble(engine, plan, stages)
    if image.reused:
        progress.cached(f"{image.tag} {image.id[:19]} (same inputs)")
    else:
        progress.done(started, f"{image.tag} {image.id[:19]}")
    report = None
    if verify:
        progress.begin("verify", "hardening, no shell, non-root, no secrets")
        report = verify_image(engine, plan.tag, config.verify)
        progress.say("      " + ("clean" if report.ok else "VIOLATIONS (report follows)"))
    return Built(image=image, report=report)
