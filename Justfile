# build-image developer commands. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Build and verify the example image (examples/hello → hello:latest)
example:
    build-image build -c examples/hello/build-image.yaml

# Every test: unit tier, launcher sanitizer build, fuzz smoke run, integration tier
test: test-unit test-launcher-asan fuzz-launcher test-integration

# Fast tests that need no Docker engine
test-unit:
    python3 -m pytest -m "not docker"

# Tests against the real Docker engine and real images (builds the example once)
test-integration:
    python3 -m pytest -m docker

# Benchmarks: print figures (no assertions)
bench:
    python3 bench/launcher.py
    python3 bench/verify.py hello:latest
    python3 bench/build.py
