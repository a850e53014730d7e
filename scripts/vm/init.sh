#!/bin/busybox sh
# /init of the test VM (busybox, see scripts/vm/run.sh). Mounts the host root read-only over
# 9p at /host and the host's result folder at /results, loads unft.ko (run.sh builds it into the
# result folder), runs the test script chrooted into /host, checks the kernel log and unft's
# live-allocation count, prints "VMTEST RESULT: PASS|FAIL" and powers off.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

up() { cut -d' ' -f1 /proc/uptime; }

finish() {
	echo "VMTEST TIME guest uptime $(up) s"
	echo "VMTEST RESULT: $1"
	[ -d /results/. ] && dmesg >/results/dmesg.txt 2>/dev/null
	sync
	umount /results 2>/dev/null
	poweroff -f
}

fail() {
	echo "vmtest: $*"
	finish FAIL
}

# In dependency order (run.sh wrote it as modprobe gave it; built-in ones are not listed).
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || fail "insmod $m failed"
done
mkdir -p /host /results
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 host /host || fail "mounting the host root failed"
mount -t 9p -o trans=virtio,version=9p2000.L results /results || fail "mounting the result folder failed"
. /results/vmtest.env

# A working system inside the read-only host root.
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t debugfs debugfs /host/sys/kernel/debug
mount -t devtmpfs devtmpfs /host/dev
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
mkdir -p /host/tmp/results
mount -o bind /results /host/tmp/results
# The checkout is exported on its own as well: a checkout under /tmp or /run (as a CI clone may
# be) is hidden by the tmpfs mounts above, so it is mounted back at its own path.
case "$VMTEST_ROOT" in
/tmp/*|/run/*)
	mkdir -p "/host$VMTEST_ROOT"
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 repo "/host$VMTEST_ROOT" || fail "mounting the checkout failed"
	;;
esac
ip link set lo up 2>/dev/null

echo "VMTEST BEGIN kernel $(uname -r), guest uptime $(up) s"
insmod "/host$VMTEST_KO" || fail "insmod unft.ko failed"

chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 VMTEST_ROOT="$VMTEST_ROOT" VMTEST_BIN="$VMTEST_BIN" VMTEST_RESULTS=/tmp/results \
	VMTEST_SEED="$VMTEST_SEED" VMTEST_KFUZZ_SCALE="$VMTEST_KFUZZ_SCALE" VMTEST_ARGS="${VMTEST_ARGS:-}" \
	VMTEST_YNL="${VMTEST_YNL:-}" VMTEST_YNL_SPECS="${VMTEST_YNL_SPECS:-}" \
	/bin/bash "$VMTEST_SCRIPT"
rc=$?
echo "vmtest: test script exit status $rc"

result=PASS
[ $rc -eq 0 ] || result=FAIL
if [ -d /sys/module/unft ]; then
	echo "vmtest: unft is still loaded after the test: unloading"
	rmmod unft || { echo "vmtest: rmmod unft failed"; result=FAIL; }
fi
# Kernel log: no WARN/BUG/Oops, no leak, and unft's own clean-unload line.
if dmesg | grep -E "WARNING:|BUG:|BUG |Oops|general protection|Call Trace|RIP:|UBSAN|refcount_t:|list_(add|del) corruption|leak"; then
	echo "vmtest: the kernel log has warnings (above)"
	result=FAIL
fi
if ! dmesg | grep -q "unft: unloaded, no live objects"; then
	echo "vmtest: no clean unload line from unft in the kernel log"
	dmesg | grep unft
	result=FAIL
fi
finish $result
