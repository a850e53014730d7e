#!/usr/bin/env bash
# Fault injection: a session recorded with --inject (backend errors and delays) and
# --inject-twin (an API call failed before forwarding, one held past the timeout) gives the
# clients exactly those faults; the trace marks the calls they hit and lists the specs; replay
# injects them again into all four backends and the twin with zero divergences, and without
# re-injection (--no-reinject) diverges at those calls. The same with the twin and the daemon as
# two processes. Bad specs are refused with a message naming the spec and the fault.
set -eu
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="$bin/flowtrace"; ctl="$bin/flow-table-ctl"; daemon="$bin/flow-table-hairpind"
flows="$root/models/default/examples/flows.json"; dels="$root/models/default/examples/del-flows.json"
source "$root/Tests/e2e/lib/daemon.bash"   # $tmp, pids, fail, wait_for_log
export HOME="$tmp/home"; mkdir -p "$HOME"
# expect_fail "what" ERRNO-TEXT command…: the command must fail and say ERRNO-TEXT.
expect_fail() {
  local what=$1 text=$2; shift 2
  if "$@" > /dev/null 2> "$tmp/err"; then fail "$what succeeded; an injected fault should have failed it"; fi
  grep -q -- "$text" "$tmp/err" || fail "$what: expected \"$text\", got: $(cat "$tmp/err")"
}

# 1. Bad specs: a clear message and exit 64 (usage), before anything starts.
check_usage() {
  local expected=$1; shift
  set +e; "$@" > /dev/null 2> "$tmp/err"; rc=$?; set -e
  [[ $rc == 64 ]] || fail "$* exited $rc, expected 64"
  grep -qF -- "$expected" "$tmp/err" || fail "$*: expected \"$expected\", got: $(cat "$tmp/err")"
}
check_usage "--inject set_flows:error=EFOO: unknown errno EFOO" "$daemon" --twin --inject set_flows:error=EFOO
check_usage "--inject set_flow:error=ENOSPC: unknown command set_flow" "$daemon" --twin --inject set_flow:error=ENOSPC
check_usage "--inject get_flows:delay=soon: bad delay soon" "$daemon" --twin --inject get_flows:delay=soon
check_usage "--inject get_flows:error=EIO:when=0: bad when=0" "$daemon" --twin --inject get_flows:error=EIO:when=0
check_usage "--inject get_flows: nothing to inject" "$daemon" --twin --inject get_flows
check_usage "twin faults (--inject-twin, --inject twin:…) need --twin" "$daemon" --inject-twin get_tables:error=EBUSY
check_usage "backend faults belong to the daemon" "$ft" twin --inject backend:set_flows:error=EIO

# 2. One process, both sides injected; the 4th GET_TABLES is held 1.5 s, past the 1 s timeout.
"$daemon" --twin --timeout 1 --record "$tmp/faults.pcapng" \
  --inject set_flows:error=ENOSPC:when=2 --inject get_flows:delay=30ms:when=1+2 \
  --inject-twin get_tables:error=EBUSY:when=3 --inject-twin get_tables:delay=1500ms:when=4 \
  2> "$tmp/daemon.err" & d=$!; pids+=("$d")
wait_for_log "$tmp/daemon.err" "twin listening on" $d
"$ctl" -j get-tables unft0 > /dev/null                       # GET_TABLES 1
"$ctl" set-flows unft0 "$flows" > /dev/null                  # SET_FLOWS 1
expect_fail "the 2nd SET_FLOWS" "ENOSPC (errno 28): injected fault: ENOSPC" "$ctl" set-flows unft0 "$flows"
"$ctl" -j get-flows unft0 --table 2 > /dev/null              # GET_FLOWS 1: +30 ms
"$ctl" -j get-flows unft0 --table 3 > /dev/null              # GET_FLOWS 2
"$ctl" -j get-tables unft0 > /dev/null                       # GET_TABLES 2
expect_fail "the 3rd GET_TABLES" "EBUSY (errno 16): injected fault: EBUSY" "$ctl" get-tables unft0
expect_fail "the 4th GET_TABLES" "ETIMEDOUT" "$ctl" get-tables unft0
"$ctl" del-flows unft0 "$dels" > /dev/null
"$ctl" -j get-flows unft0 --table 2 > /dev/null              # GET_FLOWS 3: +30 ms
sleep 0.6   # past the held GET_TABLES' due time: it timed out, so the twin drops it unforwarded
kill -INT "$d"; wait "$d" || fail "daemon exit status: $(cat "$tmp/daemon.err")"
pids=()
grep -q "injected 5 faults" "$tmp/daemon.err" || fail "the daemon does not report 5 injected faults: $(cat "$tmp/daemon.err")"
# The trace holds exactly the session's 10 calls (the daemon was found ready by its log line,
# not by calls): 10 API requests, each call answered once; forwarded all but the two the
# twin failed (EBUSY before forwarding; the held one timed out and was dropped when due).
"$ft" audit "$tmp/faults.pcapng" --json > "$tmp/audit.json" || fail "audit: $(cat "$tmp/audit.json")"
python3 - "$tmp/audit.json" <<'PY' || fail "the trace does not hold exactly the session's calls: $(cat "$tmp/audit.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert (a["calls"], a["answered"], a["forwarded"], a["timed_out"], a["anomalies"]) == (10, 10, 8, 1, 0), a
PY
n=$(api_requests "$tmp/faults.pcapng"); [[ $n == 10 ]] || fail "the trace holds $n API requests, the session made 10"
# Every error counts against its command, wherever it came from: the backend (ENOSPC), the twin
# failing a call itself (EBUSY) and the timeout (ETIMEDOUT).
"$ft" stats "$tmp/faults.pcapng" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
c = {(x["leg"], x["cmd"]): x["errors"] for x in s["commands"]}
assert c[("api", "GET_TABLES")] == {"EBUSY": 1, "ETIMEDOUT": 1}, c
assert c[("api", "SET_FLOWS")] == {"ENOSPC": 1}, c' || fail "stats: injected errors not counted against their command"

# The trace: the specs in the section comment, the marker on the hit calls' answer records.
capinfos "$tmp/faults.pcapng" | grep -q "injected faults: set_flows:error=ENOSPC:when=2" || fail "no specs in the section comment"
marks=$(tshark -r "$tmp/faults.pcapng" -Y 'frame.comment contains "injected fault:"' -T fields -e frame.comment | sort -u)
for m in "side=backend command=SET_FLOWS call=2 seq=.* error=ENOSPC" "side=backend command=GET_FLOWS call=1 .*delay=30ms" \
         "side=backend command=GET_FLOWS call=3 .*delay=30ms" "side=twin command=GET_TABLES call=3 .*error=EBUSY" \
         "side=twin command=GET_TABLES call=4 .*delay=1500ms"; do
  grep -q "injected fault: $m" <<< "$marks" || fail "no marker \"$m\" in: $marks"
done
grep -q "command=GET_FLOWS call=2" <<< "$marks" && fail "GET_FLOWS call 2 is marked though when=1+2 skips it"

# 3. Replay: the same faults at the same calls, zero divergences in every target.
for t in backend:dummy backend:hash backend:tss backend:tcam twin; do
  "$ft" replay "$tmp/faults.pcapng" --target "$t" --topspeed > "$tmp/replay.out" 2> "$tmp/replay.err" \
    || { cat "$tmp/replay.out" "$tmp/replay.err"; fail "replay into $t diverged"; }
  grep -q "0 divergent" "$tmp/replay.out" || fail "replay into $t: $(head -1 "$tmp/replay.out")"
  case $t in
    twin) grep -q "re-injected 5 of the 5 recorded faults" "$tmp/replay.err" || fail "twin replay: $(cat "$tmp/replay.err")" ;;
    *) grep -q "re-injected 3 of the 3 recorded backend faults at the calls they hit (and 2 of the twin.s own" "$tmp/replay.err" \
         || fail "$t replay: $(cat "$tmp/replay.err")" ;;
  esac
done
# Without the markers' faults the hit calls diverge: the markers are what makes the replay match.
set +e
"$ft" replay "$tmp/faults.pcapng" --target backend:hash --no-reinject > "$tmp/replay.out" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] || fail "--no-reinject into backend:hash exited $rc, expected 1 (divergent)"
grep -q "recorded ENOSPC, replayed EEXIST" "$tmp/replay.out" || fail "--no-reinject: $(head -8 "$tmp/replay.out")"
set +e
"$ft" replay "$tmp/faults.pcapng" --target twin --topspeed --no-reinject > "$tmp/replay.out" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] || fail "--no-reinject into the twin exited $rc, expected 1"
grep -q "2 divergent" "$tmp/replay.out" || fail "--no-reinject into the twin: $(head -3 "$tmp/replay.out")"

# 4. Two processes: twin faults in `flowtrace twin`, backend faults in the daemon, which
# records the hairpin leg and marks the answer it failed.
sock="$FLOWTRACE_RUNTIME_DIR/unft.sock"   # the default path, which flow-table-ctl uses
"$ft" twin --inject get_tables:error=EAGAIN:when=2 2> "$tmp/twin.err" & tw=$!; pids+=("$tw")
wait_for_log "$tmp/twin.err" "listening on $sock" $tw
"$daemon" --inject del_flows:error=EBUSY:when=1 --record "$tmp/two.pcapng" 2> "$tmp/daemon.err" & d=$!; pids+=("$d")
wait_for_log "$tmp/daemon.err" "registered as the hairpin listener" $d
"$ctl" -j get-tables unft0 > /dev/null                       # GET_TABLES 1
expect_fail "GET_TABLES 2 in flowtrace twin" "EAGAIN (errno 11): injected fault: EAGAIN" "$ctl" get-tables unft0
"$ctl" set-flows unft0 "$flows" > /dev/null
expect_fail "DEL_FLOWS 1 in the daemon" "EBUSY (errno 16)" "$ctl" del-flows unft0 "$dels"
kill -INT "$d"; wait "$d" || fail "daemon exit status: $(cat "$tmp/daemon.err")"
kill -INT "$tw"; wait "$tw" || true
pids=()
tshark -r "$tmp/two.pcapng" -Y 'frame.comment contains "side=backend command=DEL_FLOWS call=1"' | grep -q . \
  || fail "the daemon's own recording does not mark the failed DEL_FLOWS"
# The daemon saw exactly the calls the twin forwarded: GET_TABLES 1 (GET_TABLES 2 failed in
# the twin), SET_FLOWS, DEL_FLOWS.
encaps=$("$ft" show "$tmp/two.pcapng" | grep -o "ENCAP [A-Z_]* req" | tr '\n' ' ')
[[ $encaps == "ENCAP GET_TABLES req ENCAP SET_FLOWS req ENCAP DEL_FLOWS req " ]] \
  || fail "the daemon's recording holds other calls than the 3 forwarded: $encaps"
"$ft" replay "$tmp/two.pcapng" --target backend:tcam > "$tmp/replay.out" 2>&1 || { cat "$tmp/replay.out"; fail "replay of the daemon's recording"; }
"$ft" replay "$tmp/two.pcapng" --target backend:tcam --no-reinject > /dev/null 2>&1 && fail "the daemon's recording replays without its fault"
echo "faults: 5 injected (3 backend, 2 twin of which 1 timed out), marked and re-injected into 5 targets with 0 divergences; 2 more across two processes"
