#!/usr/bin/env bash
# flowtrace replay / gen / diff / bench against the built tools: a recorded demo replays into
# every backend and the twin with exit status 0; an altered trace fails with 1 and a report;
# bad input fails with 2; gen is byte-identical for a seed; bench writes JSON and an SVG.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
ft="$bin/flowtrace"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# A demo session on the embedded twin, recorded.
"$ft" demo --flows 1500 --plain --record "$tmp/demo.pcapng" > "$tmp/demo.out"
echo "recorded $(wc -c < "$tmp/demo.pcapng") bytes"

for target in backend:dummy backend:hash backend:tss backend:tcam twin twin:tcam; do
  if ! "$ft" replay "$tmp/demo.pcapng" --target "$target" > "$tmp/out" 2>&1; then
    echo "replay into $target failed:"; cat "$tmp/out"; exit 1
  fi
  grep -q " 0 divergent" "$tmp/out" || { echo "replay into $target: no '0 divergent'"; cat "$tmp/out"; exit 1; }
  echo "replay into $target: ok"
done

# JSON report, loop, preload, rate.
"$ft" replay "$tmp/demo.pcapng" --target backend:hash --json --loop 2 --preload > "$tmp/report.json"
python3 - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["divergent"] == 0 and r["loops"] == 2, r
assert r["compared"] == r["calls"] > 0, r
print("json report: ok")
PY
"$ft" replay "$tmp/demo.pcapng" --target backend:tcam --rate 500 > /dev/null

# gen: the same seed gives the same bytes; the trace replays clean into the twin.
"$ft" gen --flows 2000 --seed 7 --batch 8 --churn 0.3 --errors 0.05 --devices 2 --prefill 100 -w "$tmp/g1.pcapng" > /dev/null
"$ft" gen --flows 2000 --seed 7 --batch 8 --churn 0.3 --errors 0.05 --devices 2 --prefill 100 -w "$tmp/g2.pcapng" > /dev/null
cmp "$tmp/g1.pcapng" "$tmp/g2.pcapng"
"$ft" replay "$tmp/g1.pcapng" --target twin --topspeed > /dev/null
echo "gen: deterministic, replays clean"

# An altered answer: status 0 → 17 in the first SET_FLOWS ENCAP answer (byte patch of STATUS).
python3 - "$tmp/demo.pcapng" "$tmp/bad.pcapng" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
off, done = 0, False
while off + 12 <= len(data) and not done:
    btype, blen = struct.unpack_from("<II", data, off)
    if btype == 6 and blen >= 32:                       # EPB
        caplen = struct.unpack_from("<I", data, off + 20)[0]
        pkt = off + 28
        nl = pkt + 16                                   # after the LINKTYPE_NETLINK pseudo-header
        ptype = struct.unpack_from(">H", data, pkt)[0]
        if ptype == 7 and caplen > 40:                  # to the kernel side: an ENCAP answer?
            nlen, ntype = struct.unpack_from("<IH", data, nl)
            if ntype == 0x1d and data[nl + 16] == 3:    # nfl_hairpin ENCAP
                a = nl + 20
                alen, atype = struct.unpack_from("<HH", data, a)
                b, cmd, status = a + 4, None, None
                while b + 4 <= a + alen:
                    l, t = struct.unpack_from("<HH", data, b)
                    if l < 4: break
                    if t & 0x3fff == 2: cmd = struct.unpack_from("<I", data, b + 4)[0]
                    if t & 0x3fff == 3: status = b + 4
                    b += (l + 3) & ~3
                if cmd == 6 and status is not None and struct.unpack_from("<I", data, status)[0] == 0:
                    struct.pack_into("<I", data, status, 17)
                    done = True
    if blen < 12: break
    off += blen
assert done, "no SET_FLOWS answer found"
open(sys.argv[2], "wb").write(data)
PY
set +e
"$ft" replay "$tmp/bad.pcapng" --target backend:hash > "$tmp/out" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] || { echo "altered trace: exit $rc, expected 1"; cat "$tmp/out"; exit 1; }
grep -q "first divergence: SET_FLOWS" "$tmp/out" || { echo "no divergence report"; cat "$tmp/out"; exit 1; }
grep -q "≠" "$tmp/out" || { echo "no marked line"; cat "$tmp/out"; exit 1; }
echo "altered answer: exit 1 with a report"

# The twin compares both legs: the altered hairpin answer diverges there too, at the frame of
# the call's API request.
set +e
"$ft" replay "$tmp/bad.pcapng" --target twin --topspeed > "$tmp/out" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] || { echo "altered hairpin answer on the twin: exit $rc, expected 1"; cat "$tmp/out"; exit 1; }
grep -q "legs compared: api, hairpin" "$tmp/out" || { echo "no legs line"; cat "$tmp/out"; exit 1; }
grep -q "hairpin leg: the listener's ENCAP answer differs" "$tmp/out" || { cat "$tmp/out"; exit 1; }
grep -q "(call [0-9]*, frame [0-9]*, hairpin leg)" "$tmp/out" || { echo "no frame number"; cat "$tmp/out"; exit 1; }
echo "altered hairpin answer on the twin: exit 1"

# Every fifth small ENCAP answer (SET/DEL, one message; past the snapshot at the head) removed:
# nothing diverges, but calls are unverified: exit 1 unless --allow-incomplete.
python3 - "$tmp/demo.pcapng" "$tmp/holes.pcapng" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off, n = bytearray(), 0, 0
while off + 12 <= len(data):
    btype, blen = struct.unpack_from("<II", data, off)
    block = data[off:off + blen]
    off += blen
    if btype == 6 and struct.unpack_from(">H", block, 28)[0] == 7 and struct.unpack_from("<H", block, 28 + 16 + 4)[0] == 0x1d:
        n += 1
        if n > 20 and n % 5 == 0 and struct.unpack_from("<I", block, 28 + 16)[0] < 200:
            continue
    out += block
open(sys.argv[2], "wb").write(out)
PY
set +e
"$ft" replay "$tmp/holes.pcapng" --target backend:hash > "$tmp/out" 2>&1; rc=$?
"$ft" replay "$tmp/holes.pcapng" --target backend:hash --allow-incomplete > /dev/null 2>&1; rc_allowed=$?
set -e
[[ $rc == 1 && $rc_allowed == 0 ]] || { echo "incomplete trace: exit $rc / $rc_allowed"; cat "$tmp/out"; exit 1; }
grep -q "without a recorded answer, the first at frame" "$tmp/out" || { cat "$tmp/out"; exit 1; }
echo "incomplete trace: exit 1, accepted with --allow-incomplete"

set +e
"$ft" diff "$tmp/demo.pcapng" "$tmp/bad.pcapng" > "$tmp/out"; rc=$?
"$ft" diff "$tmp/demo.pcapng" "$tmp/demo.pcapng" > /dev/null; rc_same=$?
"$ft" replay /dev/null --target backend:hash 2> "$tmp/err"; rc_bad=$?
"$ft" replay "$tmp/demo.pcapng" --target bogus 2> "$tmp/err2"; rc_target=$?
set -e
[[ $rc == 1 && $rc_same == 0 ]] || { echo "diff: exit $rc / $rc_same"; cat "$tmp/out"; exit 1; }
[[ $rc_bad == 2 && $rc_target == 2 ]] || { echo "bad input: exit $rc_bad / $rc_target"; cat "$tmp/err" "$tmp/err2"; exit 1; }
grep -q "flowtrace:" "$tmp/err" || { echo "no message for bad input"; exit 1; }
echo "diff and bad input: ok"

"$ft" bench "$tmp/demo.pcapng" "$tmp/g1.pcapng" --runs 2 --json "$tmp/bench.json" --svg "$tmp/bench.svg" > "$tmp/bench.txt"
grep -q "calls/s" "$tmp/bench.txt"
python3 - "$tmp/bench.json" "$tmp/bench.svg" <<'PY'
import json, sys, xml.dom.minidom
r = json.load(open(sys.argv[1]))
assert len(r["results"]) == 8, len(r["results"])
assert all(x["divergent"] == 0 and x["calls_per_second"] > 0 for x in r["results"])
assert all(x["calls_per_second"] == x["all"]["calls_per_second"] for x in r["results"]), "headline != all row"
d = xml.dom.minidom.parse(sys.argv[2])
assert d.documentElement.tagName == "svg"
print("bench: table, json, svg ok")
PY
# Every fixture in traces/ replays into every backend and the twin with zero divergences.
traces="$(cd "$(dirname "$0")/../.." && pwd)/traces"
for t in "$traces"/*.pcapng; do
  for target in backend:dummy backend:hash backend:tss backend:tcam twin; do
    "$ft" replay "$t" --target "$target" --topspeed > "$tmp/fixture.out" 2>&1 \
      || { cat "$tmp/fixture.out"; echo "$(basename "$t") into $target diverged"; exit 1; }
    grep -q " 0 divergent" "$tmp/fixture.out" || { cat "$tmp/fixture.out"; exit 1; }
  done
done
echo "traces/ fixtures: ok"
echo "ok"
