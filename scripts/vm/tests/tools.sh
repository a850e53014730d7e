#!/bin/bash
# Kernel test of FlowTrace's own tools on unft.ko, run inside the VM by scripts/vm/run.sh
# (chrooted into the host root; /init has loaded unft.ko). The Swift binaries are the host's
# debug build ($VMTEST_BIN, found by run.sh; their Swift runtime resolves from /opt/swift on the
# host root). Covers, against the real module:
#   * flow-table-hairpind in kernel mode, recording the hairpin leg (--record);
#   * flow-table-ctl's eight commands on unft ports by name, answers and exit codes checked,
#     the module's errors (EINVAL, EEXIST, ENOENT, ENOTCONN) with their texts;
#   * flowtrace capture on nlmon0 (both legs), read back by flowtrace show with both families;
#   * the daemon stopped (ETIMEDOUT with a short timeout_ms) and killed -9 mid-request (ENOTCONN);
#   * speed: API round trip through the module vs a plain genl round trip, batched SET_FLOWS
#     (scripts/vm/nlbench.py), printed as "VMTEST METRIC name value";
#   * flowtrace replay --target kernel:DEV once the replay branch provides it (TODO below);
#   * rmmod with a daemon registered: the daemon notices and exits.
# /init then checks dmesg and unft's clean-unload line (live-object count 0).
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}   # naming VMTEST_BIN: run.sh builds the tools
. "$root/scripts/vm/lib.sh"
vm_test tools

listener_is() { [ "$(cat $dbg/listener)" "$1" 0 ]; }
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

step "binaries from $bin"
for b in "$ctl" "$hpd" "$ft"; do [ -x "$b" ] || { bad "$b is missing: build on the host first (swift build)"; exit 1; }; done
s=$(now)
"$ft" --help >/dev/null 2>$work/err || { bad "flowtrace does not run in the chroot: $(cat $work/err)"; exit 1; }
echo "    first start of flowtrace: $(since "$s") s"
s=$(now)
"$ctl" --help >/dev/null || bad "flow-table-ctl does not run"
echo "    start of flow-table-ctl: $(since "$s") s"

step "ports and nlmon0"
ip link add unft0 type unft && ip link add unft1 type unft || bad "ip link add type unft"
ip link set unft0 up && ip link set unft1 up || bad "ip link set up"
if0=$(cat /sys/class/net/unft0/ifindex)
if1=$(cat /sys/class/net/unft1/ifindex)
echo "    unft0 ifindex $if0, unft1 ifindex $if1"
# nlmon is a module of the guest's kernel (the host root's /lib/modules has it).
modprobe nlmon 2>$work/err || bad "modprobe nlmon: $(cat $work/err)"
ip link add nlmon0 type nlmon && ip link set nlmon0 up || bad "nlmon0"

step "no listener yet: ENOTCONN"
expect_fail "get-tables without a daemon" ENOTCONN "" "$ctl" get-tables unft0

step "flowtrace capture on nlmon0 (both legs) during the functional part"
"$ft" capture -i nlmon0 -w $res/nlmon.pcapng >$res/capture.log 2>&1 &
cap=$!; pids+=($cap)
wait_for 20 grep -q "capturing on" $res/capture.log || bad "capture did not start: $(cat $res/capture.log)"

step "flow-table-hairpind in kernel mode, recording the hairpin leg"
s=$(now)
# It records into the guest's tmpfs: the result folder is 9p, whose writes to the host made the
# speed measurement below measure QEMU's 9p (BENCHMARKS.md); the trace is copied there after.
"$hpd" --record $work/kernel.pcapng >$res/hairpind.log 2>&1 &
hp=$!; pids+=($hp)
wait_for 20 listener_is != || bad "the daemon did not register: $(cat $res/hairpind.log)"
echo "    registered after $(since "$s") s: $(head -1 $res/hairpind.log)"
grep -q "unft kernel module" $res/hairpind.log || bad "the daemon is not in kernel mode"

step "discovery on unft0"
for c in get-tables get-headers get-actions get-header-graph get-table-graph; do
	if "$ctl" -j $c unft0 >$work/$c.json 2>$work/err; then ok "$c"; else bad "$c: $(cat $work/err)"; fi
done
$py - "$root/models/default" $work <<'PY' || bad "discovery answers differ from the default model"
import json, sys, os
model, out = sys.argv[1], sys.argv[2]
pairs = [("tables", "get-tables"), ("headers", "get-headers"), ("actions", "get-actions"),
         ("header-graph", "get-header-graph"), ("table-graph", "get-table-graph")]
for name, cmd in pairs:
    want = json.load(open(os.path.join(model, name + ".json")))
    got = json.load(open(os.path.join(out, cmd + ".json")))
    key = next(iter(want))
    if len(got.get(key, [])) != len(want[key]):
        sys.exit(f"{cmd}: {len(got.get(key, []))} {key}, the model has {len(want[key])}")
names = [t["table"]["name"] for t in json.load(open(os.path.join(out, "get-tables.json")))["tables"]]
print("    tables:", ", ".join(names))
PY
"$ctl" get-tables "$if0" >/dev/null 2>&1 || bad "get-tables by ifindex"

step "flows"
# 120 flows: GET_FLOWS answers them in several pages (4 KiB of flows each).
$py $root/scripts/vm/gen-flows.py --count 120 >$work/flows.json
$py $root/scripts/vm/gen-flows.py --count 120 --delete >$work/del.json
$py $root/scripts/vm/gen-flows.py --count 1 --first-uid 1000 >$work/one.json
s=$(now)
if "$ctl" set-flows unft0 $work/flows.json 2>$work/err; then ok "set-flows 120 flows ($(since "$s") s)"; else bad "set-flows: $(cat $work/err)"; fi
count_flows() { "$ctl" -j get-flows "$1" --table 2 "${@:2}" | $py -c 'import json,sys; print(len(json.load(sys.stdin)["flows"]))'; }
n=$(count_flows unft0); [ "$n" = 120 ] && ok "get-flows: 120 flows back (GET_FLOWS pages)" || bad "get-flows: $n flows, expected 120"
# gen-flows gives uid u the priority 1 + u: priorities 2..51 are uids 1..50.
n=$(count_flows unft0 --min-prio 2 --max-prio 51); [ "$n" = 50 ] && ok "get-flows priorities 2..51: 50" || bad "get-flows priorities 2..51: $n"
n=$(count_flows unft1); [ "$n" = 0 ] && ok "unft1 has its own, empty state" || bad "unft1 has $n flows"

step "errors"
expect_fail "the same flows again" EEXIST "duplicate uid" "$ctl" set-flows unft0 $work/flows.json
"$ctl" -j set-flows unft0 $work/flows.json --error-strategy cont-log >$work/report.json 2>$work/err
rc=$?
n=$($py -c 'import json,sys; f=json.load(open(sys.argv[1]))["flows"]; print(len(f), len([x for x in f if x["flow"].get("error") == 17]))' $work/report.json 2>/dev/null)
[ $rc != 0 ] && [ "$n" = "120 120" ] && ok "cont-log: every flow reported with EEXIST, exit $rc" || bad "cont-log report: rc $rc, '$n'"
expect_fail "unknown table" ENOENT "" "$ctl" get-flows unft0 --table 99
expect_fail "a device that is not unft" EINVAL "not a unft device" "$ctl" get-tables lo
expect_fail "an ifindex that does not exist" EINVAL "no device with ifindex" "$ctl" get-tables 999999
expect_fail "a device name that does not exist" "no network device named" "" "$ctl" get-tables unft9
"$ctl" set-flows unft0 $work/one.json >/dev/null 2>&1 || bad "set-flows one flow"

step "delete"
if "$ctl" del-flows unft0 $work/del.json 2>$work/err; then ok "del-flows 120"; else bad "del-flows: $(cat $work/err)"; fi
n=$(count_flows unft0); [ "$n" = 1 ] && ok "1 flow left" || bad "$n flows left, expected 1"
expect_fail "deleting them again" ENOENT "" "$ctl" del-flows unft0 $work/del.json

step "stop the capture; flowtrace show reads it with both families"
kill -INT $cap
wait $cap || bad "capture exited with $?"
sed 's/^/    /' $res/capture.log
grep -q "kept (api [1-9][0-9]*, hairpin [1-9]" $res/capture.log || bad "the capture kept nothing of one leg"
grep -q "dropped by the kernel" $res/capture.log && bad "the capture lost packets"
if "$ft" show --json $res/nlmon.pcapng >$work/nlmon.jsonl 2>$work/err; then
	$py - $work/nlmon.jsonl <<'PY' || bad "the capture's contents"
import json, sys, collections
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = collections.Counter((l.get("leg"), l.get("kind"), l.get("direction")) for l in lines)
for k, v in sorted(kinds.items(), key=str):
    print(f"    {v:5d} {k}")
need = [("api", "flowTable", "to_kernel"), ("api", "flowTable", "to_user"),
        ("hairpin", "hairpin", "to_user"), ("hairpin", "hairpin", "to_kernel")]
missing = [k for k in need if not kinds.get(k)]
if missing:
    sys.exit(f"no records of {missing}")
# Every API request has its final answer (an ACK or error; a GET_FLOWS dump's NLMSG_DONE), and
# every ENCAP request its answer.
requests = {l["nlmsg_seq"] for l in lines if l.get("leg") == "api" and l.get("direction") == "to_kernel"}
finals = {l["nlmsg_seq"] for l in lines if l.get("leg") == "api" and l.get("kind") in ("ack", "error", "done")}
if requests - finals:
    sys.exit(f"{len(requests - finals)} API requests without an ACK, error or DONE in the capture")
asked = {l["seq"] for l in lines if l.get("kind") == "hairpin" and l.get("direction") == "to_user" and "seq" in l}
answered = {l["seq"] for l in lines if l.get("kind") == "hairpin" and l.get("direction") == "to_kernel" and "seq" in l}
if asked - answered:
    sys.exit(f"ENCAP requests without an answer: {sorted(asked - answered)[:5]}")
print(f"    {len(requests)} API requests, {len(asked)} ENCAP calls, all answered")
cmds = {l.get("cmd") for l in lines if l.get("kind") == "flowTable"}
for c in ("GET_TABLES", "SET_FLOWS", "GET_FLOWS", "DEL_FLOWS"):
    if c not in cmds:
        sys.exit(f"no {c} on the api leg")
PY
	"$ft" show $res/nlmon.pcapng | grep -E " NFL " | head -2 | sed 's/^/    /'
else
	bad "flowtrace show nlmon.pcapng: $(cat $work/err)"
fi

step "speed (one socket, $bin's daemon answering)"
# 900 flows as three SET_FLOWS of 300 (one FLOWS nest holds at most 64 KiB: about 330 of
# these), deleted with DEL_FLOWS of the same files (DEL_FLOWS reads table and uid only).
$py $root/scripts/vm/gen-flows.py --count 900 --first-uid 2000 --chunk 300 --prefix $work/b
$py $root/scripts/vm/gen-flows.py --count 900 --first-uid 2000 >$work/bench.json
: >$work/set.hex; : >$work/del.hex
for k in 0 1 2; do
	"$ctl" encode set-flows --ifindex "$if0" $work/b$k.json >>$work/set.hex 2>$work/err || bad "encode: $(cat $work/err)"
	"$ctl" encode del-flows --ifindex "$if0" $work/b$k.json >>$work/del.hex 2>$work/err || bad "encode: $(cat $work/err)"
done
s=$(now)
$py $root/scripts/vm/nlbench.py --dev unft0 --n ${VMTEST_BENCH_N:-500} --set-hex $work/set.hex --del-hex $work/del.hex \
	--batch-flows 900 --rounds 2 || bad "nlbench"
echo "    measured in $(since "$s") s"
# The same round trips from a compiled client (scripts/vm/nlbench.c, built by run.sh): under
# TCG a client's working set is refilled after every task switch, and C's is a few pages.
# Its SET_FLOWS/DEL_FLOWS pair carries one flow (replies are ACKs only).
$py $root/scripts/vm/gen-flows.py --count 1 --first-uid 4000 >$work/one.json
"$ctl" encode set-flows --ifindex "$if0" $work/one.json >$work/set1.hex 2>$work/err || bad "encode: $(cat $work/err)"
"$ctl" encode del-flows --ifindex "$if0" $work/one.json >$work/del1.hex 2>$work/err || bad "encode: $(cat $work/err)"
mkdir -p $work/replies
$res/nlbench --dev unft0 --n ${VMTEST_BENCH_N:-500} --set-hex $work/set1.hex --del-hex $work/del1.hex \
	--save-replies $work/replies || bad "nlbench (C)"
s=$(now)
"$ctl" set-flows unft0 $work/bench.json 2>$work/err || bad "set-flows 900: $(cat $work/err)"
dt=$(since "$s")
# One flow-table-ctl process (start-up included) installing the 900 flows.
echo "VMTEST METRIC ctl_set_flows_per_s $(awk -v t="$dt" 'BEGIN { printf "%.0f", 900 / t }')"
# (They stay: the daemon stops next, and its state with it.)

step "stop the recording daemon; flowtrace show reads its trace"
kill -TERM $hp
wait $hp || bad "the daemon exited with $?"
tail -2 $res/hairpind.log | sed 's/^/    /'
cp $work/kernel.pcapng $res/kernel.pcapng || bad "copying the daemon's trace to the results"
listener_is = || bad "the listener is still registered"
if "$ft" show --json $res/kernel.pcapng >$work/kernel.jsonl 2>$work/err; then
	$py - $work/kernel.jsonl <<'PY' || bad "the daemon's trace"
import json, sys, collections
lines = [json.loads(l) for l in open(sys.argv[1])]
legs = collections.Counter(l.get("leg") for l in lines)
enc = collections.Counter((l.get("cmd"), l.get("direction")) for l in lines if l.get("kind") == "hairpin")
print(f"    {len(lines)} records, legs {dict(legs)}")
if set(legs) != {"hairpin"}:
    sys.exit(f"legs other than hairpin: {legs}")
for c in ("GET_TABLES", "SET_FLOWS", "GET_FLOWS", "DEL_FLOWS"):
    if not enc.get((c, "to_user")) or not enc.get((c, "to_kernel")):
        sys.exit(f"no ENCAP request and answer for {c}: {enc}")
PY
else
	bad "flowtrace show kernel.pcapng: $(cat $work/err)"
fi
"$ft" stats $res/kernel.pcapng 2>/dev/null | head -1 | sed 's/^/    /'

step "the daemon stopped: ETIMEDOUT after timeout_ms"
"$hpd" >$work/hp2.log 2>&1 &
hp2=$!; pids+=($hp2)
wait_for 20 listener_is != || bad "the second daemon did not register: $(cat $work/hp2.log)"
"$ctl" -j get-tables unft0 >/dev/null || bad "the second daemon does not answer"
# The round trip once more, against this daemon that does not record (the one above does).
$py $root/scripts/vm/nlbench.py --dev unft0 --n ${VMTEST_BENCH_N:-500} --metric-prefix norec_ ||
	bad "nlbench without recording"
$res/nlbench --dev unft0 --n ${VMTEST_BENCH_N:-500} --set-hex $work/set1.hex --del-hex $work/del1.hex \
	--metric-prefix norec_ || bad "nlbench (C) without recording"
kill -STOP $hp2
echo 700 >$dbg/timeout_ms
s=$(now)
expect_fail "a call to a stopped daemon" ETIMEDOUT "did not answer in time" "$ctl" get-tables unft0
dt=$(since "$s")
echo "    failed after $dt s (timeout_ms 700, including flow-table-ctl's start)"
awk -v t="$dt" 'BEGIN { exit !(t >= 0.7 && t < 5) }' || bad "ETIMEDOUT after $dt s"

step "the daemon killed (-9) in the middle of a request: ENOTCONN at once"
echo 20000 >$dbg/timeout_ms
"$ctl" -j get-tables unft0 >/dev/null 2>$work/kill.err &
c=$!
wait_for 20 grep -qx 1 $dbg/pending || bad "the call is not pending"
s=$(now)
kill -9 $hp2
wait $c
rc=$?
dt=$(since "$s")
wait $hp2 2>/dev/null
if [ $rc != 0 ] && grep -q ENOTCONN $work/kill.err && grep -q "closed" $work/kill.err; then
	ok "the caller failed $dt s after the kill: $(cat $work/kill.err)"
else
	bad "after kill -9: rc $rc, $(cat $work/kill.err)"
fi
awk -v t="$dt" 'BEGIN { exit !(t < 3) }' || bad "ENOTCONN took $dt s (timeout_ms 20000)"
echo 5000 >$dbg/timeout_ms
listener_is = || bad "the killed daemon is still registered"

step "the floor: a minimal C listener answering the getters with the daemon's bytes"
# What any listener costs at least (unft, two task switches, one receive and one send, the
# same reply bytes): the round trips against it bound what a faster daemon could reach.
for mode in "" --ack; do
	$res/nlbench --floor-listener $work/replies $mode >$work/floor.log 2>&1 &
	fl=$!; pids+=($fl)
	wait_for 20 listener_is != || bad "the floor listener did not register: $(cat $work/floor.log)"
	p=floor${mode:+_ack}_
	$py $root/scripts/vm/nlbench.py --dev unft0 --n ${VMTEST_BENCH_N:-500} --metric-prefix $p || bad "nlbench, floor $mode"
	$res/nlbench --dev unft0 --n ${VMTEST_BENCH_N:-500} --metric-prefix $p || bad "nlbench (C), floor $mode"
	kill -TERM $fl; wait $fl 2>/dev/null
	wait_for 20 listener_is = || bad "the floor listener is still registered"
done

step "replay into the kernel"
if "$ft" replay --help 2>/dev/null | grep -q "kernel:"; then
	"$hpd" >$work/hp3.log 2>&1 &
	hp3=$!; pids+=($hp3)
	wait_for 20 listener_is != || bad "the third daemon did not register"
	if "$ft" replay --target kernel:unft1 --topspeed $res/nlmon.pcapng >$work/replay.out 2>&1; then
		ok "flowtrace replay --target kernel:unft1: $(tail -1 $work/replay.out)"
	else
		bad "flowtrace replay --target kernel:unft1: $(tail -5 $work/replay.out)"
	fi
	kill -TERM $hp3; wait $hp3
else
	# TODO(replay merge): switches on by itself once `flowtrace replay --help` lists kernel:DEV
	# (the replay branch); then the capture above is replayed into unft1.
	echo "    TODO: flowtrace replay has no kernel:DEV target in this build; skipped"
fi

step "idle counters"
sed 's/^/    /' $dbg/stats
[ "$(cat $dbg/pending)" = 0 ] || bad "pending calls: $(cat $dbg/pending)"
[ "$(cat $dbg/live)" = 0 ] || bad "live allocations: $(cat $dbg/live)"
ip link del nlmon0

step "unload with a daemon registered: it notices and exits"
"$hpd" >$work/hp4.log 2>&1 &
hp4=$!; pids+=($hp4)
wait_for 20 listener_is != || bad "the last daemon did not register: $(cat $work/hp4.log)"
rmmod unft || bad "rmmod unft"
s=$(now)
wait_for 5 sh -c "! kill -0 $hp4 2>/dev/null" || bad "the daemon still runs after rmmod"
wait $hp4 2>/dev/null
echo "    exited $(since "$s") s after the unload: $(tail -1 $work/hp4.log)"
grep -q "unloaded" $work/hp4.log || bad "the daemon did not say why it stopped"
ip link show unft0 >/dev/null 2>&1 && bad "unft0 survived the unload"

echo "tools: $([ $fail = 0 ] && echo PASS || echo FAIL) in $(since "$t0") s"
exit $fail
