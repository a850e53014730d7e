#!/usr/bin/env bash
# scripts/vm/tshark-vs-show.py, the VM test's comparison of tshark (with the generated
# dissectors) and `flowtrace show --json`, on a capture the VM test made (Tests/Fixtures/captures:
# devlink on a netdevsim device, ethtool, netdev, on Linux 6.12) with the kernel specs of
# Tests/Fixtures/kernel-specs. The two agree, enums (devlink's port-flavour, port-type) and
# flags (ethtool's header flags with one tshark field per bit, netdev's 64-bit xdp-features
# without) included; and each kind of difference is found: an enum's number, a flags word, a bit
# field that contradicts its word, a zero-valued field only tshark shows.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/Tests/e2e/lib/tshark.bash"   # $ft, $tmp, fail; a clean HOME and spec path
specs="$root/Tests/Fixtures/kernel-specs"
cap="$root/Tests/Fixtures/captures/netdevsim-6.12.pcapng"
compare=(python3 "$root/scripts/vm/tshark-vs-show.py" --spec-dir "$root/spec" --spec-dir "$specs")

"$ft" show --json --spec-dir "$specs" "$cap" > "$tmp/show.jsonl" 2> "$tmp/err" || fail "show: $(cat "$tmp/err")"
"$ft" wireshark print --spec-dir "$specs" > "$tmp/any.lua" 2> "$tmp/err" || fail "wireshark print: $(cat "$tmp/err")"
tshark -r "$cap" -X "lua_script:$tmp/any.lua" -T json > "$tmp/tshark.json" 2> "$tmp/err" || fail "tshark: $(cat "$tmp/err")"
# The fields the mutations below change must be in the capture.
for f in '"devlink.port_flavour": "0"' '"ethtool.header.flags": "0x00000001"' '"ethtool.header.flags.omit_reply": "0"' \
  '"netdev.dev.xdp_features": "0x0000000000000010"'; do
  grep -qF "$f" "$tmp/tshark.json" || fail "tshark shows no $f"
done

"${compare[@]}" "$tmp/show.jsonl" "$tmp/tshark.json" ethtool devlink netdev > "$tmp/out" ||
  fail "tshark and show differ on the capture: $(cat "$tmp/out")"
grep -qE "^    [1-9][0-9]* messages, [1-9][0-9]* attribute values compared, 0 differing$" "$tmp/out" ||
  fail "nothing compared: $(cat "$tmp/out")"
echo "ok: agree: $(tail -1 "$tmp/out" | sed 's/^ *//')"

# mutate NAME SED-EXPRESSION TEXT: tshark's output changed so; the comparison must fail and say TEXT.
mutate() {
  local name=$1 expr=$2 text=$3
  sed "$expr" "$tmp/tshark.json" > "$tmp/mutated.json"
  cmp -s "$tmp/mutated.json" "$tmp/tshark.json" && fail "$name: the mutation changed nothing"
  if "${compare[@]}" "$tmp/show.jsonl" "$tmp/mutated.json" ethtool devlink netdev > "$tmp/out"; then
    fail "$name: not found: $(cat "$tmp/out")"
  fi
  grep -qF -- "$text" "$tmp/out" || fail "$name: the difference is not named ($text): $(cat "$tmp/out")"
  echo "ok: $name found: $(grep -F -- "$text" "$tmp/out" | head -1 | sed 's/^ *//')"
}
mutate "an enum's number" '0,/"devlink.port_flavour": "0"/s//"devlink.port_flavour": "1"/' \
  "tshark only [('port_flavour', '1')]"
mutate "a 64-bit flags word" 's/"netdev.dev.xdp_features": "0x0000000000000010"/"netdev.dev.xdp_features": "0x0000000000000011"/' \
  "tshark only [('xdp_features', '17')]"
mutate "a flags word" 's/"ethtool.header.flags": "0x00000001"/"ethtool.header.flags": "0x00000003"/' \
  "tshark only [('flags', '3')]"
mutate "a bit field against its word" 's/"ethtool.header.flags.omit_reply": "0"/"ethtool.header.flags.omit_reply": "1"/' \
  "ethtool.header.flags.omit_reply is 1, its word 0x1"
# A zero only tshark shows, in a message with a flags attribute (where a heuristic once dropped zeros).
mutate "a zero only tshark shows" 's/"ethtool.header.flags.stats": "0"/&, "ethtool.header.phy_index": "0"/' \
  "tshark only [('phy_index', '0')]"

# stats names the messages whose spec lacks an attribute (6.12's devlink.yaml has no 84-86), from a
# file and from standard input alike: one pass, so a pipe is no less complete.
for src in file stdin; do
  if [[ $src == file ]]; then "$ft" stats --json --spec-dir "$specs" "$cap" > "$tmp/stats.json" 2> "$tmp/err"
  else "$ft" stats --json --spec-dir "$specs" - < "$cap" > "$tmp/stats.json" 2> "$tmp/err"; fi ||
    fail "stats ($src): $(cat "$tmp/err")"
  python3 - "$tmp/stats.json" "$tmp/show.jsonl" <<'PY' || fail "stats ($src) does not name devlink's undefined attributes"
import json, sys
d = json.load(open(sys.argv[1]))
rows = {(r["family"], r["op"]): r for r in d.get("undefined_attrs", [])}
r = rows.get(("devlink", "param-get"))
assert r and r["messages"] > 0 and "param.84" in r["attrs"], d.get("undefined_attrs")
# The first such message's frame is the one show marks first.
shown = [json.loads(l) for l in open(sys.argv[2])]
frames = [m["frame"] for m in shown if m.get("op") == "param-get" and "undefined_attrs" in m]
assert frames and r["first_frame"] == min(frames), (r, frames[:3])
PY
  echo "ok: stats ($src) names devlink param-get's attr param.84"
done
echo "tshark-vs-show: ok"
