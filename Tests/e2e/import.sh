#!/usr/bin/env bash
# Rule sets from the field (flowtrace gen --from classbench|ovs): the report on stderr (rules,
# flows, expansion factor, skipped fields and actions), a trace that replays into every backend,
# malformed lines refused with FILE:LINE and exit 2, the profiles documented in --help.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="$bin/flowtrace"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
fix="$root/Tests/Fixtures/import"

"$ft" gen --from classbench "$fix/classbench-small.txt" --batch 4 --devices 2 -w "$tmp/cb.pcapng" 2>"$tmp/cb.err" >"$tmp/cb.out" \
  || { cat "$tmp/cb.err"; fail "gen --from classbench"; }
grep -q "classbench .*classbench-small.txt: 9 rules read, 9 imported, 21 flows (expansion factor 2.33)" "$tmp/cb.err" || { cat "$tmp/cb.err"; fail "classbench report"; }
grep -q "skipped fields: flags 1, ports (protocol 1 is neither TCP nor UDP) 1" "$tmp/cb.err" || fail "classbench skipped fields"
grep -q "42 flows set, 0 deleted, 0 GET_FLOWS, 0 made to fail, 0 failed in all" "$tmp/cb.out" || { cat "$tmp/cb.out"; fail "classbench trace"; }
for t in backend:dummy backend:hash backend:tss backend:tcam; do
  "$ft" replay "$tmp/cb.pcapng" --target "$t" > "$tmp/replay.out" || { cat "$tmp/replay.out"; fail "replay into $t"; }
done

"$ft" gen --from ovs "$fix/ovs-small.txt" -w - 2>"$tmp/ovs.err" | "$ft" stats - > /dev/null || { cat "$tmp/ovs.err"; fail "gen --from ovs -w -"; }
grep -q "11 rules read, 10 imported, 10 flows" "$tmp/ovs.err" || { cat "$tmp/ovs.err"; fail "ovs report"; }
grep -q "skipped actions: NORMAL 2, ct 1, resubmit 1" "$tmp/ovs.err" || { cat "$tmp/ovs.err"; fail "ovs skipped actions"; }
grep -q "skipped rules: no action the model can express 1" "$tmp/ovs.err" || fail "ovs skipped rules"

# Malformed lines: FILE:LINE: reason, exit 2, no trace claimed.
printf '@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t0 : 65535\t0x06/0xFF\n\n@1.2.3.4/32\t5.6.7.8/40\t0 : 65535\t0 : 65535\t0x06/0xFF\n' > "$tmp/bad.txt"
rc=0; "$ft" gen --from classbench "$tmp/bad.txt" -w "$tmp/bad.pcapng" 2>"$tmp/bad.err" || rc=$?
((rc == 2)) || fail "a malformed filter set gave exit $rc"
grep -q "$tmp/bad.txt:3: destination prefix" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "malformed classbench message"; }
printf ' priority=10,ip,nw_src=10.0.0.0/8\n' > "$tmp/bad.ovs"
rc=0; "$ft" gen --from ovs "$tmp/bad.ovs" -w "$tmp/bad.pcapng" 2>"$tmp/bad.err" || rc=$?
((rc == 2)) && grep -q "$tmp/bad.ovs:1: no 'actions='" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "malformed ovs line"; }
rc=0; "$ft" gen --from classbench -w "$tmp/x.pcapng" 2>/dev/null || rc=$?
((rc != 0)) || fail "--from without a file was accepted"

# Profiles.
help=$("$ft" gen --help)
grep -q "update-storm" <<<"$help" || fail "--help does not document update-storm"
grep -q "tuple space explosion" <<<"$help" || fail "--help does not document tse"
out=$("$ft" gen --profile tse --flows 500 --batch 8 -w "$tmp/tse.pcapng")
grep -q "500 flows set, 0 deleted, 0 GET_FLOWS, 0 made to fail, 0 failed in all" <<<"$out" || fail "tse: $out"
out=$("$ft" gen --profile update-storm --flows 400 --prefill 100 -w "$tmp/storm.pcapng")
grep -q "400 flows set, 200 deleted" <<<"$out" || fail "update-storm: $out"
"$ft" replay "$tmp/storm.pcapng" --target backend:tcam > /dev/null || fail "storm replay into tcam"
rc=0; "$ft" gen --profile update-storm --flows 10 --churn 0.2 -w "$tmp/x.pcapng" 2>/dev/null || rc=$?
((rc == 2)) || fail "update-storm with --churn was accepted"
echo "import: ok"
