#!/usr/bin/env bash
# The test command (README quick start, .ci/run): installs what the tests need, builds, runs
# every suite, and ends with one summary line. Exit status is non-zero if anything failed.
#
#   scripts/test.sh            all suites (Swift unit + integration, end-to-end with Python clients)
#
# Needs: Swift 6.3 on PATH; Debian packages and PyPI reachable for the first run.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/.venv-test"
logs="$root/.build/test-logs"
mkdir -p "$logs"

say() { printf '\n== %s\n' "$*"; }

# --- What the tests need -------------------------------------------------------------------
apt_packages=()
command -v python3 >/dev/null || apt_packages+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3-venv)
[ -f /usr/include/ncursesw/curses.h ] || apt_packages+=(libncurses-dev)
command -v tmux >/dev/null || apt_packages+=(tmux)
if ((${#apt_packages[@]})); then
  say "installing Debian packages: ${apt_packages[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" || exit 1
fi
if [ ! -x "$venv/bin/pip" ]; then
  say "creating the Python test environment in .venv-test"
  python3 -m venv "$venv" || exit 1
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r Tests/EndToEnd/requirements.txt || exit 1

# --- Build ---------------------------------------------------------------------------------
say "building (debug, with tests)"
swift build --build-tests 2>&1 | tail -n 3
if [ "${PIPESTATUS[0]}" -ne 0 ]; then echo "build failed"; echo "tests: 0 passed, 1 failed"; exit 1; fi

# --- Swift suites: unit tests (no sockets) and integration tests (real sockets) ------------
say "swift test"
timeout 1500 swift test --skip-build 2>&1 | tee "$logs/swift.log" | grep -E '^(✘|✔ Suite|✔ Test run|􀢄|Test run)|error:|failed' || true
swift_status=${PIPESTATUS[0]}
swift_passed=$(grep -E '^✔ Test .* passed' "$logs/swift.log" | grep -vc '^✔ Test run' || true)
swift_failed=$(grep -cE '^✘ Test .* failed' "$logs/swift.log" || true)
if [ "$swift_status" -ne 0 ] && [ "$swift_failed" -eq 0 ]; then swift_failed=1; fi

# --- End to end: the real binary with third-party clients -----------------------------------
say "end-to-end (pytest, Python websockets client)"
SWITCHBOARD_BIN="$root/.build/debug/switchboard" "$venv/bin/pytest" -q -p no:cacheprovider --timeout 300 Tests/EndToEnd 2>&1 | tee "$logs/e2e.log" | tail -n 15
e2e_status=${PIPESTATUS[0]}
e2e_passed=$(grep -oE '[0-9]+ passed' "$logs/e2e.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
e2e_failed=$(grep -oE '[0-9]+ (failed|error)' "$logs/e2e.log" | awk '{s+=$1} END {print s+0}')
if [ "$e2e_status" -ne 0 ] && [ "$e2e_failed" -eq 0 ]; then e2e_failed=1; fi

passed=$((swift_passed + e2e_passed))
failed=$((swift_failed + e2e_failed))
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
