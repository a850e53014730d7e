#!/bin/bash
# Fidelity of unft.ko and its user-space twin (issue 6): one workload of flow-table-ctl
# (discovery, set/get/del with errors, batches) run twice in the VM, against the kernel module
# with `flow-table-hairpind --record` and against the twin with `flow-table-hairpind --twin
# --record`, same model, backend and devices (the kernel's ports are made with the twin's
# ifindexes, 1000 and 1001). A kernel-mode recording holds the hairpin leg only, so
# `flowtrace diff --leg hairpin` compares that leg (after the documented normalisation of
# spec/replay.md): it must find no difference. flow-table-ctl's outputs and exit statuses must
# be the same too. Uses FlowTrace's tools from VMTEST_BIN (release when run.sh was given it).
# GET_FLOWS answers in several parts are covered: unft1's table 2 gets 500 flows (two files of
# 250: flow-table-ctl sends each as one SET_FLOWS, one FLOWS nest holds at most 64 KiB), so
# the listener answers GET_FLOWS in two ENCAP parts (cut at 60 KiB) and unft replies in
# NLM_F_MULTI pages of 4 KiB of flows (spec/two-leg-contract.md, "Parts" and "GET_FLOWS reply
# pages"). The script counts, from `flowtrace show --json`, that both recordings hold a
# GET_FLOWS answer of several parts (PART 0…n-1, MORE on all but the last) and that its API
# reply spans several pages: the twin records the API leg itself; for the kernel, a
# `flowtrace capture` on nlmon0 during its workload does, and every GET_FLOWS reply must have
# the same pages (flows per page, then DONE) as the twin's. (Such answers were left out while
# the two recorders logged unft's ACK of part 0 at different points; the daemon's answers now
# ask for no ACK.)
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}   # naming VMTEST_BIN: run.sh builds the tools
. "$root/scripts/vm/lib.sh"
vm_test fidelity kernel twin
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

$py $root/scripts/vm/gen-flows.py --count 120 >$work/flows.json
$py $root/scripts/vm/gen-flows.py --count 120 --delete >$work/del.json
$py $root/scripts/vm/gen-flows.py --count 250 --first-uid 1000 >$work/big.json
# 250 more for unft1: with big.json, more than one ENCAP part's 60 KiB of flows (about 315).
$py $root/scripts/vm/gen-flows.py --count 250 --first-uid 1250 >$work/big2.json
$py $root/scripts/vm/gen-flows.py --count 500 --first-uid 1000 --delete >$work/bigdel.json

# workload OUT [--socket S]: every step's stdout, stderr and exit status go to OUT/NN.*
workload() {
	local out=$1; shift
	local k=0
	step() {
		k=$((k + 1))
		"$ctl" "$@" >$out/$k.out 2>$out/$k.err
		echo $? >$out/$k.rc
		echo "$1" >$out/$k.cmd
	}
	for c in get-tables get-headers get-actions get-header-graph get-table-graph; do step $c unft0 "$@"; done
	step get-tables unft1 "$@"
	step set-flows unft0 $work/flows.json "$@"
	step get-flows unft0 --table 2 "$@"
	step get-flows unft0 --table 2 --min-prio 2 --max-prio 51 "$@"
	step set-flows unft0 $work/flows.json "$@"                          # EEXIST, abort
	step set-flows unft0 $work/flows.json --error-strategy cont-log "$@"
	step set-flows unft0 $work/flows.json --error-strategy abort-log "$@"
	step set-flows unft0 $work/flows.json --error-strategy continue "$@"
	step get-flows unft0 --table 99 "$@"                                # ENOENT from the daemon
	step set-flows unft1 $work/big.json "$@"                            # one request of 250 flows
	step set-flows unft1 $work/big2.json "$@"                           # 500 flows in table 2
	step get-flows unft1 --table 2 "$@"                                 # answer in parts, many pages
	step del-flows unft0 $work/del.json "$@"
	step del-flows unft0 $work/del.json "$@"                            # ENOENT
	step del-flows unft1 $work/bigdel.json --error-strategy cont-log "$@"
	step get-flows unft1 --table 2 "$@"
	echo "    $k steps, exit statuses: $(cat $out/*.rc | sort | uniq -c | tr '\n' ' ')"
}

echo "--- kernel: unft.ko, ports with ifindex 1000 and 1001, flow-table-hairpind --record"
ip link add unft0 index 1000 type unft && ip link add unft1 index 1001 type unft || bad "ip link add ... index"
ip link set unft0 up && ip link set unft1 up
# The kernel's API leg (its GET_FLOWS pages), which the daemon's recording does not hold.
# nlmon is a module of the guest's kernel (the host root's /lib/modules has it).
modprobe nlmon 2>$work/err && ip link add nlmon0 type nlmon && ip link set nlmon0 up || bad "nlmon0: $(cat $work/err)"
"$ft" capture -i nlmon0 -w $res/fid-nlmon.pcapng >$work/capture.log 2>&1 &
cap=$!; pids+=($cap)
for _ in $(seq 200); do grep -q "capturing on" $work/capture.log && break; sleep 0.05; done
grep -q "capturing on" $work/capture.log || bad "capture did not start: $(cat $work/capture.log)"
"$hpd" --record $res/fid-kernel.pcapng >$work/hpk.log 2>&1 &
hp=$!; pids+=($hp)
for _ in $(seq 200); do [ "$(cat $dbg/listener)" != 0 ] && break; sleep 0.05; done
[ "$(cat $dbg/listener)" != 0 ] || bad "the daemon did not register: $(cat $work/hpk.log)"
workload $work/kernel
kill -TERM $hp; wait $hp || bad "kernel-mode daemon exited with $?"
kill -INT $cap; wait $cap || bad "capture exited with $?"
grep -q "dropped by the kernel" $work/capture.log && bad "the capture lost packets: $(cat $work/capture.log)"

echo "--- twin: flow-table-hairpind --twin --devices unft0,unft1 --record"
sock=/tmp/fidelity/unft.sock
"$hpd" --twin --devices unft0,unft1 --socket $sock --record $res/fid-twin.pcapng >$work/hpt.log 2>&1 &
hp=$!; pids+=($hp)
for _ in $(seq 200); do [ -S $sock ] && break; sleep 0.05; done
[ -S $sock ] || bad "the twin did not start: $(cat $work/hpt.log)"
workload $work/twin --socket $sock
kill -TERM $hp; wait $hp || bad "twin daemon exited with $?"

echo "--- flow-table-ctl: the same outputs and exit statuses"
# A failed GET_FLOWS dump is answered with its text on every kernel (kmod/README.md,
# point 3), so the error lines must be the twin's too.
for f in $work/kernel/*.rc; do
	s=$(basename $f .rc)
	for x in rc out err; do
		if ! cmp -s $work/kernel/$s.$x $work/twin/$s.$x; then
			bad "step $s: $x differs"
			diff $work/kernel/$s.$x $work/twin/$s.$x | head -6 | sed 's/^/      /'
		fi
	done
done
# The step that fails in the daemon must have said why on both sides (not just the errno).
grep -q "table 99" $work/kernel/*.err || bad "get-flows --table 99: no error text from the kernel: $(cat $work/kernel/*.err | head -3)"

echo "--- GET_FLOWS answers in several parts, API replies in several pages"
for t in kernel twin; do "$ft" show --json $res/fid-$t.pcapng >$work/$t.jsonl 2>$work/err || bad "flowtrace show fid-$t: $(cat $work/err)"; done
"$ft" show --json --leg api $res/fid-nlmon.pcapng >$work/nlmon.jsonl 2>$work/err || bad "flowtrace show nlmon: $(cat $work/err)"
$py $root/scripts/vm/fidelity-parts.py $work/kernel.jsonl $work/twin.jsonl $work/nlmon.jsonl || bad "GET_FLOWS parts and pages"

echo "--- flowtrace diff --leg hairpin --no-snapshot"
"$ft" diff $res/fid-kernel.pcapng $res/fid-twin.pcapng --leg hairpin --no-snapshot >$work/diff.txt 2>&1
rc=$?
head -40 $work/diff.txt | sed 's/^/    /'
[ $rc = 0 ] || bad "flowtrace diff: exit $rc"
n=$(grep -o "[0-9]* hairpin" $work/diff.txt | head -1 | cut -d' ' -f1)
# Each step is one call: at least its ENCAP request and answer (the daemon's answers ask for
# no ACK, spec/two-leg-contract.md "One NDO call" 3).
steps=$(ls $work/kernel/*.rc | wc -l)
[ "${n:-0}" -ge $((2 * steps)) ] || bad "only ${n:-0} hairpin messages compared for $steps calls"
echo "VMTEST METRIC fidelity_hairpin_messages_compared ${n:-0}"
echo "fidelity: $([ $fail = 0 ] && echo PASS || echo FAIL)"
exit $fail
