#!/usr/bin/env bash
# Recording: files the tool wrote open in tshark with names (plugin) and agree with our own
# reader; capinfos accepts them; an editcap copy is still read fully; SIGINT finishes a file,
# kill -9 leaves one that reads to its last whole record; rotation (-C/-W) keeps every record.
set -eu   # no pipefail: `producer | grep -q` ends the producer early by design
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ctl="$bin/flow-table-ctl"
source "$root/Tests/e2e/lib/tshark.bash"   # $ft, $tmp, pids, fail, wait_for_log; a clean HOME

# 1. A recorded demo session.
"$ft" demo --plain --flows 500 --record "$tmp/demo.pcapng" > "$tmp/demo.out" || { cat "$tmp/demo.out"; fail "demo"; }
grep -q "All .* checks passed" "$tmp/demo.out" || fail "demo checks"
capinfos "$tmp/demo.pcapng" > "$tmp/capinfos.txt" || fail "capinfos rejects the file"
grep -q "nanoseconds" "$tmp/capinfos.txt" || fail "capinfos: no ns precision"
grep -q "Capture comment: *FlowTrace session" "$tmp/capinfos.txt" || fail "capinfos: no session comment"
ours=$("$ft" show "$tmp/demo.pcapng" --snapshot | wc -l)
theirs=$(tshark -r "$tmp/demo.pcapng" | wc -l)
[[ $ours == "$theirs" ]] || fail "tshark counts $theirs records, flowtrace $ours"
# Family names resolved by tshark without the plugin (NEWFAMILY records come first).
tshark -r "$tmp/demo.pcapng" -V 2>/dev/null | grep -q "(net_flow_nl)" || fail "tshark does not name net_flow_nl"
tshark -r "$tmp/demo.pcapng" -V 2>/dev/null | grep -q "(nfl_hairpin)" || fail "tshark does not name nfl_hairpin"
# With the plugin: commands by name, direction, filters.
"$ft" wireshark install > /dev/null
tshark -G plugins | grep -q flowtrace.lua || fail "plugin not installed"
set_flows_ours=$("$ft" show "$tmp/demo.pcapng" --leg api --command SET_FLOWS --json | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l).get("request")))')
set_flows_tshark=$(tshark -r "$tmp/demo.pcapng" -Y 'net_flow_nl.cmd == 6 && netlink.hdr_flags.request == 1 && !nfl_hairpin' | wc -l)
[[ $set_flows_ours == "$set_flows_tshark" && $set_flows_ours -gt 0 ]] || fail "SET_FLOWS requests: ours $set_flows_ours, tshark $set_flows_tshark"
tshark -r "$tmp/demo.pcapng" -Y nfl_hairpin -T fields -e _ws.col.Info | grep -q "ENCAP SET_FLOWS" || fail "plugin Info column"
tshark -r "$tmp/demo.pcapng" -T fields -e frame.packet_flags_direction | sort -u | grep -q 0x00000002 || fail "no outbound direction"
if tshark -r "$tmp/demo.pcapng" -V 2>&1 | grep -qE "Lua Error|Malformed"; then fail "tshark reports errors"; fi
# Stats agree with the demo's numbers.
"$ft" stats "$tmp/demo.pcapng" --json > "$tmp/stats.json"
python3 - "$tmp/stats.json" <<'PY' || fail "stats"
import json, sys
s = json.load(open(sys.argv[1]))
cmds = {(c["leg"], c["cmd"]): c for c in s["commands"]}
assert cmds[("hairpin", "SET_FLOWS")]["calls"] > 0
assert s["flows_added"], s
PY
# An editcap copy keeps everything our reader needs.
editcap "$tmp/demo.pcapng" "$tmp/copy.pcapng"
cmp <("$ft" show "$tmp/demo.pcapng" --snapshot) <("$ft" show "$tmp/copy.pcapng" --snapshot) || fail "editcap copy reads differently"

# 2. SIGINT finishes the daemon's file; kill -9 leaves a readable one. Each session is one
# SET_FLOWS call (the daemon is found ready by its log line, not by calls): the trace holds
# exactly that call, with its request and answer on both legs.
# one_call FILE: `flowtrace audit` finds exactly one call in FILE, answered and forwarded, whole.
one_call() {
  "$ft" audit "$1" --json > "$tmp/audit.json" || fail "$1: $(cat "$tmp/audit.json")"
  python3 - "$tmp/audit.json" <<'PY' || fail "$1: not exactly the one SET_FLOWS call: $(cat "$tmp/audit.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert (a["calls"], a["answered"], a["forwarded"], a["anomalies"]) == (1, 1, 1, 0), a
PY
  local n; n=$(api_requests "$1"); [[ $n == 1 ]] || fail "$1 holds $n API requests, the session made 1"
}
"$bin/flow-table-hairpind" --twin --record "$tmp/sigint.pcapng" 2> "$tmp/daemon.err" & d=$!; pids+=($d)
wait_for_log "$tmp/daemon.err" "twin listening on" $d
"$ctl" set-flows unft0 "$root/models/default/examples/flows.json"
kill -INT "$d"; wait "$d" || fail "daemon exit status after SIGINT: $(cat "$tmp/daemon.err")"
"$ft" show "$tmp/sigint.pcapng" 2> "$tmp/err" | grep -q "NFL  SET_FLOWS req" || fail "SIGINT file lacks the request"
[[ ! -s $tmp/err ]] || fail "SIGINT file is not clean: $(cat "$tmp/err")"
one_call "$tmp/sigint.pcapng"
"$bin/flow-table-hairpind" --twin --record "$tmp/kill9.pcapng" 2> "$tmp/daemon.err" & d=$!; pids+=($d)
wait_for_log "$tmp/daemon.err" "twin listening on" $d
"$ctl" set-flows unft0 "$root/models/default/examples/flows.json"
sleep 0.3   # past the 100 ms flush bound
kill -9 "$d"; wait "$d" 2>/dev/null || true
"$ft" show "$tmp/kill9.pcapng" | grep -q "NFL  SET_FLOWS req" || fail "kill -9 lost flushed records"
tshark -r "$tmp/kill9.pcapng" > /dev/null 2>&1 || [[ $? == 2 ]] || fail "tshark cannot read the killed file"
one_call "$tmp/kill9.pcapng"

# 3. Rotation: -C 1 -W 3 with a busy session keeps whole files, each self-contained.
"$bin/flow-table-hairpind" --twin --record "$tmp/rot.pcapng" -C 0.05 2> "$tmp/daemon.err" & d=$!; pids+=($d)
wait_for_log "$tmp/daemon.err" "twin listening on" $d
for i in $(seq 30); do "$ctl" -j get-tables unft0 > /dev/null; "$ctl" -j get-headers unft0 > /dev/null; done
kill -TERM "$d"; wait "$d" || true
files=$(ls "$tmp"/rot*.pcapng | wc -l)
[[ $files -ge 2 ]] || fail "no rotation ($files files)"
tables=0; headers=0
for f in "$tmp"/rot*.pcapng; do
  tables=$((tables + $(api_requests "$f" GET_TABLES)))
  headers=$((headers + $(api_requests "$f" GET_HEADERS)))
  "$ft" show "$f" --snapshot | head -1 | grep -q NEWFAMILY || fail "$f does not start with NEWFAMILY"
done
# Exactly the session's calls: 30 of each, nothing else made before them.
[[ $tables == 30 && $headers == 30 ]] || fail "rotation kept $tables of 30 GET_TABLES and $headers of 30 GET_HEADERS requests"
# The rotated set, read in order as one stream, holds every call whole (calls go on across files).
set_files=("$tmp/rot.pcapng"); for ((i = 1; i < files; i++)); do set_files+=("$tmp/rot$i.pcapng"); done
"$ft" audit "${set_files[@]}" > "$tmp/audit.txt" || fail "the rotated set does not audit clean: $(cat "$tmp/audit.txt")"
grep -q "GET_TABLES 30" "$tmp/audit.txt" || fail "audit of the rotated set: $(cat "$tmp/audit.txt")"

# 4. Calls: the demo recording and a gen trace audit clean; the twin's own answers count against
# their command; show, the plugin and export agree on the call ids.
"$ft" audit "$tmp/demo.pcapng" > "$tmp/audit.txt" || fail "the demo recording does not audit clean: $(cat "$tmp/audit.txt")"
"$ft" gen --flows 2000 --batch 20 --churn 0.3 --errors 0.05 --devices 2 -w "$tmp/gen.pcapng" > /dev/null
"$ft" audit "$tmp/gen.pcapng" > "$tmp/audit.txt" || fail "a gen trace does not audit clean: $(cat "$tmp/audit.txt")"
"$ft" stats "$root/traces/demo-session.pcapng" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
c = {(x["leg"], x["cmd"]): x["errors"] for x in s["commands"]}
assert c[("api", "GET_TABLES")] == {"EINVAL": 1, "ENOTCONN": 1}, c
assert c[("api", "UPDATE_FLOWS")] == {"EOPNOTSUPP": 1}, c' || fail "stats: errors not counted against their command"
n=$("$ft" show "$root/traces/demo-session.pcapng" --command UPDATE_FLOWS | grep -c "EOPNOTSUPP\|UPDATE_FLOWS req")
[[ $n == 2 ]] || fail "show --command UPDATE_FLOWS shows $n of the request and its error"
"$ft" show "$root/traces/demo-session.pcapng" --status error | grep -q "UPDATE_FLOWS req" \
  || fail "show --status error does not show the failed call's request"
"$ft" show "$tmp/demo.pcapng" --snapshot --json | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l); print(o["frame"], o.get("call", ""))' > "$tmp/calls.ours"
tshark -r "$tmp/demo.pcapng" -T fields -e frame.number -e flowtrace.call | tr '\t' ' ' | sed 's/ $//' > "$tmp/calls.tshark"
sed -i 's/ $//' "$tmp/calls.ours"
cmp -s "$tmp/calls.ours" "$tmp/calls.tshark" || fail "flowtrace.call differs from show --json: $(diff "$tmp/calls.ours" "$tmp/calls.tshark" | head -5)"
# Export's rows are our calls, by show's ids (nlctrl's calls are numbered too, not exported).
calls=$("$ft" export --format csv "$tmp/demo.pcapng" -o - | tail -n +2 | cut -d, -f1 | sort -n | tr '\n' ' ')
ours=$("$ft" show "$tmp/demo.pcapng" --json | python3 -c '
import json, sys
ids = set()
for l in sys.stdin:
    o = json.loads(l)
    if o.get("call") and o.get("kind") in ("flowTable", "hairpin"): ids.add(o["call"])
print(" ".join(str(i) for i in sorted(ids)) + " ")')
[[ -n ${calls// } && $calls == "$ours" ]] || fail "export has calls ${calls:0:80}, show ${ours:0:80}"
"$ft" export --format perfetto "$tmp/demo.pcapng" -o "$tmp/demo.json"
python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["traceEvents"]; assert any(x["ph"] == "X" for x in e)' "$tmp/demo.json" \
  || fail "export --format perfetto"
echo ok
