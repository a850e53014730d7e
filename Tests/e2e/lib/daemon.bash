# Sourced by the e2e scripts that start a daemon or a twin; not a test itself
# (scripts/run-e2e-tests.sh runs Tests/e2e/*.sh only). Sourcing it gives:
#   $tmp     a fresh directory, removed on exit, with FLOWTRACE_RUNTIME_DIR=$tmp/rt (mode 700),
#            so the sockets of one script never meet another's
#   pids     the processes to kill -9 on exit: append every one the script starts
#   fail     prints "FAIL: …" and exits 1 (a script may define its own after sourcing)
#   wait_for_log FILE TEXT [PID]
#            waits (up to 20 s) for a line holding TEXT in FILE, the process's stderr. The
#            daemon logs "twin listening on" (--twin) or "registered as the hairpin listener"
#            (against a separate twin) once its listener is registered, so a script needs
#            no call to find it ready: probing with calls recorded the failed early ones
#            (ENOTCONN before the registration), a different number in each run. With PID, a
#            process that exits first fails at once.
tmp=$(mktemp -d); export FLOWTRACE_RUNTIME_DIR="$tmp/rt"; mkdir -m 700 "$FLOWTRACE_RUNTIME_DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
wait_for_log() {
  local file=$1 text=$2 pid=${3:-}
  for _ in $(seq 400); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail "the process $pid exited before logging \"$text\": $(cat "$file" 2>/dev/null)"
    fi
    sleep 0.05
  done
  fail "no \"$text\" in $file after 20 s: $(cat "$file" 2>/dev/null)"
}
# api_requests FILE [COMMAND]: how many net_flow_nl requests (of COMMAND, e.g. GET_TABLES) the
# trace FILE holds on the API leg, as `flowtrace show` lists them ($ft must be set).
api_requests() {
  "$ft" show "$1" 2> /dev/null | grep -cE "^[0-9:.]+ +(#[0-9]+|-) +api +>k NFL  ${2:-[A-Z_]+} req" || true
}
