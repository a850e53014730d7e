#!/usr/bin/env bash
# The fuzz targets built normally are corpus runners: every committed seed and regression input
# (Fuzz/corpus/<target>/) goes through the same decoders and oracles as under libFuzzer
# (round trips, well-formed ENCAP answers identical on every backend, clean read errors); the
# pcapng runner also reads the full traces. Each runner must report every input, and a missing
# input must be an error (exit 2), not a pass.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
export SWIFT_BACKTRACE=enable=no
for t in fuzz-netlink fuzz-pcapng fuzz-json fuzz-encap fuzz-ynl fuzz-classbench fuzz-ovs; do
  dir="$root/Fuzz/corpus/$t"
  n=$(find "$dir" -type f ! -name '.*' | wc -l)
  ((n > 0)) || { echo "$t: empty corpus $dir"; exit 1; }
  out=$("$bin/$t" "$dir")
  echo "$out"
  [[ "$out" == "$t: $n inputs passed" ]] || { echo "$t: expected $n inputs passed"; exit 1; }
done
out=$("$bin/fuzz-pcapng" "$root"/traces/*.pcapng)
echo "$out"
[[ "$out" == "fuzz-pcapng: $(ls "$root"/traces/*.pcapng | wc -l) inputs passed" ]]
rc=0; "$bin/fuzz-netlink" "$root/Fuzz/corpus/no-such-input" 2>/dev/null || rc=$?
((rc == 2)) || { echo "a missing input gave exit $rc, not 2"; exit 1; }
echo "fuzz corpus runners: ok"
