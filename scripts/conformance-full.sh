#!/usr/bin/env bash
# Full Autobahn|Testsuite run: cases 1-10 and every permessage-deflate case (12.*, 13.*) against
# a release build's --echo-route. Takes 20-30 minutes; the test command runs 1-10 and a smoke set.
#
#   scripts/conformance-full.sh [PORT]
set -uo pipefail
cd "$(dirname "$0")/.."
port=${1:-9001}
swift build -c release --product switchboard 2>&1 | tail -n 1 || exit 2
.build/release/switchboard serve --headless --port "$port" --echo-route /echo --stats-interval 0 --log-level warning &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
groups="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
for minor in 1 2 3 4 5; do groups+=",12.$minor.*"; done      # 12.1-12.5: compressed echo, sizes and levels
for minor in 1 2 3 4 5 6 7; do groups+=",13.$minor.*"; done  # 13.1-13.7: negotiation variants
bash scripts/autobahn.sh --url "ws://127.0.0.1:$port/echo" --cases "$groups"
