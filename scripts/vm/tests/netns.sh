#!/bin/bash
# Network namespaces keep to themselves (kmod/README.md, spec/two-leg-contract.md), run inside
# the VM by scripts/vm/run.sh (chrooted into the host root; /init has loaded unft.ko). Two
# namespaces A and B, each with a port unft0 (the same ifindex in both) and its own
# flow-table-hairpind in kernel mode ($VMTEST_BIN):
#   * first netns-cross.py: each namespace's call reaches its own listener, SEQs count per
#     namespace, a listener answering another namespace's SEQ gets ENOENT;
#   * a namespace without a listener gets ENOTCONN, whatever other namespaces have;
#   * B's daemon registers while A's is registered; a second one in B is refused (EBUSY);
#   * flows set in A are not returned in B, and the same flows can be set in B;
#   * A's daemon killed: A's calls get ENOTCONN, B's are still answered;
#   * the namespaces deleted with their ports: no pending call, no live object;
#   * rmmod with a daemon registered in a namespace that stays: the daemon exits.
# /init then checks dmesg and unft's clean-unload line.
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}   # naming VMTEST_BIN: run.sh builds the tools
. "$root/scripts/vm/lib.sh"
vm_test netns

listeners_are() { [ "$(cat $dbg/listeners 2>/dev/null)" = "$1" ]; }
# (A daemon is started with ip netns exec itself, not through these: "inA cmd &" would be a
# subshell, whose pid is not the daemon's.)
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }
count_flows() {
	"$@" -j get-flows unft0 --table 2 2>$work/err |
		$py -c 'import json,sys; print(len(json.load(sys.stdin)["flows"]))' 2>/dev/null ||
		echo "error: $(cat $work/err)"
}
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

for b in "$ctl" "$hpd"; do [ -x "$b" ] || { bad "$b is missing: build on the host first (swift build)"; exit 1; }; done
[ -r $dbg/listeners ] || bad "$dbg/listeners is missing"

step "namespaces A and B, unft0 in each, unft0 in the initial one too"
ip netns add A && ip netns add B || { bad "ip netns add"; exit 1; }
for ns in A B; do
	ip -n $ns link set lo up
	ip -n $ns link add unft0 type unft && ip -n $ns link set unft0 up || bad "unft0 in $ns"
done
ip link add unft0 type unft && ip link set unft0 up || bad "unft0 in the initial namespace"
ia=$(inA cat /sys/class/net/unft0/ifindex)
ib=$(inB cat /sys/class/net/unft0/ifindex)
echo "    unft0: ifindex $ia in A, $ib in B, $(cat /sys/class/net/unft0/ifindex) in the initial namespace"
[ -n "$ia" ] && [ "$ia" = "$ib" ] && ok "the same ifindex in A and B" || bad "ifindexes differ: $ia, $ib"

step "the hairpin leg across A and B, at the netlink level (netns-cross.py)"
$py $root/scripts/vm/netns-cross.py --header $root/kmod/include/uapi/net_flow.h A B || bad "netns-cross.py"
wait_for 20 listeners_are 0 || bad "netns-cross.py's listeners are still registered"

step "no listener anywhere: ENOTCONN"
expect_fail "get-tables in A" ENOTCONN "in this network namespace" inA "$ctl" get-tables unft0

step "a daemon in A"
ip netns exec A "$hpd" >$res/hairpind-A.log 2>&1 &
pA=$!; pids+=($pA)
wait_for 20 listeners_are 1 || bad "A's daemon did not register: $(cat $res/hairpind-A.log)"
grep -q "unft kernel module" $res/hairpind-A.log || bad "A's daemon is not in kernel mode"
inA "$ctl" get-tables unft0 >/dev/null 2>$work/err && ok "A's calls are answered" || bad "get-tables in A: $(cat $work/err)"
[ "$(cat $dbg/listener)" = 0 ] && ok "the initial namespace has no listener" ||
	bad "the initial namespace's listener is port $(cat $dbg/listener)"

step "B and the initial namespace have no listener: their calls do not reach A's"
expect_fail "get-tables in B" ENOTCONN "no hairpin listener" inB "$ctl" get-tables unft0
expect_fail "get-tables in the initial namespace" ENOTCONN "no hairpin listener" "$ctl" get-tables unft0

step "a daemon in B registers while A's is registered"
ip netns exec B "$hpd" >$res/hairpind-B.log 2>&1 &
pB=$!; pids+=($pB)
wait_for 20 listeners_are 2 || bad "B's daemon did not register: $(cat $res/hairpind-B.log)"
kill -0 $pB 2>/dev/null && ok "B's daemon runs: $(head -1 $res/hairpind-B.log)" || bad "B's daemon exited: $(cat $res/hairpind-B.log)"
ip netns exec B "$hpd" >$work/hairpind-B2.log 2>&1 &
pB2=$!; pids+=($pB2)
if wait_for 20 sh -c "! kill -0 $pB2 2>/dev/null"; then
	wait $pB2 2>/dev/null
	grep -q "EBUSY\|registered already" $work/hairpind-B2.log && ok "a second daemon in B is refused: $(grep -m1 "EBUSY\|registered already" $work/hairpind-B2.log)" ||
		bad "a second daemon in B exited without saying EBUSY: $(cat $work/hairpind-B2.log)"
else
	bad "a second daemon in B runs"
fi
listeners_are 2 || bad "listeners: $(cat $dbg/listeners), expected 2"

step "flows set in A are not returned in B"
$py $root/scripts/vm/gen-flows.py --count 6 >$work/six.json
$py $root/scripts/vm/gen-flows.py --count 3 --first-uid 100 >$work/three.json
inA "$ctl" set-flows unft0 $work/six.json 2>$work/err && ok "6 flows set in A" || bad "set-flows in A: $(cat $work/err)"
n=$(count_flows inB "$ctl"); [ "$n" = 0 ] && ok "get-flows in B: none" || bad "get-flows in B: $n, expected 0"
n=$(count_flows inA "$ctl"); [ "$n" = 6 ] && ok "get-flows in A: 6" || bad "get-flows in A: $n, expected 6"
inB "$ctl" set-flows unft0 $work/three.json 2>$work/err && ok "3 other flows set in B" || bad "set-flows in B: $(cat $work/err)"
inB "$ctl" set-flows unft0 $work/six.json 2>$work/err && ok "A's 6 flows set in B too (no EEXIST)" ||
	bad "set-flows of A's flows in B: $(cat $work/err)"
n=$(count_flows inB "$ctl"); [ "$n" = 9 ] && ok "get-flows in B: 9" || bad "get-flows in B: $n, expected 9"
n=$(count_flows inA "$ctl"); [ "$n" = 6 ] && ok "get-flows in A: still 6" || bad "get-flows in A: $n, expected 6"

step "A's daemon killed: A's calls get ENOTCONN, B's are still answered"
kill -9 $pA; wait $pA 2>/dev/null
wait_for 20 listeners_are 1 || bad "listeners after the kill: $(cat $dbg/listeners), expected 1"
expect_fail "get-tables in A" ENOTCONN "no hairpin listener" inA "$ctl" get-tables unft0
n=$(count_flows inB "$ctl"); [ "$n" = 9 ] && ok "get-flows in B: 9" || bad "get-flows in B: $n, expected 9"

step "B's daemon stopped, the namespaces deleted with their ports"
kill -TERM $pB; wait $pB 2>/dev/null
wait_for 20 listeners_are 0 || bad "listeners: $(cat $dbg/listeners), expected 0"
ip netns del A && ip netns del B || bad "ip netns del"
# The namespaces' ports go with them (the core's cleanup runs in a work queue).
wait_for 20 sh -c "[ \$(ip -o link show type unft | wc -l) = 1 ]" || bad "ports left: $(ip -o link show type unft)"
sed 's/^/    /' $dbg/stats | grep -E "requests|answers|notconn|pending|live|listener"
[ "$(cat $dbg/pending)" = 0 ] || bad "pending calls: $(cat $dbg/pending)"
[ "$(cat $dbg/live)" = 0 ] || bad "live allocations: $(cat $dbg/live)"

step "unload with a daemon registered in a namespace C: it notices and exits"
ip netns add C && ip -n C link add unft0 type unft || bad "namespace C with unft0"
ip netns exec C "$hpd" >$work/hairpind-C.log 2>&1 &
pC=$!; pids+=($pC)
wait_for 20 listeners_are 1 || bad "C's daemon did not register: $(cat $work/hairpind-C.log)"
rmmod unft || bad "rmmod unft"
wait_for 5 sh -c "! kill -0 $pC 2>/dev/null" && ok "C's daemon exited: $(tail -1 $work/hairpind-C.log)" ||
	bad "C's daemon still runs after rmmod"
ip -n C link show unft0 >/dev/null 2>&1 && bad "C's unft0 survived the unload"
ip netns del C

echo "netns: $([ $fail = 0 ] && echo PASS || echo FAIL) in $(since "$t0") s"
exit $fail
