#!/usr/bin/env bash
# Re-records traces/error-session.pcapng (run from the repository root after `swift build`).
set -u
B=${FLOWTRACE_BIN:-.build/debug}
export FLOWTRACE_RUNTIME_DIR=$(mktemp -d)
"$B/flow-table-hairpind" --twin --devices unft0,unft1 --backend tcam --record traces/error-session.pcapng & d=$!
sleep 1
F=models/default/examples/flows.json; D=models/default/examples/del-flows.json
"$B/flow-table-ctl" set-flows unft0 $F
for s in abort continue abort-log cont-log; do "$B/flow-table-ctl" -j set-flows unft0 $F --error-strategy $s > /dev/null; done
"$B/flow-table-ctl" del-flows unft0 $D
"$B/flow-table-ctl" del-flows unft0 $D
"$B/flow-table-ctl" -j del-flows unft1 $D --error-strategy cont-log > /dev/null
echo '{"flows":[{"flow":{"table":9,"uid":1,"priority":1,"matches":[],"actions":[]}}]}' > "$FLOWTRACE_RUNTIME_DIR/bad.json"
"$B/flow-table-ctl" set-flows unft0 "$FLOWTRACE_RUNTIME_DIR/bad.json"
"$B/flow-table-ctl" get-flows unft0 --table 42
"$B/flow-table-ctl" get-tables 4242
"$B/flow-table-ctl" -j get-flows unft0 --table 3 > /dev/null
kill -INT $d; wait $d
rm -rf "$FLOWTRACE_RUNTIME_DIR"
