#!/usr/bin/env bash
# flow-table-hairpind --twin runs its listener on the twin's thread (bytes handed over in
# memory) by default, and through the twin's hairpin socket with --listener-over-socket. The
# same flow-table-ctl session against each, recorded, gives the same trace: `flowtrace diff`
# exits 0. A changed session (one call more) does not.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="$bin/flowtrace"; ctl="$bin/flow-table-ctl"
source "$root/Tests/e2e/lib/daemon.bash"   # $tmp, pids, fail, wait_for_log
flows="$root/models/default/examples/flows.json"

# session TRACE EXTRA [hairpind options…]: one daemon, a fixed set of calls, SIGTERM.
session() {
  local trace=$1 extra=$2; shift 2
  "$bin/flow-table-hairpind" --twin --record "$trace" "$@" 2>"$trace.log" & local d=$!; pids+=($d)
  wait_for_log "$trace.log" "twin listening on" $d
  "$ctl" get-tables unft0 > /dev/null
  "$ctl" get-headers unft0 > /dev/null
  "$ctl" set-flows unft0 "$flows"
  "$ctl" set-flows unft0 "$flows" --error-strategy cont-log > /dev/null 2>&1 || true
  "$ctl" get-flows unft0 --table 3 > /dev/null
  "$ctl" del-flows unft0 "$root/models/default/examples/del-flows.json"
  "$ctl" del-flows unft0 "$root/models/default/examples/del-flows.json" 2>/dev/null && fail "missing flows deleted"
  [[ -z $extra ]] || "$ctl" get-tables unft0 > /dev/null
  kill -TERM $d; wait $d || fail "hairpind exited $?"
}
session "$tmp/in-process.pcapng" ""
session "$tmp/socket.pcapng" "" --listener-over-socket
"$ft" diff "$tmp/in-process.pcapng" "$tmp/socket.pcapng" > "$tmp/diff.txt" || { cat "$tmp/diff.txt"; fail "the traces differ"; }
grep -q " 0 differ" "$tmp/diff.txt" || fail "diff report: $(cat "$tmp/diff.txt")"
session "$tmp/more.pcapng" "one more call"
if "$ft" diff "$tmp/in-process.pcapng" "$tmp/more.pcapng" > /dev/null; then fail "a different session diffs equal"; fi
# The option is refused without --twin.
if "$bin/flow-table-hairpind" --listener-over-socket 2>"$tmp/err"; then fail "--listener-over-socket without --twin accepted"; fi
grep -q "needs --twin" "$tmp/err" || fail "no clear error: $(cat "$tmp/err")"
echo "listener-path: ok"
