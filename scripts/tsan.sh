#!/usr/bin/env bash
# ThreadSanitizer: builds everything with --sanitize=thread (in .build-tsan, apart from the
# normal build), runs the swift test suite, then the e2e scripts where the twin, daemon,
# recorder and flusher threads meet under load (loopback, record, load). Any report, data race
# or thread leak, in any process (background daemons included), fails: every report goes to a
# file under $TSAN_OUT, and the stage fails when one exists. Ends with one line
# "tsan: N passed, N failed" (the suite's tests plus one per e2e script).
#
#   scripts/tsan.sh                 everything
#   TSAN_E2E=0 scripts/tsan.sh      the swift test suite only
#   TSAN_LOAD_CALLS=N …             calls in load.sh (default 100000: TSan runs ~10x slower)
#
# Tests run serially (--no-parallel): the Swift runtime livelocks under TSan with parallel tests.
set -uo pipefail
cd "$(dirname "$0")/.."

scratch=.build-tsan
out=${TSAN_OUT:-$scratch/reports}
rm -rf "$out"; mkdir -p "$out"
out=$(cd "$out" && pwd)
# halt_on_error: the first report ends the process (exit 66) rather than letting a test pass
# after it; log_path: reports from every process land in $out/report.<pid>, whoever started it.
export TSAN_OPTIONS="halt_on_error=1 report_thread_leaks=1 exitcode=66 log_path=$out/report ${TSAN_OPTIONS:-}"
# The Swift runtime's crash reporter would race TSan's own report and can stall.
export SWIFT_BACKTRACE=enable=no

passed=0; failed=0
reports() { ls "$out"/report.* 2>/dev/null | wc -l; }
show_reports() {
  local f
  for f in "$out"/report.*; do
    [[ -e $f ]] || continue
    echo "    $f:"; grep -E "WARNING: ThreadSanitizer|^    #[0-3] " "$f" | head -24 | sed 's/^/    /'
  done
}

# The logs stay in $out: the suite's per-test times show what TSan makes slow.
build_log=$out/build.log; test_log=$out/swift-test.log
start=$SECONDS
if ! swift build --build-tests --sanitize=thread --scratch-path "$scratch" >"$build_log" 2>&1; then
  echo "tsan: build FAILED"; grep -E "error" "$build_log" | head -10 | sed 's/^/    /'
  echo "tsan: 0 passed, 1 failed"; exit 1
fi

echo "tsan: build $((SECONDS - start)) s"
before=$(reports); start=$SECONDS
swift test --skip-build --sanitize=thread --scratch-path "$scratch" --no-parallel >"$test_log" 2>&1; rc=$?
summary=$(grep -E "Test run with [0-9]+ tests?" "$test_log" | tail -1)
n=$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<<"$summary")
if ((rc == 0)) && grep -q "passed after" <<<"$summary" && (($(reports) == before)); then
  passed=$((passed + n)); echo "tsan: swift test ok ($n tests, $((SECONDS - start)) s)"
else
  bad=$(grep -cE "^✘ Test .* failed after" "$test_log"); ((bad == 0)) && bad=1
  failed=$((failed + bad)); passed=$((passed + ${n:-0} - bad)); ((passed < 0)) && passed=0
  echo "tsan: swift test FAILED (exit $rc)"; grep -E "✘|error:" "$test_log" | head -10 | sed 's/^/    /'
  show_reports
fi

if [[ ${TSAN_E2E:-1} != 0 ]]; then
  export FLOWTRACE_BIN
  FLOWTRACE_BIN=$(swift build --sanitize=thread --scratch-path "$scratch" --show-bin-path)
  # load.sh's RSS bound is for the normal build: TSan's shadow memory grows with the heap.
  export LOAD_CALLS=${TSAN_LOAD_CALLS:-100000} LOAD_RSS_MIB=${TSAN_LOAD_RSS_MIB:-256}
  for t in loopback record load; do
    before=$(reports); start=$SECONDS
    log=$(mktemp)
    if timeout 900 bash "Tests/e2e/$t.sh" >"$log" 2>&1 && (($(reports) == before)); then
      echo "tsan: e2e $t ok ($((SECONDS - start)) s)"; passed=$((passed + 1))
    else
      echo "tsan: e2e $t FAILED"; tail -20 "$log" | sed 's/^/    /'; show_reports; failed=$((failed + 1))
    fi
    rm -f "$log"
  done
fi

echo "tsan: $passed passed, $failed failed"
((failed == 0))
