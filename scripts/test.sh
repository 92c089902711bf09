#!/usr/bin/env bash
# The test command: lints, then every test in the workspace. Root tests run as root (CI does);
# as another user they skip with a message. Leaves nothing on the host (checked at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTH_FIXTURES=${BERTH_FIXTURES:-$PWD/.cache/fixtures}
scripts/fixture-busybox.sh >/dev/null
# docker-compose v1 for its black-box test (PyPI through pip; skipped quietly if offline when
# not in CI).
scripts/compose-venv.sh >/dev/null || [ -z "${CI:-}" ]
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
vm/run.sh  # cgroup v2-only and AppArmor checks in a qemu VM of Debian's kernel (vm/README.md)
leaks="../shared/tools/host-leaks"
if [ -x "$leaks" ]; then "$leaks" --strict; fi
