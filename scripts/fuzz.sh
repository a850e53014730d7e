#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer and runs each for a bounded time on
# a copy of its committed seed corpus (Fuzz/corpus/<target>/). Fails on any crash, trap, leak,
# timeout or out-of-memory: the input is saved under .build-fuzz/artifacts/<target>/ and its path
# printed. Ends with one line "fuzz: N passed, N failed". docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 45 s, every target)
# SECONDS is each named target's time. Without TARGETs (the CI stage) every target runs and they
# share 4 x SECONDS, the budget the stage had with four targets: a new target does not lengthen it.
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 0 fuzz-netlink      (a number of executions instead)
#   FUZZ_KEEP_CORPUS=1 …   keep the grown corpus in $FUZZ_OUT/corpus/<target>/
#   FUZZ_OUT=DIR …         logs, grown corpora and crash inputs go there (default .build-fuzz)
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-45}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz-netlink fuzz-pcapng fuzz-json fuzz-encap fuzz-ynl fuzz-classbench fuzz-ovs)
  seconds=$(( seconds * 4 / ${#targets[@]} ))
fi
build=.build-fuzz
out_dir=${FUZZ_OUT:-$build}
# Release optimisation for speed, but with assert() kept (-assert-config Debug): a fuzzer should
# stop at every check the code has. -D FUZZING turns the corpus runner into libFuzzer's target;
# libFuzzer's main is linked in, so the target's @main entry is renamed fuzz_target_main, which
# FuzzSupport's LLVMFuzzerInitialize calls to register the target (Fuzz/FuzzSupport/FuzzTarget.swift).
# The sanitizers go as one -Xswiftc flag: SwiftPM's `--sanitize fuzzer --sanitize address`
# becomes two -sanitize= options of which swiftc keeps only the last (in set order), silently
# losing either the coverage or ASan. `--sanitize fuzzer` stays for what SwiftPM does for it.
flags=(-c release --build-path "$build" --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address
       -Xswiftc -DFUZZING -Xswiftc -assert-config -Xswiftc Debug
       -Xswiftc -Xfrontend -Xswiftc -entry-point-function-name -Xswiftc -Xfrontend -Xswiftc fuzz_target_main)
mkdir -p "$out_dir"

# -max_len: the seeds are at most 16 KiB (Fuzz/corpus); -timeout: one input taking 10 s is a
# hang; -rss_limit_mb: more than 2 GiB for one input of 16 KiB is a runaway allocation.
# The importers' inputs are text lines: 4 KiB holds dozens of rules, and a rule expands to up to
# 1,800 flows, so longer inputs only slow each execution down.
declare -A max_len=([fuzz-netlink]=16384 [fuzz-pcapng]=16384 [fuzz-json]=16384 [fuzz-encap]=16384 [fuzz-ynl]=16384
                    [fuzz-classbench]=4096 [fuzz-ovs]=4096)
# The Swift runtime's own crash reporter would race libFuzzer's handler and can stall.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}

passed=0; failed=0
for t in "${targets[@]}"; do
  out=$(swift build "${flags[@]}" --product "$t" 2>&1); rc=$?
  if ((rc != 0)); then
    echo "fuzz: $t FAILED to build"; grep -E "error" <<<"$out" | head -10 | sed 's/^/    /'
    failed=$((failed+1)); rm -f "$build/release/$t"
  elif syms=$(nm "$build/release/$t" 2>/dev/null); ! grep -q __sancov_cntrs <<<"$syms" || ! grep -q __asan_report_load8 <<<"$syms"; then
    echo "fuzz: $t FAILED: built without coverage or without AddressSanitizer"
    failed=$((failed+1)); rm -f "$build/release/$t"
  fi
done
bin="$build/release"

for t in "${targets[@]}"; do
  [[ -x "$bin/$t" ]] || continue
  [[ -d "Fuzz/corpus/$t" ]] || { echo "fuzz: $t has no seed corpus Fuzz/corpus/$t"; failed=$((failed+1)); continue; }
  work="$out_dir/corpus/$t"; artifacts="$out_dir/artifacts/$t"
  rm -rf "$work"; mkdir -p "$work" "$artifacts"
  cp Fuzz/corpus/"$t"/* "$work"/
  log="$out_dir/$t.log"
  limits=(-max_total_time="$seconds")
  [[ -n "${FUZZ_RUNS:-}" ]] && limits=(-runs="$FUZZ_RUNS")
  start=$(date +%s)
  "$bin/$t" "$work" "${limits[@]}" -max_len="${max_len[$t]:-16384}" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1)
  if ((rc == 0)); then
    echo "fuzz: $t ok: ${runs:-?} executions in ${elapsed} s (${rate:-?}/s), $cov, corpus $(ls "$work" | wc -l) inputs"
    passed=$((passed+1))
  else
    echo "fuzz: $t FAILED (exit $rc) after ${runs:-?} executions in ${elapsed} s; log $log"
    grep -E "FUZZ CHECK FAILED|ERROR: |SUMMARY: |Fatal error|deadly signal|Test unit written" "$log" | head -12 | sed 's/^/    /'
    for a in "$artifacts"/*; do [[ -e "$a" ]] && echo "    input saved: $a (reproduce: $bin/$t $a)"; done
    failed=$((failed+1))
  fi
  [[ -n "${FUZZ_KEEP_CORPUS:-}" ]] || rm -rf "$work"
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
