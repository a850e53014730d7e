#!/bin/bash
# A/B speed of flow-table-hairpind builds against unft.ko in ONE boot (not a CI test: it is
# not under tests/, and it only prints numbers). Run by scripts/vm/run.sh:
#
#   VMTEST_ARGS="DIR_A DIR_B" VMTEST_BIN=$PWD/.build/release VMTEST_TIMEOUT=1200 \
#       scripts/vm/run.sh scripts/vm/bench/daemon-ab.sh
#
# Each DIR holds a flow-table-hairpind (paths under the checkout or elsewhere on the host root,
# not under /tmp: the guest mounts its own tmpfs there). For ROUNDS rounds (VMBENCH_ROUNDS in
# VMTEST_ARGS as "ROUNDS=N", default 3) it starts each daemon in turn (A B A B …, so both
# see the same host load), recording the hairpin leg to the guest's tmpfs as tools.sh does, and
# runs nlbench.py against it: metrics "<variant><round>_api_rtt_ratio" etc. Then, unless
# "STRACE=0", the daemon's system calls and task switches per call (perf stat), and the
# system calls of the client (strace of nlbench.py, of flow-table-ctl get-tables).
set -u
root=${VMTEST_ROOT:?}
res=${VMTEST_RESULTS:?}
py=/usr/bin/python3
dbg=/sys/kernel/debug/unft
work=/tmp/ab
mkdir -p $work
rounds=3; n=${VMBENCH_N:-400}; strace_on=1; dirs=()
for a in ${VMTEST_ARGS:-}; do
	case $a in
	ROUNDS=*) rounds=${a#ROUNDS=} ;;
	N=*) n=${a#N=} ;;
	STRACE=*) strace_on=${a#STRACE=} ;;
	*) dirs+=("$a") ;;
	esac
done
[ ${#dirs[@]} -gt 0 ] || dirs=("${VMTEST_BIN:?}")
fail=0
bad() { echo "ab: FAIL: $*"; fail=1; }
listener_is() { [ "$(cat $dbg/listener)" "$1" 0 ]; }
wait_for() {  # SECONDS COMMAND...: polls every 0.05 s until COMMAND succeeds
	local k=$(( $1 * 20 )); shift
	for _ in $(seq $k); do "$@" && return 0; sleep 0.05; done
	"$@"
}
start_daemon() {  # DIR LOG → $hp
	"$1/flow-table-hairpind" --record $work/trace.pcapng >"$2" 2>&1 &
	hp=$!
	wait_for 20 listener_is != || bad "daemon $1 did not register: $(cat "$2")"
}
stop_daemon() {
	kill -TERM $hp; wait $hp || bad "daemon exited with $?"
	rm -f $work/trace.pcapng
}

ip link add unft0 type unft && ip link set unft0 up || bad "ip link add unft0"
echo "ab: variants: ${dirs[*]}; $rounds rounds, nlbench --n $n; load: $(cat /proc/loadavg)"
for r in $(seq "$rounds"); do
	v=0
	for d in "${dirs[@]}"; do
		name=$(printf "\\$(printf %o $((65 + v)))")   # A, B, …
		start_daemon "$d" $work/hp.log
		echo "ab: round $r variant $name ($d)"
		$py $root/scripts/vm/nlbench.py --dev unft0 --n "$n" --metric-prefix "${name}${r}_" --pingpong ||
			bad "nlbench $name"
		stop_daemon
		v=$((v + 1))
	done
done

if [ "$strace_on" = 1 ] && command -v strace >/dev/null; then
	v=0
	for d in "${dirs[@]}"; do
		name=$(printf "\\$(printf %o $((65 + v)))")
		start_daemon "$d" $work/hp.log
		# The daemon's system calls and task switches over one nlbench run (--n 200, one
		# block: 440 API calls). perf counts tracepoints without stopping the daemon (strace
		# -c would: it changes the order of the two processes' steps); strace only if perf fails.
		ev=raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_poll,syscalls:sys_enter_setsockopt,context-switches,task-clock
		tool=perf
		perf stat -e "$ev" -p $hp -o $work/count-$name.txt 2>$work/perf.err &
		st=$!
		sleep 1
		if ! kill -0 $st 2>/dev/null; then
			tool=strace
			strace -c -f -o $work/count-$name.txt -p $hp &
			st=$!
			sleep 1
		fi
		calls0=$(cat $dbg/timed_calls 2>/dev/null || echo 0)
		$py $root/scripts/vm/nlbench.py --dev unft0 --n 200 --blocks 1 --metric-prefix "count${name}_" >/dev/null ||
			bad "nlbench while counting"
		calls1=$(cat $dbg/timed_calls 2>/dev/null || echo 0)
		kill -INT $st; wait $st
		echo "ab: variant $name: the daemon's system calls ($tool) over $((calls1 - calls0)) API calls:"
		grep -v "^$" $work/count-$name.txt | sed 's/^/    /'
		[ $tool = perf ] || sed 's/^/    perf: /' $work/perf.err
		if [ $v = 0 ]; then
			strace -c -o $work/strace-client.txt $py $root/scripts/vm/nlbench.py --dev unft0 --n 200 --blocks 1 \
				--metric-prefix straceclient_ >/dev/null
			echo "ab: the Python client's system calls (nlbench --n 200: 220+220 GETFAMILY, 220+200 GET_TABLES, 220 GRAPH):"
			sed 's/^/    /' $work/strace-client.txt | head -25
			strace -f -o $work/strace-ctl.txt "$d/flow-table-ctl" -j get-tables unft0 >/dev/null 2>&1 || true
			if [ -s $work/strace-ctl.txt ]; then
				echo "ab: flow-table-ctl get-tables: its netlink system calls after the family lookup:"
				grep -E "sendto|sendmsg|recv|poll|setsockopt" $work/strace-ctl.txt | tail -12 | sed 's/^/    /'
			fi
		fi
		stop_daemon
		v=$((v + 1))
	done
fi
echo "ab: load at the end: $(cat /proc/loadavg)"
exit $fail
