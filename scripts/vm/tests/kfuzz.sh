#!/bin/bash
# Hostile-message test of unft.ko (issue 7, kernel part), run inside the VM by
# scripts/vm/run.sh. scripts/vm/kfuzz.py sends seedable structured mutations of valid messages
# of both families over raw netlink sockets:
#   api      mutated API requests (lengths, missing/unknown/repeated attributes, deep nesting,
#            flags, headers, truncation), a listener thread answering what unft forwards;
#   hairpin  mutated ENCAP answers to real pending calls, answers for unknown SEQs, answers
#            from a port that is not the listener, mutated SET/GET_LISTENER;
#   race     listener re-registration races while calls are in flight;
#   unpriv   the same from a process without CAP_NET_ADMIN: EPERM (a dump on 6.2+: EOPNOTSUPP);
#   clients  four processes at once against a running flow-table-hairpind (VMTEST_BIN):
#            valid batches must be ACKed, mutated requests answered.
# Every routed message must be answered, every call must end within timeout_ms; after each
# phase debugfs shows no pending call and no live allocation. /init then unloads unft and
# checks dmesg (no WARN/BUG/Oops/leak) and unft's clean-unload line.
# VMTEST_SEED repeats a run (default fixed); VMTEST_KFUZZ_SCALE multiplies the counts.
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}
py=/usr/bin/python3
seed=${VMTEST_SEED:-20261125}
scale=${VMTEST_KFUZZ_SCALE:-1}
kf="$py $root/scripts/vm/kfuzz.py --header $root/kmod/include/uapi/net_flow.h --seed $seed"
dbg=/sys/kernel/debug/unft
work=/tmp/kfuzz
mkdir -p $work
fail=0
t0=$(date +%s.%N)
bad() { echo "kfuzz: FAIL: $*"; fail=1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
n() { echo $(( $1 * scale )); }
idle() {
	local p l
	for _ in $(seq 40); do
		p=$(cat $dbg/pending); l=$(cat $dbg/live)
		[ "$p" = 0 ] && [ "$l" = 0 ] && return 0
		sleep 0.05
	done
	bad "after $1: pending $p, live $l"
}

echo "--- seed $seed (VMTEST_SEED=$seed repeats this run), scale $scale"
ip link add unft0 type unft && ip link add unft1 type unft || bad "ip link add type unft"
ip link set unft0 up && ip link set unft1 up
# Short timeouts: a call the fuzzer leaves unanswered costs 1.5 s, not 5.
echo 1500 >$dbg/timeout_ms

for phase in "api $(n 2500)" "hairpin $(n 600)" "race $(n 400) --seconds 12" "unpriv $(n 600)"; do
	set -- $phase
	echo "--- [$(since "$t0") s] $1"
	$kf $1 --n $2 "${@:3}" || bad "phase $1"
	idle "$1"
done
grep -E "^(requests|answers|timeouts|notconn|failed|refused|listener_lost) " $dbg/stats | tr '\n' ' ' | sed 's/^/    /'
echo

echo "--- [$(since "$t0") s] clients: 4 processes against flow-table-hairpind ($bin)"
if [ -x "$bin/flow-table-hairpind" ] && [ -x "$bin/flow-table-ctl" ]; then
	if0=$(cat /sys/class/net/unft0/ifindex)
	for k in 0 1 2 3; do
		first=$(( 3000 + 200 * k ))
		$py $root/scripts/vm/gen-flows.py --count 40 --first-uid $first >$work/c$k.json
		$py $root/scripts/vm/gen-flows.py --count 20 --first-uid $(( 1000 + 100 * k )) >$work/m$k.json
		"$bin/flow-table-ctl" encode set-flows --ifindex $if0 $work/m$k.json >$work/mset$k.hex &&
		"$bin/flow-table-ctl" encode set-flows --ifindex $if0 $work/c$k.json >$work/set$k.hex &&
			"$bin/flow-table-ctl" encode del-flows --ifindex $if0 $work/c$k.json >$work/del$k.hex ||
			bad "flow-table-ctl encode"
	done
	"$bin/flow-table-hairpind" >$work/hairpind.log 2>&1 &
	hp=$!
	for _ in $(seq 200); do [ "$(cat $dbg/listener)" != 0 ] && break; sleep 0.05; done
	[ "$(cat $dbg/listener)" != 0 ] || bad "the daemon did not register: $(cat $work/hairpind.log)"
	pids=()
	for k in 0 1 2 3; do
		$kf client --tag $k --n $(n 250) --set-hex $work/set$k.hex --del-hex $work/del$k.hex \
			--mset-hex $work/mset$k.hex >$work/client$k.log 2>&1 &
		pids+=($!)
	done
	for k in 0 1 2 3; do
		wait ${pids[$k]} || bad "client $k (log below)"
		grep -E "^# |FAIL" $work/client$k.log | head -40 | sed 's/^/    /'
		grep "^VMTEST METRIC" $work/client$k.log
	done
	kill -0 $hp 2>/dev/null || bad "flow-table-hairpind died during the clients: $(tail -5 $work/hairpind.log)"
	kill -TERM $hp; wait $hp || bad "flow-table-hairpind exited with $?"
	idle clients
else
	bad "no flow-table-hairpind/flow-table-ctl in $bin (swift build)"
fi

echo "--- [$(since "$t0") s] counters at the end"
sed 's/^/    /' $dbg/stats
dmesg | grep -E "unft|netlink" | tail -5 | sed 's/^/    /'
echo "kfuzz: $([ $fail = 0 ] && echo PASS || echo FAIL) in $(since "$t0") s"
exit $fail
