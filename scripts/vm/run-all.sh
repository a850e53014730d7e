#!/usr/bin/env bash
# Runs every kernel test in scripts/vm/tests/ in its own VM boot and prints one closing line
# "vm: N passed, N failed". Installs the VM packages first when they are missing.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/scripts/install-deps.sh" --vm || { echo "vm: cannot install the VM packages"; echo "vm: 0 passed, 1 failed"; exit 1; }
passed=0; failed=0
for t in "$here"/tests/*.sh; do
  name=$(basename "$t" .sh)
  log=$(mktemp)
  if "$here/run.sh" "$t" >"$log" 2>&1; then
    echo "vm: $name ok ($(grep -o 'whole run [0-9.]* s' "$log" | tail -1))"; passed=$((passed+1))
    grep "^run.sh: VMTEST METRIC" "$log" | sed 's/^run.sh: /    /'
  else
    echo "vm: $name FAILED"; tail -60 "$log" | sed 's/^/    /'; failed=$((failed+1))
  fi
  rm -f "$log"
done
echo "vm: $passed passed, $failed failed"
((failed == 0))
