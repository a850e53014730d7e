#!/usr/bin/env bash
# Runs one kernel test of unft.ko in a real Linux kernel under QEMU (TCG):
#
#   scripts/vm/run.sh [TEST_SCRIPT]          default scripts/vm/tests/kmod-basic.sh
#
# 1. builds kmod/ against the Debian kernel headers of VMTEST_KERNEL (warnings are errors);
# 2. makes a busybox initramfs (scripts/vm/init.sh as /init plus the virtio/9p modules);
# 3. boots /boot/vmlinuz-<ver> with the host root exported read-only over 9p and a
#    writable result folder; /init loads unft.ko from the host, runs TEST_SCRIPT chrooted
#    into the host root (host binaries, python3 and ip run unchanged), checks dmesg and
#    unft's clean unload, prints "VMTEST RESULT: PASS|FAIL" and powers off;
# 4. parses the markers; exit status 0 only on PASS (1 on FAIL, 124 on timeout).
#
# Tests that use FlowTrace's Swift tools (they name VMTEST_BIN) get the host's debug build,
# brought up to date with `swift build` first; the guest runs them from the host root.
# Lines "VMTEST METRIC name value" the test prints are repeated at the end of the output.
#
# Environment: VMTEST_KERNEL (the kernel version to boot and build for, e.g. 6.1 or 6.12; default
# Debian's default kernel), VMTEST_TIMEOUT (whole run, s, default 300), VMTEST_MEM (MiB, default 1024),
# VMTEST_KEEP=1 keeps the temporary folder (console.log, dmesg.txt, test outputs),
# VMTEST_BIN (a folder with flowtrace, flow-table-ctl, flow-table-hairpind: no build),
# VMTEST_ARGS (words for the test script, e.g. scripts/vm/bench/daemon-ab.sh's variants),
# VMTEST_KMOD_CACHE (a folder keeping each kernel's unft.ko between runs of one checkout),
# VMTEST_YNL (tools/net/ynl of a kernel tree, for tests/ynl.sh; default the copy
# scripts/install-deps.sh --ynl-dir unpacks), VMTEST_YNL_SPECS (its specs, default spec/).
set -euo pipefail

t_start=$(date +%s.%N)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
test=$(readlink -f "${1:-$here/tests/kmod-basic.sh}")
timeout_s=${VMTEST_TIMEOUT:-300}
mem=${VMTEST_MEM:-1024}
[[ -f $test ]] || { echo "run.sh: no test script $test" >&2; exit 2; }

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# The kernel: VMTEST_KERNEL names it by version ("6.1", "6.12" or a whole "6.12.118+deb12-amd64");
# unset, Debian's default kernel (the one linux-image-amd64 depends on), else the newest. Only a
# kernel with headers, image and modules counts; versions are found, never hard-coded.
kernels=()
for d in $(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -rV); do
	v=${d#/usr/src/linux-headers-}
	if [[ -r /boot/vmlinuz-$v && -d /lib/modules/$v/kernel ]]; then kernels+=("$v"); fi
done
((${#kernels[@]})) || { echo "run.sh: no linux-headers-*-amd64 with a matching /boot/vmlinuz-*" >&2; exit 2; }
want=${VMTEST_KERNEL:-$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
	sed -nE 's/^linux-image-([^ ,]+).*/\1/p')}
ver=""
for v in "${kernels[@]}"; do
	# "6.1" is 6.1.x, not 6.12.x.
	if [[ -z $want || $v == "$want" || $v == "$want".* || $v == "$want"-* ]]; then ver=$v; break; fi
done
if [[ -z $ver && -n ${VMTEST_KERNEL:-} ]]; then
	echo "run.sh: no kernel $VMTEST_KERNEL with headers and image; there are: ${kernels[*]}" >&2; exit 2
fi
ver=${ver:-${kernels[0]}}
kdir=/usr/src/linux-headers-$ver

tmp=$(mktemp -d /tmp/unft-vm.XXXXXX)
cleanup() { if [[ ${VMTEST_KEEP:-0} == 1 ]]; then echo "run.sh: kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT

# 1. Build, in a copy of the sources in the result folder: each kernel gets its own objects (two
# runs for two kernels never mix them), and the guest loads the module from there. With
# VMTEST_KMOD_CACHE (run-all.sh sets it for one pass over one checkout) a kernel's module is
# built once and reused.
t0=$(date +%s.%N)
kb=$tmp/results/kmod
mkdir -p "$kb"
cache=${VMTEST_KMOD_CACHE:+$VMTEST_KMOD_CACHE/$ver}
if [[ -n $cache && -f $cache/unft.ko ]]; then
	cp "$cache/unft.ko" "$kb/"
	echo "run.sh: unft.ko for $ver built already ($cache)"
else
	cp "$root"/kmod/{Kbuild,Makefile,*.c,*.h} "$kb/"
	cp -r "$root/kmod/include" "$kb/"
	if ! make -C "$kb" KDIR="$kdir" W=1 >"$tmp/build.log" 2>&1; then
		cat "$tmp/build.log"; echo "run.sh: building unft.ko failed"; exit 1
	fi
	if grep -E "warning:|error:" "$tmp/build.log"; then
		echo "run.sh: building unft.ko gave warnings"; exit 1
	fi
	echo "run.sh: built unft.ko for $ver in $(elapsed "$t0") s"
	if [[ -n $cache ]]; then mkdir -p "$cache" && cp "$kb/unft.ko" "$cache/"; fi
fi

# 1a. netdevsim, for tests that load it (they name res/netdevsim): Debian's kernels do not ship
# the module, so it is built from drivers/net/netdevsim of the linux-source tree
# scripts/install-deps.sh unpacks (scripts/vm/netdevsim), into the result folder, when that tree
# is this kernel's version (its top Makefile against the headers' kernel.release); otherwise
# results/netdevsim.note says why there is none and the test goes on without it.
if grep -q 'res/netdevsim' "$test"; then
	ksrc=$("$root/scripts/install-deps.sh" --ynl-dir) || { echo "run.sh: no kernel source parts (scripts/install-deps.sh --ynl-dir)"; exit 1; }
	src_ver=$(awk '$2 == "=" && $1 ~ /^(VERSION|PATCHLEVEL|SUBLEVEL)$/ { v = v (v == "" ? "" : ".") $3 }
		END { print v }' "$ksrc/Makefile" 2>/dev/null)
	rel=$(cat "$kdir/include/config/kernel.release")
	nb=$tmp/results/netdevsim
	if [[ ! -f $ksrc/drivers/net/netdevsim/netdev.c || -z $src_ver ]]; then
		echo "no netdevsim: $ksrc has no drivers/net/netdevsim (scripts/install-deps.sh)" >"$tmp/results/netdevsim.note"
	elif [[ $rel != "${src_ver%.*}".* ]]; then
		echo "no netdevsim: the kernel source is $src_ver, this kernel $ver ($rel)" >"$tmp/results/netdevsim.note"
	elif [[ -n $cache && -f $cache/netdevsim.ko ]]; then
		mkdir -p "$nb" && cp "$cache/netdevsim.ko" "$nb/"
		echo "run.sh: netdevsim.ko for $ver built already ($cache)"
	else
		t0=$(date +%s.%N)
		if ! make -C "$here/netdevsim" -j"$(nproc)" KDIR="$kdir" SRC="$ksrc/drivers/net/netdevsim" OUT="$nb" \
			>"$tmp/netdevsim-build.log" 2>&1; then
			tail -40 "$tmp/netdevsim-build.log"; echo "run.sh: building netdevsim.ko failed"; exit 1
		fi
		# Upstream's code, not ours: its warnings are shown, not fatal.
		grep -E "warning:" "$tmp/netdevsim-build.log" | sed 's/^/run.sh: netdevsim: /' || true
		echo "run.sh: built netdevsim.ko ($src_ver source) for $ver in $(elapsed "$t0") s"
		if [[ -n $cache ]]; then mkdir -p "$cache" && cp "$nb/netdevsim.ko" "$cache/"; fi
	fi
	[[ -f $tmp/results/netdevsim.note ]] && echo "run.sh: $(cat "$tmp/results/netdevsim.note")"
fi

# 1b. The Swift tools, for tests that use them (found the way scripts/run-e2e-tests.sh does).
bin=${VMTEST_BIN:-}
if [[ -z $bin ]] && grep -q VMTEST_BIN "$test"; then
	t0=$(date +%s.%N)
	if ! (cd "$root" && swift build) >"$tmp/swift-build.log" 2>&1; then
		tail -30 "$tmp/swift-build.log"; echo "run.sh: swift build failed"; exit 1
	fi
	bin=$(cd "$root" && swift build --show-bin-path)
	echo "run.sh: Swift tools up to date in $bin ($(elapsed "$t0") s)"
fi

# 1b'. The kernel's YNL library, for tests that use it: the copy scripts/install-deps.sh keeps.
ynl=${VMTEST_YNL:-}
if [[ -z $ynl ]] && grep -q VMTEST_YNL "$test"; then
	ksrc=$("$root/scripts/install-deps.sh" --ynl-dir) || { echo "run.sh: no kernel YNL tooling (scripts/install-deps.sh --ynl-dir)"; exit 1; }
	ynl=$ksrc/tools/net/ynl
fi

# 1c. The compiled benchmark client (scripts/vm/nlbench.c), for tests that run it: built
# here like the module, into the result folder the guest sees as $VMTEST_RESULTS.
if grep -q 'results/nlbench\|res/nlbench' "$test"; then
	# cc where the gcc package is installed; the kernel headers bring only gcc-12; the Swift
	# toolchain has clang.
	ccbin=$(command -v cc || command -v gcc || command -v gcc-12 || command -v clang || true)
	[[ -n $ccbin ]] || { echo "run.sh: no C compiler for nlbench.c" >&2; exit 2; }
	if ! "$ccbin" -O2 -Wall -Wextra -Werror -I"$root/kmod/include" -o "$tmp/results/nlbench" "$here/nlbench.c" \
		>"$tmp/nlbench-build.log" 2>&1; then
		cat "$tmp/nlbench-build.log"; echo "run.sh: building nlbench failed"; exit 1
	fi
fi

# 2. Initramfs.
ird=$tmp/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,host,results,lib/modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$here/init.sh" "$ird/init"
chmod 755 "$ird/init"
# The modules /init needs for 9p over virtio-pci, in dependency order as modprobe gives them
# (which of them are built in differs between kernels: 6.12 has virtio and fscache built in).
: >"$ird/lib/modules/order"
for f in $(modprobe -S "$ver" --show-depends -a virtio_pci 9pnet_virtio 9p | awk '$1 == "insmod" { print $2 }'); do
	m=$(basename "$f"); m=${m%%.ko*}
	grep -qx "$m" "$ird/lib/modules/order" && continue
	case $f in
	*.xz) xz -dc "$f" >"$ird/lib/modules/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$ird/lib/modules/$m.ko" ;;
	*) cp "$f" "$ird/lib/modules/$m.ko" ;;
	esac
	echo "$m" >>"$ird/lib/modules/order"
done
grep -qx 9p "$ird/lib/modules/order" || { echo "run.sh: no 9p module for $ver" >&2; exit 2; }
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initramfs.gz"

cat >"$tmp/results/vmtest.env" <<EOF
VMTEST_KO='/tmp/results/kmod/unft.ko'
VMTEST_SCRIPT='$test'
VMTEST_ROOT='$root'
VMTEST_BIN='$bin'
VMTEST_SEED='${VMTEST_SEED:-}'
VMTEST_KFUZZ_SCALE='${VMTEST_KFUZZ_SCALE:-1}'
VMTEST_ARGS='${VMTEST_ARGS:-}'
VMTEST_YNL='$ynl'
VMTEST_YNL_SPECS='${VMTEST_YNL_SPECS:-}'
EOF

# 3. Boot.
echo "run.sh: booting $ver (TCG, ${mem} MiB), test $(basename "$test"), limit ${timeout_s} s"
t_boot=$(date +%s.%N)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg ${VMTEST_CPU:+-cpu "$VMTEST_CPU"} -m "$mem" -smp "${VMTEST_SMP:-1}" -nographic -no-reboot \
	-kernel "/boot/vmlinuz-$ver" -initrd "$tmp/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 loglevel=4" \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$tmp/results,mount_tag=results,security_model=none,multidevs=remap" \
	-virtfs "local,path=$root,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
	</dev/null 2>&1 | tee "$tmp/console.log"
qrc=${PIPESTATUS[0]}
set -e
boot_s=$(elapsed "$t_boot")

# 4. Verdict from the markers (qemu's own status does not carry the guest's result).
begin=$(grep -m1 -a "VMTEST BEGIN" "$tmp/console.log" || true)
verdict=$(grep -a -o "VMTEST RESULT: [A-Z]*" "$tmp/console.log" | tail -1 || true)
guest=$(grep -a -o "VMTEST TIME guest uptime [0-9.]*" "$tmp/console.log" | tail -1 | awk '{print $NF}' || true)
echo "run.sh: boot + test ${boot_s} s wall (guest uptime ${guest:-?} s), whole run $(elapsed "$t_start") s"
grep -a -o "VMTEST METRIC [A-Za-z0-9_.]* [-0-9.eE+]*" "$tmp/console.log" | sed 's/^/run.sh: /' || true
if [[ $qrc == 124 || $qrc == 137 ]]; then
	echo "run.sh: FAIL: timed out after ${timeout_s} s"; exit 124
fi
if [[ -z $begin ]]; then
	echo "run.sh: FAIL: the guest never reached VMTEST BEGIN"; exit 1
fi
if [[ $verdict == "VMTEST RESULT: PASS" ]]; then
	echo "run.sh: PASS"; exit 0
fi
echo "run.sh: FAIL (${verdict:-no result marker})"
exit 1
