#!/usr/bin/env bash
# The test command (README quick start, .ci/run): installs what the tests need, builds, runs
# every suite, and ends with one summary line. Exit status is non-zero if anything failed.
#
#   scripts/test.sh            all suites: Swift unit + integration (Redis ones against a real
#                              redis-server each test starts), end-to-end with Python clients,
#                              Autobahn|Testsuite 1-10 against the echo route, the fuzz corpus
#                              replayed and libFuzzer for FUZZ_SECONDS (default 60); and
#                              swift format lint --strict over Sources and Tests, counted as one test
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
[ -f /usr/include/zlib.h ] || apt_packages+=(zlib1g-dev)
command -v tmux >/dev/null || apt_packages+=(tmux)
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v chromium >/dev/null || apt_packages+=(chromium)  # the live page is tested in a real browser
command -v redis-server >/dev/null || apt_packages+=(redis-server)  # cluster tests: each starts its own on a free port
command -v node >/dev/null || command -v nodejs >/dev/null || apt_packages+=(nodejs)  # /switchboard.js run in Node
[ -f /usr/share/nodejs/ws/package.json ] || apt_packages+=(node-ws)  # its WebSocket (Debian puts it in /usr/share/nodejs/ws)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_packages+=(nginx)  # the README's load-balancer example, exercised
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

# --- Lint: swift format with the repo's .swift-format, strict (warnings fail); one test -----
say "swift format lint --strict (Sources, Tests)"
lint_passed=0 lint_failed=0
if swift format lint --strict -r Sources Tests 2>&1 | tee "$logs/lint.log" | tail -n 20 && [ "${PIPESTATUS[0]}" -eq 0 ]; then
  lint_passed=1
else
  lint_failed=1
fi

# --- Swift suites: unit tests (no sockets) and integration tests (real sockets) ------------
# One test at a time: on two cores, suites that pause and kill their own redis-server compete for
# the CPU with everything else when run in parallel, and their waits (a 6 s Redis pause, then the
# node's recovery) stretch until the slowest races; serially the whole run is also faster here.
say "swift test"
SWITCHBOARD_REQUIRE_REDIS=1 timeout 1500 swift test --skip-build --no-parallel 2>&1 | tee "$logs/swift.log" | grep -E '^(✘|✔ Suite|✔ Test run|􀢄|Test run)|error:|failed' || true
swift_status=${PIPESTATUS[0]}
# Counted from swift-testing's closing line: its per-test lines come from several threads and
# some can go missing from a piped log, which undercounted the passes.
swift_passed=$(grep -oE '^✔ Test run with [0-9]+ tests' "$logs/swift.log" | grep -oE '[0-9]+' | tail -1 || true)
[ -n "$swift_passed" ] || swift_passed=$(grep -E '^✔ Test .* passed' "$logs/swift.log" | grep -vc '^✔ Test run' || true)
swift_failed=$(grep -cE '^✘ Test .* failed' "$logs/swift.log" || true)
if [ "$swift_status" -ne 0 ] && [ "$swift_failed" -eq 0 ]; then swift_failed=1; fi

# --- End to end: the real binary with third-party clients -----------------------------------
say "end-to-end (pytest, Python websockets client)"
SWITCHBOARD_BIN="$root/.build/debug/switchboard" "$venv/bin/pytest" -q -p no:cacheprovider --timeout 300 Tests/EndToEnd 2>&1 | tee "$logs/e2e.log" | tail -n 15
e2e_status=${PIPESTATUS[0]}
e2e_passed=$(grep -oE '[0-9]+ passed' "$logs/e2e.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
e2e_failed=$(grep -oE '[0-9]+ (failed|error)' "$logs/e2e.log" | awk '{s+=$1} END {print s+0}')
if [ "$e2e_status" -ne 0 ] && [ "$e2e_failed" -eq 0 ]; then e2e_failed=1; fi

# --- Protocol conformance: Autobahn|Testsuite cases 1-10 against the echo route -------------
say "Autobahn|Testsuite 1.* - 10.* and a permessage-deflate smoke set against --echo-route (reports in autobahn-reports/)"
ab_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.build/debug/switchboard" serve --headless --port "$ab_port" --echo-route /echo --stats-interval 0 \
  --log-level warning >"$logs/autobahn-server.log" 2>&1 &
ab_server=$!
python3 - "$ab_port" <<'PY'
import sys, time, urllib.request
for _ in range(600):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1); break
    except OSError:
        time.sleep(0.1)
PY
ab_cases="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.1.1,12.1.5,12.2.10,13.1.1,13.3.5,13.5.1,13.7.18"
bash scripts/autobahn.sh --url "ws://127.0.0.1:$ab_port/echo" --cases "$ab_cases" 2>&1 | tee "$logs/autobahn.log" | tail -n 8
ab_status=${PIPESTATUS[0]}
kill "$ab_server" 2>/dev/null; wait "$ab_server" 2>/dev/null
ab_cases=$(grep -oE 'autobahn: [0-9]+ cases' "$logs/autobahn.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
ab_failed=$(grep -oE 'cases, [0-9]+ failed' "$logs/autobahn.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
if [ "$ab_status" -ne 0 ] && [ "$ab_failed" -eq 0 ]; then ab_failed=1; fi
ab_passed=$((ab_cases > ab_failed ? ab_cases - ab_failed : 0))

# --- Fuzzing: replay every seed and past crash, then libFuzzer for a bounded time ------------
say "fuzz corpus replay (Tests/FuzzCorpus) and libFuzzer, ${FUZZ_SECONDS:-60} s"
fuzz_passed=0 fuzz_failed=0
if "$root/.build/debug/SwitchboardFuzz" Tests/FuzzCorpus; then fuzz_passed=$((fuzz_passed + 1)); else fuzz_failed=$((fuzz_failed + 1)); fi
if bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tee "$logs/fuzz.log" | tail -n 6 && [ "${PIPESTATUS[0]}" -eq 0 ]; then
  fuzz_passed=$((fuzz_passed + 1))
else
  fuzz_failed=$((fuzz_failed + 1))
fi

passed=$((lint_passed + swift_passed + e2e_passed + ab_passed + fuzz_passed))
failed=$((lint_failed + swift_failed + e2e_failed + ab_failed + fuzz_failed))
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
