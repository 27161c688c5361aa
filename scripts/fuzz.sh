#!/usr/bin/env bash
# Fuzzes the client input path (frame parser, unmasking, UTF-8, request decoders) and the RESP
# decoder of the Redis link with libFuzzer.
#
#   scripts/fuzz.sh [SECONDS]     default 60; the test command runs it with 60
#
# Builds Sources/SwitchboardFuzz with -sanitize=fuzzer,address into .build-fuzz, starts from the
# seed corpus in Tests/FuzzCorpus (seeds and past crashes), keeps what it learns in
# .build-fuzz/corpus and writes any crashing input to .build-fuzz/crashes/. A crash fails the
# run: add the input to Tests/FuzzCorpus/regressions/ with the fix, and the test command replays
# it from then on.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scratch=.build-fuzz

swift build --product SwitchboardFuzz --scratch-path "$scratch" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | tail -n 2
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: build failed"; exit 2; }

mkdir -p "$scratch/corpus" "$scratch/crashes"
"$scratch/debug/SwitchboardFuzz" "$scratch/corpus" Tests/FuzzCorpus/seeds Tests/FuzzCorpus/regressions \
  -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$scratch/crashes/" -print_final_stats=1 >"$scratch/fuzz.log" 2>&1
status=$?
grep -E '^(#[0-9]+\s+DONE|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY' "$scratch/fuzz.log" | head -n 20
if [ "$status" -ne 0 ]; then
  echo "fuzz: libFuzzer found a failing input (see $scratch/fuzz.log and $scratch/crashes/)"
  exit 1
fi
echo "fuzz: ${seconds}s without a crash"
