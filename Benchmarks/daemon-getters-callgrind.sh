#!/bin/bash
# Instructions of the daemon's listener per GET_TABLES, under callgrind: flow-table-hairpind
# --twin --listener-over-socket, with only ListenerLoop.hairpin (one ENCAP in, its answer sent;
# not the receive) collected, answering 20 and then 220 `flow-table-ctl get-tables` processes;
# the difference / 200 is one call without the start-up and the first call's template.
# Prints numbers; asserts nothing.
#
#   Benchmarks/daemon-getters-callgrind.sh .build/release [DAEMON FLAGS]
#   Benchmarks/daemon-getters-callgrind.sh .build/release "--inject get_flows:error=EIO:when=1000000"
#     (a fault that never fires keeps every call on the typed path, for comparison)
set -eu
bin=$(cd "$1" && pwd); extra=${2:-}
d=$(mktemp -d /tmp/ft-cg-XXXXXX)
trap 'rm -rf "$d"' EXIT
export XDG_RUNTIME_DIR=$d
declare -A total
for n in 20 220; do
	valgrind --tool=callgrind --callgrind-out-file=$d/cg.$n \
		--toggle-collect='$s7Hairpin12ListenerLoopC7hairpin33_*' \
		"$bin/flow-table-hairpind" --twin --listener-over-socket $extra >$d/hp.$n.log 2>&1 &
	pid=$!
	for _ in $(seq 300); do [ -S $d/flowtrace/unft.sock ] && break; sleep 0.1; done
	sleep 1
	for _ in $(seq $n); do "$bin/flow-table-ctl" -j get-tables unft0 >/dev/null; done
	kill -INT $pid; wait $pid || true
	total[$n]=$(sed -n 's/^summary: //p' $d/cg.$n)
	echo "$n calls: ${total[$n]} instructions in ListenerLoop.hairpin"
	rm -f $d/flowtrace/*.sock
done
echo "per GET_TABLES: $(( (total[220] - total[20]) / 200 )) instructions"
