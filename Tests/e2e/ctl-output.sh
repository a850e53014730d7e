#!/usr/bin/env bash
# flow-table-ctl's output for people, against the twin (flow-table-hairpind --twin): get-flows
# prints one flow per line with names and values formatted from the device's model (golden
# lines below), -j / -p print JSON, set/del print a short success line (none with -q), each
# failed flow of a *-log strategy is printed with its reason (a duplicate uid and a duplicate
# match set give different lines), -v logs every call once, and the global options work before
# the subcommand as well as after it.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ctl="$bin/flow-table-ctl"
source "$root/Tests/e2e/lib/daemon.bash"   # $tmp, pids, fail, wait_for_log
sock="$tmp/api.sock"
"$bin/flow-table-hairpind" --twin --devices unft0,unft1 --socket "$sock" 2> "$tmp/daemon.err" & pids+=($!)
wait_for_log "$tmp/daemon.err" "twin listening on" "${pids[0]}"
# The default socket is elsewhere: every call below must use --socket to reach the twin.
export FLOWTRACE_RUNTIME_DIR="$tmp/nothing-here"; mkdir -m 700 "$FLOWTRACE_RUNTIME_DIR"

# Flows that show every way of writing a value: the model's examples plus masked MAC, IPv4 and
# integer matches, a hex field, an IPv6 prefix in its two 64-bit halves, actions with MAC and
# integer arguments. Action and argument names are left out: they come from the device's model.
python3 - "$root/models/default/examples/flows.json" "$tmp/flows.json" <<'PY'
import json, sys
flows = json.load(open(sys.argv[1]))["flows"]
def b(v, n): return list(v.to_bytes(n, "big"))
def m(inst, field, mt, typ, n, v, mask):
    return {"field_ref": {"instance": inst, "header": inst, "field": field, "mask_type": mt, "type": typ,
                          "value": b(v, n), "mask": b(mask, n)}}
def a(uid, *args): return {"action": {"uid": uid, "signature": [{"action_arg": {"type": t, "value": b(v, n)}} for t, n, v in args]}}
flows += [
    {"flow": {"table": 1, "uid": 2, "priority": 400, "matches": [
        m(1, 1, 3, 4, 8, 0x001122000000, 0xffffff000000), m(1, 3, 1, 2, 2, 0x0800, 0xffff),
        m(3, 12, 3, 3, 4, 0x0a000001, 0xff0000ff), m(3, 3, 3, 1, 1, 40, 0x38), m(5, 2, 3, 2, 2, 1024, 0xfc00)],
        "actions": [a(1, (2, 2, 5)), a(9, (3, 4, 7)), a(2)]}},
    {"flow": {"table": 3, "uid": 3, "priority": 16, "matches": [
        m(7, 2, 1, 3, 4, 0, 0xffffffff), m(3, 13, 2, 3, 4, 0xc0000200, 0xffffff00)],
        "actions": [a(4, (4, 8, 0x020000000009)), a(5, (3, 4, 9))]}},
    {"flow": {"table": 5, "uid": 1, "priority": 64, "matches": [
        m(7, 2, 1, 3, 4, 0, 0xffffffff), m(4, 9, 2, 4, 8, 0x20010db800010000, 0xffffffffffff0000)],
        "actions": [a(5, (3, 4, 7))]}},
]
json.dump({"flows": flows}, open(sys.argv[2], "w"), indent=1)
PY

# set-flows: one success line on stdout, nothing on stderr; with the options before the subcommand.
"$ctl" --socket "$sock" set-flows unft0 "$tmp/flows.json" > "$tmp/out" 2> "$tmp/err" || fail "set-flows: $(cat "$tmp/err")"
[[ $(cat "$tmp/out") == "set 9 flows on unft0 (tables 1, 2, 3, 4, 5)" ]] || fail "set-flows said: $(cat "$tmp/out")"
[[ ! -s $tmp/err ]] || fail "set-flows wrote to stderr: $(cat "$tmp/err")"

# get-flows: the golden lines, the same with the global options before and after the subcommand.
cat > "$tmp/golden" <<'EOF'
table 1 uid 2 prio 400 ethernet.src_mac=00:11:22:00:00:00/ff:ff:ff:00:00:00 ethernet.ethertype=0x0800 ipv4.src_ip=10.0.0.1/255.0.0.255 ipv4.dscp=40/0x38 tcp.dst_port=1024/0xfc00 action set_vlan_id vlan_id=5 action set_metadata metadata=7 action copy_to_cpu
table 1 uid 1 prio 500 ipv4.src_ip=192.168.0.0/16 action copy_to_cpu
table 2 uid 1 prio 10 vlan.vid=100 ethernet.dst_mac=02:00:00:00:00:01 action set_out_port port=2
table 2 uid 2 prio 10 vlan.vid=100 ethernet.dst_mac=02:00:00:00:00:02 action set_out_port port=3
table 3 uid 1 prio 8 metadata.inter_table=0 ipv4.dst_ip=10.0.0.0/8 action set_out_port port=4
table 3 uid 3 prio 16 metadata.inter_table=0 ipv4.dst_ip=192.0.2.0/24 action set_eth_dst eth_dst=02:00:00:00:00:09 action set_out_port port=9
table 3 uid 2 prio 24 metadata.inter_table=0 ipv4.dst_ip=10.1.2.0/24 action set_out_port port=5
table 4 uid 1 prio 100 ipv4.src_ip=10.0.0.1 ipv4.dst_ip=10.0.0.2 ipv4.protocol=6 tcp.dst_port=80 action drop
table 5 uid 1 prio 64 metadata.inter_table=0 ipv6.dst_ip=2001:db8:1::/48 action set_out_port port=7
EOF
for t in 1 2 3 4 5; do "$ctl" --socket "$sock" --timeout 5 get-flows unft0 --table $t; done > "$tmp/before" 2> "$tmp/err" \
  || fail "get-flows (options first): $(cat "$tmp/err")"
diff -u "$tmp/golden" "$tmp/before" || fail "get-flows differs from the golden lines"
for t in 1 2 3 4 5; do "$ctl" get-flows unft0 --table $t --socket "$sock" --timeout 5; done > "$tmp/after" 2> "$tmp/err" \
  || fail "get-flows (options last): $(cat "$tmp/err")"
diff -u "$tmp/golden" "$tmp/after" || fail "get-flows with the options last differs"
# An empty table prints nothing.
[[ -z $("$ctl" get-flows unft1 --table 2 --socket "$sock") ]] || fail "an empty table printed something"

# -j: compact JSON, one line, the flows as set; -p (and -j -p) pretty JSON, the same value.
"$ctl" -j --socket "$sock" get-flows unft0 --table 3 > "$tmp/j"
[[ $(wc -l < "$tmp/j") == 1 ]] || fail "-j is not one line"
python3 -m json.tool "$tmp/j" > /dev/null || fail "-j output is not JSON"
"$ctl" get-flows unft0 --table 3 --socket "$sock" -j -p > "$tmp/jp"
"$ctl" -p get-flows unft0 --table 3 --socket "$sock" > "$tmp/p"
cmp -s "$tmp/jp" "$tmp/p" || fail "-p differs from -j -p"
[[ $(wc -l < "$tmp/p") -gt 10 ]] || fail "-p is not pretty"
python3 - "$tmp/flows.json" "$tmp/j" "$tmp/p" <<'PY' || fail "-j / -p flows differ from those set"
import json, sys
src = sorted((f["flow"] for f in json.load(open(sys.argv[1]))["flows"] if f["flow"]["table"] == 3),
             key=lambda f: (f["priority"], f["uid"]))
for path in sys.argv[2:]:
    got = [f["flow"] for f in json.load(open(path))["flows"]]
    assert [(f["uid"], f["priority"], f["matches"]) for f in got] == [(f["uid"], f["priority"], f["matches"]) for f in src], path
PY
# Getters: text by default (names from the model), JSON with -j.
"$ctl" get-tables unft0 --socket "$sock" > "$tmp/tables"
grep -qx "table 3 ipv4_route source 1 apply 3 size 65536 match metadata.inter_table(exact),ipv4.dst_ip(lpm) actions set_eth_src,set_eth_dst,set_out_port,check_ttl_drop,drop,copy_to_cpu" "$tmp/tables" \
  || fail "get-tables text: $(cat "$tmp/tables")"
"$ctl" get-headers unft0 --socket "$sock" | grep -qx "header 1 ethernet src_mac:48 dst_mac:48 ethertype:16" || fail "get-headers text"
"$ctl" get-actions unft0 --socket "$sock" | grep -qx "action 5 set_out_port port:u32" || fail "get-actions text"
"$ctl" get-header-graph unft0 --socket "$sock" | grep -q "^node 1 ethernet headers ethernet jump ethernet.ethertype=0x8100:vlan," || fail "get-header-graph text"
"$ctl" get-table-graph unft0 --socket "$sock" | grep -qx "table 1 ingress_acl ingress-root jump ethernet.ethertype=0x0800:ipv4_5tuple,ethernet.ethertype=0x86dd:ipv6_route,always:l2_fdb" \
  || fail "get-table-graph text: $("$ctl" get-table-graph unft0 --socket "$sock")"
for c in get-tables get-headers get-actions get-header-graph get-table-graph; do
  "$ctl" -j $c unft0 --socket "$sock" | python3 -m json.tool > /dev/null || fail "$c -j is not JSON"
done

# Each failed flow with its reason. uid 1 is a duplicate uid; uid 9 has uid 1's matches and
# priority; uid 10 matches a field table 2 does not have.
python3 - "$tmp/flows.json" "$tmp/dup.json" <<'PY'
import json, copy, sys
f1 = next(f for f in json.load(open(sys.argv[1]))["flows"] if f["flow"]["table"] == 2 and f["flow"]["uid"] == 1)
same = copy.deepcopy(f1); same["flow"]["uid"] = 9
bad = copy.deepcopy(f1); bad["flow"]["uid"] = 10; bad["flow"]["priority"] = 11
bad["flow"]["matches"][1]["field_ref"].update(instance=3, header=3, field=12, type=3, value=[10, 0, 0, 1], mask=[255, 255, 255, 255])
json.dump({"flows": [f1, same, bad]}, open(sys.argv[2], "w"))
PY
if "$ctl" set-flows unft0 "$tmp/dup.json" --error-strategy cont-log --socket "$sock" > "$tmp/out" 2> "$tmp/err"; then
  fail "cont-log with failed flows exited 0"
fi
grep -qx "flow-table-ctl: flow table 2 uid 1: EEXIST (errno 17): duplicate uid" "$tmp/err" || fail "cont-log duplicate uid: $(cat "$tmp/err")"
grep -qx "flow-table-ctl: flow table 2 uid 9: EEXIST (errno 17): same matches and priority as flow uid 1" "$tmp/err" \
  || fail "cont-log duplicate match set: $(cat "$tmp/err")"
grep -qx "flow-table-ctl: flow table 2 uid 10: EINVAL (errno 22): match #1 (instance 3, header 3, field 12): table 2 cannot match this field" "$tmp/err" || fail "cont-log invalid match: $(cat "$tmp/err")"
[[ ! -s $tmp/out ]] || fail "a failed set-flows printed a success line: $(cat "$tmp/out")"
# abort-log: the reason the device gave (the final error's extended ack).
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["flows"]=d["flows"][1:2]; json.dump(d, open(sys.argv[2],"w"))' "$tmp/dup.json" "$tmp/same.json"
"$ctl" set-flows unft0 "$tmp/same.json" --error-strategy abort-log --socket "$sock" > /dev/null 2> "$tmp/err" && fail "abort-log accepted a duplicate"
grep -qx "flow-table-ctl: flow table 2 uid 9: EEXIST (errno 17): same matches and priority as flow uid 1" "$tmp/err" \
  || fail "abort-log duplicate match set: $(cat "$tmp/err")"
# -j: the report as libflow-table JSON on stdout, each flow with its errno.
"$ctl" -j set-flows unft0 "$tmp/dup.json" --error-strategy cont-log --socket "$sock" > "$tmp/report.json" 2> /dev/null && fail "cont-log -j exited 0"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [(f["flow"]["uid"], f["flow"]["error"]) for f in d["flows"]] == [(1, 17), (9, 17), (10, 22)], d' \
  "$tmp/report.json" || fail "cont-log -j report"
# del-flows of a flow that is not there.
echo '{"flows":[{"flow":{"table":2,"uid":77,"priority":1}}]}' > "$tmp/del77.json"
"$ctl" del-flows unft0 "$tmp/del77.json" --error-strategy cont-log --socket "$sock" > /dev/null 2> "$tmp/err" && fail "del of a missing flow exited 0"
grep -qx "flow-table-ctl: flow table 2 uid 77: ENOENT (errno 2): no flow with uid 77 in table 2" "$tmp/err" || fail "del reason: $(cat "$tmp/err")"

# del-flows: its success line; -q: none.
"$ctl" del-flows unft0 "$root/models/default/examples/del-flows.json" --socket "$sock" > "$tmp/out" || fail "del-flows"
[[ $(cat "$tmp/out") == "deleted 2 flows from unft0 (table 2)" ]] || fail "del-flows said: $(cat "$tmp/out")"
"$ctl" set-flows unft0 "$tmp/flows.json" --error-strategy continue --socket "$sock" > "$tmp/out" || fail "continue"
grep -q "^sent 9 flows to unft0 (tables 1, 2, 3, 4, 5); with continue, failed flows are not reported" "$tmp/out" || fail "continue said: $(cat "$tmp/out")"
"$ctl" -q del-flows unft0 "$root/models/default/examples/del-flows.json" --socket "$sock" > "$tmp/out" || fail "del-flows -q"
[[ ! -s $tmp/out ]] || fail "-q printed: $(cat "$tmp/out")"

# -v: every call once on stderr: command, device, flows, answer, latency.
"$ctl" -v -j get-tables unft0 --socket "$sock" > /dev/null 2> "$tmp/err"
[[ $(grep -c "GET_TABLES" "$tmp/err") == 1 ]] || fail "-v: GET_TABLES not logged once: $(cat "$tmp/err")"
grep -qE "^flow-table-ctl: GET_TABLES unft0 \(ifindex [0-9]+\) → OK, [0-9.]+ ms$" "$tmp/err" || fail "-v get-tables line: $(cat "$tmp/err")"
grep -qE "^flow-table-ctl: CTRL_GETFAMILY net_flow_nl → id [0-9]+, [0-9.]+ ms$" "$tmp/err" || fail "-v family line: $(cat "$tmp/err")"
[[ $(wc -l < "$tmp/err") == 2 ]] || fail "-v -j get-tables logged other calls: $(cat "$tmp/err")"
"$ctl" get-flows unft0 --table 3 --socket "$sock" --verbose > /dev/null 2> "$tmp/err"
grep -qE "^flow-table-ctl: GET_FLOWS unft0 \(ifindex [0-9]+\) table 3 → OK, 3 flows, [0-9.]+ ms$" "$tmp/err" || fail "-v get-flows: $(cat "$tmp/err")"
grep -q "GET_HEADERS" "$tmp/err" || fail "-v does not log the model calls: $(cat "$tmp/err")"
# (table 2's uids 1 and 2 were deleted just above: 2 flows set, 7 fail.)
"$ctl" -v set-flows unft0 "$tmp/flows.json" --error-strategy cont-log --socket "$sock" > /dev/null 2> "$tmp/err" && fail "cont-log -v exited 0"
grep -qE "^flow-table-ctl: SET_FLOWS unft0 \(ifindex [0-9]+\) 9 flows → OK, 7 failed flows reported, [0-9.]+ ms$" "$tmp/err" \
  || fail "-v set-flows: $(cat "$tmp/err")"
echo ok
