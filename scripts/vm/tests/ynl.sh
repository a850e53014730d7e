#!/bin/bash
# The kernel's own netlink client drives unft from our specs (spec/*.yaml): the YNL Python
# library of the kernel tree (tools/net/ynl/lib), run inside the VM by scripts/vm/run.sh.
# scripts/vm/ynltest.py does the calls (see its docstring): first without a listener (ENOTCONN,
# GET_LISTENER ENOENT), then with flow-table-hairpind in kernel mode (models/default): every
# net_flow_nl operation through YnlFamily.do()/dump() on one socket (getters, set, get as a
# dump of many pages and as a do, a duplicate, update, a missing attribute with its extended
# ack, delete), and GET_LISTENER / SET_LISTENER (EBUSY) of nfl_hairpin.
#
# VMTEST_YNL names tools/net/ynl of a kernel tree (run.sh's default: the copy of Debian's
# linux-source that scripts/install-deps.sh --ynl-dir unpacks); its tree's
# Documentation/netlink/genetlink-legacy.yaml, when there, checks the specs first.
# VMTEST_YNL_SPECS overrides the spec folder (default spec/).
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}
res=${VMTEST_RESULTS:?VMTEST_RESULTS is not set}
py=/usr/bin/python3
hpd=$bin/flow-table-hairpind
dbg=/sys/kernel/debug/unft
work=/tmp/ynl
mkdir -p $work
fail=0
t0=$(date +%s.%N)
pids=()
bad() { echo "ynl: FAIL: $*"; fail=1; }
ok() { echo "    ok: $*"; }
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

ynl=${VMTEST_YNL:-}
specs=${VMTEST_YNL_SPECS:-$root/spec}
if [ -z "$ynl" ] || [ ! -f "$ynl/lib/ynl.py" ]; then
	echo "ynl: FAIL: VMTEST_YNL ('$ynl') does not hold YNL's lib/ynl.py (tools/net/ynl of a kernel tree)"
	exit 1
fi
schema=$(readlink -f "$ynl/../../../Documentation/netlink/genetlink-legacy.yaml" 2>/dev/null || true)
[ -f "$schema" ] || schema=""
ynltest() { $py $root/scripts/vm/ynltest.py --ynl "$ynl" --specs "$specs" --schema "$schema" --dev unft0 "$@"; }

echo "--- ports"
ip link add unft0 type unft && ip link set unft0 up || bad "ip link add unft0 type unft"

echo "--- no listener"
ynltest nolistener || bad "ynltest nolistener"

echo "--- flow-table-hairpind in kernel mode"
[ -x "$hpd" ] || { bad "$hpd is missing: build on the host first (swift build)"; exit 1; }
"$hpd" >$res/hairpind.log 2>&1 &
pids+=($!)
for _ in $(seq 400); do [ "$(cat $dbg/listener 2>/dev/null)" != 0 ] && break; sleep 0.05; done
[ "$(cat $dbg/listener)" != 0 ] || bad "the daemon did not register: $(cat $res/hairpind.log)"

echo "--- every operation through YNL"
ynltest listener || bad "ynltest listener"

echo "--- idle counters"
[ "$(cat $dbg/pending)" = 0 ] || bad "pending calls after the tests"
sed 's/^/    /' $dbg/stats

echo "ynl: $( [ $fail = 0 ] && echo PASS || echo FAIL ) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
exit $fail
