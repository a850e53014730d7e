#!/usr/bin/env bash
# Every test of the project, in order: unit and property tests (swift test), end-to-end tests
# of the built tools (Tests/e2e), the suite and the threaded e2e scripts under ThreadSanitizer
# (scripts/tsan.sh), a bounded fuzzing run of every fuzz target (scripts/fuzz.sh,
# FUZZ_SECONDS per target, default 45), and the kernel-module tests in a QEMU VM (scripts/vm)
# when the VM packages are installable. Ends with one line "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp); trap 'rm -f "$log"' EXIT
swift_passed=0; swift_failed=0
swift build --build-tests 2>&1 | grep -E "error|warning: unre|Compiling|Build" | grep -v "^\[" | tail -5
if swift test --skip-build 2>&1 | tee "$log" | grep -E "✘|Test run with|error:" ; then :; fi
summary=$(grep -E "Test run with [0-9]+ tests?" "$log" | tail -1)
n=$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<<"$summary")
if grep -q "passed after" <<<"$summary" && [[ -n "$n" ]]; then
  swift_passed=$n
else
  swift_failed=$(grep -E "^✘ Test .* failed after" "$log" | grep -vc "Test run with"); ((swift_failed == 0)) && swift_failed=1
  swift_passed=$(( ${n:-0} - swift_failed )); ((swift_passed < 0)) && swift_passed=0
fi

e2e_out=$(scripts/run-e2e-tests.sh 2>&1); e2e_rc=$?
echo "$e2e_out"
e2e_passed=$(sed -nE 's/^e2e: ([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$e2e_out")
e2e_failed=$(sed -nE 's/^e2e: ([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$e2e_out")
if [[ -z "$e2e_failed" ]]; then e2e_passed=0; e2e_failed=1; fi
if ((e2e_rc != 0 && e2e_failed == 0)); then e2e_failed=1; fi

# ThreadSanitizer: the swift test suite (serially) and the loopback, record and load e2e scripts
# built with TSan; any report, data race or thread leak, fails (scripts/tsan.sh).
tsan_out=$(scripts/tsan.sh 2>&1); tsan_rc=$?
echo "$tsan_out"
tsan_passed=$(sed -nE 's/^tsan: ([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$tsan_out")
tsan_failed=$(sed -nE 's/^tsan: ([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$tsan_out")
if [[ -z "$tsan_failed" ]]; then tsan_passed=0; tsan_failed=1; fi
if ((tsan_rc != 0 && tsan_failed == 0)); then tsan_failed=1; fi

# Fuzzing: each target for a bounded time on its seed corpus; any crash fails (scripts/fuzz.sh).
fuzz_out=$(scripts/fuzz.sh "${FUZZ_SECONDS:-45}" 2>&1); fuzz_rc=$?
echo "$fuzz_out"
fuzz_passed=$(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$fuzz_out")
fuzz_failed=$(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$fuzz_out")
if [[ -z "$fuzz_failed" ]]; then fuzz_passed=0; fuzz_failed=1; fi
if ((fuzz_rc != 0 && fuzz_failed == 0)); then fuzz_failed=1; fi

vm_passed=0; vm_failed=0
if [[ -x scripts/vm/run-all.sh ]]; then
  vm_out=$(scripts/vm/run-all.sh 2>&1); vm_rc=$?
  # Every test's line and every failure's lines; the metrics of passing tests are left out
  # (scripts/vm/run-all.sh prints them in full).
  grep -v "^    VMTEST METRIC" <<<"$vm_out"
  vm_passed=$(sed -nE 's/^vm: ([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$vm_out")
  vm_failed=$(sed -nE 's/^vm: ([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$vm_out")
  [[ -z "$vm_failed" ]] && { vm_passed=0; vm_failed=1; }
  ((vm_rc != 0 && vm_failed == 0)) && vm_failed=1
fi

passed=$((swift_passed + e2e_passed + tsan_passed + fuzz_passed + vm_passed))
failed=$((swift_failed + e2e_failed + tsan_failed + fuzz_failed + vm_failed))
echo "swift test: $swift_passed passed, $swift_failed failed; e2e: $e2e_passed passed, $e2e_failed failed;" \
     "tsan: $tsan_passed passed, $tsan_failed failed;" \
     "fuzz: $fuzz_passed passed, $fuzz_failed failed; vm: $vm_passed passed, $vm_failed failed"
echo "tests: $passed passed, $failed failed"
((failed == 0))
