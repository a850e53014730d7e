#!/usr/bin/env bash
# Runs every end-to-end test script in Tests/e2e/ against the debug build and prints one
# closing line "N passed, N failed". Exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)"
export FLOWTRACE_BIN="$bin"
passed=0; failed=0; names=()
for t in Tests/e2e/*.sh; do
  [[ -e "$t" ]] || continue
  name=$(basename "$t" .sh)
  log=$(mktemp)
  if timeout 600 bash "$t" >"$log" 2>&1; then
    echo "e2e: $name ok"; passed=$((passed+1))
  else
    echo "e2e: $name FAILED"; sed 's/^/    /' "$log" | tail -40; failed=$((failed+1)); names+=("$name")
  fi
  rm -f "$log"
done
echo "e2e: $passed passed, $failed failed"
((failed == 0))
