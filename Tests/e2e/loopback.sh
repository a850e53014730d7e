#!/usr/bin/env bash
# The loopback path over real sockets with separate processes: flow-table-ctl → twin →
# flow-table-hairpind → backend → back. Checks answers, errno and texts, and what happens when
# the daemon stops answering or dies mid-request.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ctl="$bin/flow-table-ctl"
export FLOWTRACE_RUNTIME_DIR=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$FLOWTRACE_RUNTIME_DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
wait_for() { for _ in $(seq 100); do [[ -S $1 ]] && return 0; sleep 0.05; done; fail "no socket $1"; }

# Twin and daemon as two processes, like module and daemon.
"$bin/flowtrace" twin --devices unft0,unft1 --timeout 1 & pids+=($!)
wait_for "$FLOWTRACE_RUNTIME_DIR/hairpin.sock"
"$bin/flow-table-hairpind" --backend tss & daemon=$!; pids+=($daemon)
sleep 0.5

# Discovery.
"$ctl" -j get-tables unft0 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["tables"]) == 5, d' \
  || fail "get-tables"
[[ $("$ctl" -j get-headers unft1) == *'"ipv6"'* ]] || fail "get-headers"
for c in get-actions get-header-graph get-table-graph; do "$ctl" $c unft0 >/dev/null || fail "$c"; done

# set-flows then get-flows returns the flows, in (priority, uid) order.
flows="$root/models/default/examples/flows.json"
"$ctl" set-flows unft0 "$flows" || fail "set-flows"
"$ctl" get-flows unft0 --table 3 -j > "$FLOWTRACE_RUNTIME_DIR/got.json"
python3 - "$flows" "$FLOWTRACE_RUNTIME_DIR/got.json" <<'PY' || fail "get-flows differs from what was set"
import json, sys
src = [f["flow"] for f in json.load(open(sys.argv[1]))["flows"] if f["flow"]["table"] == 3]
got = [f["flow"] for f in json.load(open(sys.argv[2]))["flows"]]
src.sort(key=lambda f: (f["priority"], f["uid"]))
assert got == src, (got, src)
PY
# unft1 has its own state.
"$ctl" get-flows unft1 --table 3 -j | python3 -c 'import json,sys; assert json.load(sys.stdin)["flows"] == []' \
  || fail "unft1 is not empty"

# Errors reach the caller with the right errno and text, and a non-zero exit.
if "$ctl" set-flows unft0 "$flows" 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "duplicate accepted"; fi
grep -q "EEXIST (errno 17)" "$FLOWTRACE_RUNTIME_DIR/err" || fail "no EEXIST: $(cat "$FLOWTRACE_RUNTIME_DIR/err")"
grep -q "duplicate uid" "$FLOWTRACE_RUNTIME_DIR/err" || fail "no text"
# cont-log with -j prints each failed flow with its errno on stdout as libflow-table JSON.
"$ctl" set-flows unft0 "$flows" --error-strategy cont-log -j > "$FLOWTRACE_RUNTIME_DIR/report.json" 2>/dev/null || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["flows"]) == 6 and all(f["flow"]["error"] == 17 for f in d["flows"]), d' \
  "$FLOWTRACE_RUNTIME_DIR/report.json" || fail "cont-log report"
# continue: failures ignored, exit 0.
"$ctl" set-flows unft0 "$flows" --error-strategy continue || fail "continue should succeed"
"$ctl" del-flows unft0 "$root/models/default/examples/del-flows.json" || fail "del-flows"
if "$ctl" del-flows unft0 "$root/models/default/examples/del-flows.json" 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "delete of missing flows accepted"; fi
grep -q "ENOENT" "$FLOWTRACE_RUNTIME_DIR/err" || fail "no ENOENT"
echo '{"flows":[{"flow":{"table":9,"uid":1,"priority":1,"matches":[],"actions":[]}}]}' > "$FLOWTRACE_RUNTIME_DIR/bad.json"
if "$ctl" set-flows unft0 "$FLOWTRACE_RUNTIME_DIR/bad.json" 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "unknown table accepted"; fi
grep -q "ENOENT" "$FLOWTRACE_RUNTIME_DIR/err" || fail "unknown table: $(cat "$FLOWTRACE_RUNTIME_DIR/err")"
if "$ctl" get-tables nosuchdev 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "unknown device accepted"; fi
grep -q "no unft device named nosuchdev" "$FLOWTRACE_RUNTIME_DIR/err" || fail "unknown device message"
if "$ctl" get-tables 4242 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "unknown ifindex accepted"; fi
grep -q "EINVAL" "$FLOWTRACE_RUNTIME_DIR/err" || fail "unknown ifindex: $(cat "$FLOWTRACE_RUNTIME_DIR/err")"

# The daemon stops answering (SIGSTOP): the caller fails with ETIMEDOUT after the twin's
# 1 s timeout, not later.
kill -STOP "$daemon"
start=$(date +%s.%N)
if "$ctl" get-tables unft0 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "answered while the daemon is stopped"; fi
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
grep -q "ETIMEDOUT" "$FLOWTRACE_RUNTIME_DIR/err" || fail "no ETIMEDOUT: $(cat "$FLOWTRACE_RUNTIME_DIR/err")"
python3 -c "import sys; assert 0.9 < float(sys.argv[1]) < 4, sys.argv[1]" "$took" || fail "timeout took $took s"

# Killed mid-request: a call is pending while the daemon is stopped; kill -9 it → the caller
# gets ENOTCONN at once (well before the 1 s timeout).
"$ctl" get-tables unft0 --timeout 10 2>"$FLOWTRACE_RUNTIME_DIR/err2" & caller=$!
sleep 0.3
start=$(date +%s.%N)
kill -9 "$daemon"
if wait "$caller"; then fail "call succeeded after the daemon died"; fi
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
grep -q "ENOTCONN" "$FLOWTRACE_RUNTIME_DIR/err2" || fail "no ENOTCONN: $(cat "$FLOWTRACE_RUNTIME_DIR/err2")"
python3 -c "import sys; assert float(sys.argv[1]) < 0.8, sys.argv[1]" "$took" || fail "ENOTCONN took $took s"
# And with no daemon at all: ENOTCONN at once.
if "$ctl" get-tables unft0 2>"$FLOWTRACE_RUNTIME_DIR/err"; then fail "answered without a daemon"; fi
grep -q "ENOTCONN" "$FLOWTRACE_RUNTIME_DIR/err" || fail "no listener: $(cat "$FLOWTRACE_RUNTIME_DIR/err")"
echo ok
