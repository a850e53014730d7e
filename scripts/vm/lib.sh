# Helpers the VM test scripts share. Sourced once $root is set (and $bin, for a test of the Swift
# tools: scripts/vm/run.sh builds them for a script that names VMTEST_BIN, so the script sets
# bin=${VMTEST_BIN:-...} itself); a script then calls `vm_test NAME [FOLDER...]`.

# vm_test NAME [FOLDER...]: the tools in $bin ($ft, $ctl, $hpd), $res, $py, $dbg, $work
# (/tmp/NAME, made with each FOLDER below it), fail=0, the start time $t0 and the pids to kill
# (pids). bad prints "NAME: FAIL: ..." and sets fail.
vm_test() {
	vm_test_name=$1; shift
	bin=${bin:-$root/.build/debug}
	res=${VMTEST_RESULTS:?VMTEST_RESULTS is not set}
	py=/usr/bin/python3
	ft=$bin/flowtrace
	ctl=$bin/flow-table-ctl
	hpd=$bin/flow-table-hairpind
	dbg=/sys/kernel/debug/unft
	work=/tmp/$vm_test_name
	mkdir -p "$work"
	local d
	for d in "$@"; do mkdir -p "$work/$d"; done
	fail=0
	t0=$(date +%s.%N)
	pids=()
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
step() { echo "--- [$(since "$t0") s] $*"; }
bad() { echo "$vm_test_name: FAIL: $*"; fail=1; }
ok() { echo "    ok: $*"; }
# wait_for SECONDS COMMAND...: polls every 0.05 s until COMMAND succeeds.
wait_for() {
	local n=$(awk -v s="$1" 'BEGIN { print int(s / 0.05) }'); shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.05; done
	"$@"
}

# expect_fail NAME ERRNO-NAME TEXT COMMAND...: the command must exit non-zero and say both.
expect_fail() {
	local name=$1 err=$2 text=$3; shift 3
	if "$@" >$work/out 2>$work/err; then
		bad "$name: succeeded, expected $err"
	elif ! grep -q -- "$err" $work/err || ! grep -q -- "$text" $work/err; then
		bad "$name: expected $err and '$text', got: $(cat $work/err)"
	else
		ok "$name: $(tail -1 $work/err)"
	fi
}
