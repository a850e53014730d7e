#!/usr/bin/env bash
# Runs every kernel test in scripts/vm/tests/ on each kernel of VMTEST_KERNELS (default "6.1 6.12":
# Debian 12's default kernel and Debian 13's, both from Debian 12's archive), one VM boot per test
# and kernel, after a DKMS build of kmod/ for each kernel (dkms-check.sh), and prints one closing
# line "vm: N passed, N failed". Installs the VM packages first when they are missing.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/scripts/install-deps.sh" --vm || { echo "vm: cannot install the VM packages"; echo "vm: 0 passed, 1 failed"; exit 1; }
read -r -a kernels <<<"${VMTEST_KERNELS:-6.1 6.12}"
passed=0; failed=0
t_all=$(date +%s)
# Built once for the whole pass: each kernel's module (run.sh keeps it here) and the Swift tools.
VMTEST_KMOD_CACHE=$(mktemp -d /tmp/unft-kmod.XXXXXX)
export VMTEST_KMOD_CACHE
trap 'rm -rf "$VMTEST_KMOD_CACHE"' EXIT
if [[ -z ${VMTEST_BIN:-} ]] && grep -q VMTEST_BIN "$here"/tests/*.sh; then
  if (cd "$root" && swift build) >"$VMTEST_KMOD_CACHE/swift-build.log" 2>&1; then
    VMTEST_BIN=$(cd "$root" && swift build --show-bin-path)
    export VMTEST_BIN
  else
    echo "vm: swift build FAILED"; tail -30 "$VMTEST_KMOD_CACHE/swift-build.log" | sed 's/^/    /'
    failed=$((failed+1))
  fi
fi

dlog=$(mktemp)
if "$here/dkms-check.sh" "${kernels[@]}" >"$dlog" 2>&1; then
  passed=$((passed+1)); sed -n 's/^dkms: /vm: dkms /p' "$dlog"
else
  failed=$((failed+1)); echo "vm: dkms FAILED"; tail -40 "$dlog" | sed 's/^/    /'
fi
rm -f "$dlog"

for k in "${kernels[@]}"; do
  for t in "$here"/tests/*.sh; do
    name="$(basename "$t" .sh) [$k]"
    log=$(mktemp)
    if VMTEST_KERNEL=$k "$here/run.sh" "$t" >"$log" 2>&1; then
      echo "vm: $name ok ($(grep -o 'whole run [0-9.]* s' "$log" | tail -1))"; passed=$((passed+1))
      grep "^run.sh: VMTEST METRIC" "$log" | sed 's/^run.sh: /    /'
    else
      # The test's own FAIL lines first: the tail alone can be all counters.
      echo "vm: $name FAILED"; grep -a ": FAIL" "$log" | head -20 | sed 's/^/    /'
      tail -60 "$log" | sed 's/^/    /'; failed=$((failed+1))
    fi
    rm -f "$log"
  done
done
echo "vm: kernels ${kernels[*]} in $(($(date +%s) - t_all)) s"
echo "vm: $passed passed, $failed failed"
((failed == 0))
