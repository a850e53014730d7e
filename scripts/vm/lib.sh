# Helpers the VM test scripts share (sourced; each script defines ok, bad and $work first).

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
