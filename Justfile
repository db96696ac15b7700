# build-image developer commands. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Build and verify the example image (examples/hello → hello:latest)
example:
    build-image build -c examples/hello/build-image.yaml

# Without CI=true a test whose tool or engine is missing is skipped (and listed); with CI=true it fails.
# Every test: unit and host-tool tiers, launcher sanitizer build, fuzz smoke run, integration tier
test: test-unit test-launcher-asan fuzz-launcher test-integration

# Tests that need no Docker engine: Python only (unit) and host tools (tools: gcc, erlc, checksec, …)
test-unit:
    python3 -m pytest -m "not docker"

# Tests that need nothing but Python and the package
test-python:
    python3 -m pytest -m unit

# Tests against the real Docker engine and real images (builds the example once)
test-integration:
    python3 -m pytest -m docker

# Launcher tests against its ASan+UBSan build (less the one that empties /proc: ASan's runtime reads it)
test-launcher-asan:
    LAUNCHER_SANITIZE=1 python3 -m pytest -q tests/launcher \
        --deselect tests/launcher/test_contract.py::test_without_proc_the_root_is_the_contract_app_root

# Short libFuzzer run over the start_erl.data parser, command dispatch and the environment checks
fuzz-launcher seconds="30":
    mkdir -p build/fuzz/corpus
    make -s -C launcher fuzz CC=clang-14 OUT="$PWD/build/fuzz/fuzz_launcher"
    build/fuzz/fuzz_launcher -max_total_time={{seconds}} build/fuzz/corpus launcher/fuzz/seeds

# Static checks: ruff (rules in pyproject.toml) over the code and tests, mypy --strict over builder/
lint:
    ruff check builder tests bench
    mypy

# Benchmarks: print figures (no assertions)
bench:
    python3 bench/launcher.py
    python3 bench/verify.py hello:latest
    python3 bench/build.py
