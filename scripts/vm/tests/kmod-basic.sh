#!/bin/bash
# Kernel test of unft.ko, run inside the VM by scripts/vm/run.sh (chrooted into the host
# root; /init has loaded unft.ko). Creates two unft ports, runs scripts/vm/nltest.py (both
# netlink legs, see its tests), checks unft's idle counters, then unloads the module with
# the ports and a registered listener present.
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
py=/usr/bin/python3
nltest="$py $root/scripts/vm/nltest.py --header $root/kmod/include/uapi/net_flow.h"
dbg=/sys/kernel/debug/unft
fail=0
t0=$(date +%s.%N)

bad() { echo "kmod-basic: FAIL: $*"; fail=1; }

echo "--- ports"
ip link add unft0 type unft || bad "ip link add unft0 type unft"
ip link add unft1 type unft || bad "ip link add unft1 type unft"
ip link set unft0 up && ip link set unft1 up || bad "ip link set up"
ip -d link show type unft | grep -E "^[0-9]+:|unft" | sed 's/^/    /'
[ "$(cat /sys/class/net/unft0/ifindex)" != "$(cat /sys/class/net/unft1/ifindex)" ] || bad "same ifindex"

echo "--- nltest"
$nltest --dev unft0 --dev2 unft1 || bad "nltest"

echo "--- idle counters"
sed 's/^/    /' $dbg/stats
[ "$(cat $dbg/pending)" = 0 ] || bad "pending calls after the tests"
[ "$(cat $dbg/live)" = 0 ] || bad "live allocations after the tests: $(cat $dbg/live)"

echo "--- unload with ports, a listener and a waiting call present"
ready=/tmp/unft-listener.ready
rm -f $ready
$nltest listen --ready $ready &
lpid=$!
for _ in $(seq 100); do [ -s $ready ] && break; sleep 0.1; done
if [ -s $ready ]; then
	[ "$(cat $dbg/listener)" = "$(cat $ready)" ] || bad "listener port $(cat $dbg/listener), expected $(cat $ready)"
else
	bad "the listener did not register"
fi
# The listener never answers: the call waits (timeout_ms 5000) until the unload wakes it.
$nltest call --dev unft0 --expect ESHUTDOWN &
cpid=$!
for _ in $(seq 100); do [ "$(cat $dbg/pending 2>/dev/null)" = 1 ] && break; sleep 0.1; done
[ "$(cat $dbg/pending)" = 1 ] || bad "the call is not pending"
u0=$(date +%s.%N)
rmmod unft || bad "rmmod unft"
rt=$(awk -v a="$u0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
echo "    rmmod took $rt s"
awk -v t="$rt" 'BEGIN { exit !(t < 3) }' || bad "rmmod waited for the call's timeout ($rt s)"
wait $cpid || bad "the waiting call did not end with ESHUTDOWN"
kill $lpid 2>/dev/null
wait $lpid 2>/dev/null
[ ! -d /sys/module/unft ] || bad "unft still loaded"
ip link show unft0 >/dev/null 2>&1 && bad "unft0 survived the unload"
dmesg | grep "unft:" | sed 's/^/    /'

echo "kmod-basic: $( [ $fail = 0 ] && echo PASS || echo FAIL ) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
exit $fail
