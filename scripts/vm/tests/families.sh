#!/bin/bash
# Every netlink family from its YNL spec (issue 16), in the VM: `flowtrace capture` on nlmon0
# keeps every family while real tools drive the kernel, and the trace reads back named:
#   * devlink (`devlink dev show`: a dump, whatever devices there are; the guest kernel has no
#     netdevsim), rtnetlink (`ip link add/set/del` of a dummy device, added twice: EEXIST),
#     nlctrl (`genl ctrl list`),
#     ethtool (`ethtool DEV` and `ethtool -k DEV` when the host has the binary), and our own
#     net_flow_nl (unft);
#   * the file names every generic family on its own (NEWFAMILY records), so `flowtrace show`
#     decodes every devlink and rt-link message with operation and attribute names and no
#     decode error, every request and ACK carry the same call id, and `flowtrace stats` counts
#     each request under its family and operation; `stats --failed` lists the EEXIST.
#   * tshark with the dissectors `flowtrace wireshark print` generates shows every ethtool and
#     devlink attribute value `flowtrace show --json` gives, and no other (tshark-vs-show.py).
# The kernel's specs come from scripts/install-deps.sh --specs (the host's cache, found below or
# named by VMTEST_SPECS); without them the names checks are skipped with a note.
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}
res=${VMTEST_RESULTS:?VMTEST_RESULTS is not set}
py=/usr/bin/python3
ft=$bin/flowtrace
ctl=$bin/flow-table-ctl
work=/tmp/families
mkdir -p $work
fail=0
t0=$(date +%s.%N)
pids=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
step() { echo "--- [$(since "$t0") s] $*"; }
bad() { echo "families: FAIL: $*"; fail=1; }
ok() { echo "    ok: $*"; }
. "$root/scripts/vm/lib.sh"
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip link del ftdummy0 2>/dev/null
}
trap cleanup EXIT

step "binaries and specs"
[ -x "$ft" ] || { bad "$ft is missing: build on the host first (swift build)"; exit 1; }
specs=${VMTEST_SPECS:-}
for d in "${FLOWTRACE_LINUX_SRC:-/nonexistent}/Documentation/netlink/specs" \
	/root/.cache/flowtrace/linux-6.12/Documentation/netlink/specs \
	/home/*/.cache/flowtrace/linux-6.12/Documentation/netlink/specs; do
	[ -z "$specs" ] && [ -f "$d/devlink.yaml" ] && specs=$d
done
if [ -n "$specs" ]; then
	ok "kernel specs: $specs"
	specargs=(--spec-dir "$specs")
else
	echo "    note: no kernel specs (scripts/install-deps.sh --specs on the host): names not checked"
	specargs=()
fi
"$ft" specs "${specargs[@]}" >$work/specs.txt 2>&1 || echo "    note: some specs did not load: $(grep -c . $work/specs.txt) lines in specs.txt"

step "nlmon0 and the capture of every family"
modprobe nlmon 2>$work/err || bad "modprobe nlmon: $(cat $work/err)"
modprobe dummy 2>/dev/null
ip link add nlmon0 type nlmon && ip link set nlmon0 up || bad "nlmon0"
"$ft" capture -i nlmon0 -w $res/families.pcapng >$work/capture.log 2>&1 &
cap=$!; pids+=($cap)
for _ in $(seq 200); do grep -q "capturing on" $work/capture.log && break; sleep 0.05; done
grep -q "capturing on" $work/capture.log || bad "capture did not start: $(cat $work/capture.log)"
sed 's/^/    /' $work/capture.log

step "drive the families"
devlink dev show >$work/devlink.out 2>&1 || echo "    note: devlink dev show: $(cat $work/devlink.out)"
ip link add ftdummy0 type dummy || bad "ip link add dummy"
ip link set ftdummy0 mtu 1400 up || bad "ip link set"
# ethtool's link settings and features go over its netlink family (-i is still an ioctl).
if command -v ethtool >/dev/null; then
	ethtool ftdummy0 >/dev/null 2>&1; ethtool -k ftdummy0 >/dev/null 2>&1; ethtool_ran=1
else ethtool_ran=0; echo "    note: no ethtool binary"; fi
ip link add ftdummy0 type dummy 2>$work/eexist.err && bad "adding ftdummy0 twice succeeded"
ip link del ftdummy0 || bad "ip link del"
genl ctrl list >/dev/null 2>&1 || echo "    note: genl ctrl list failed"
ip link add unft0 type unft 2>/dev/null && { "$ctl" get-tables unft0 >/dev/null 2>&1; ip link del unft0; }
sleep 0.3
kill -INT $cap; wait $cap || bad "capture exited with $?"
sed 's/^/    /' $work/capture.log
grep -q "other [1-9]" $work/capture.log || bad "the capture kept no other family"

step "flowtrace show names them"
"$ft" show --json "${specargs[@]}" $res/families.pcapng >$work/show.jsonl 2>$work/err || bad "flowtrace show: $(cat $work/err)"
"$ft" show -V "${specargs[@]}" $res/families.pcapng >$res/families-show.txt 2>&1 || bad "flowtrace show -V"
$py - $work/show.jsonl "${#specargs[@]}" $ethtool_ran <<'PY' || bad "the capture's contents"
import json, sys, collections
lines = [json.loads(l) for l in open(sys.argv[1])]
have_specs = sys.argv[2] != "0"
ethtool = sys.argv[3] == "1"
ops = collections.Counter((l.get("family"), l.get("op"), l.get("request")) for l in lines if "family" in l)
for k, v in sorted(ops.items(), key=str):
    print(f"    {v:5d} {k}")
errors = [l for l in lines if "decode_error" in l]
for l in errors[:5]:
    print(f"    frame {l['frame']}: {l.get('family')} {l.get('op')}: {l['decode_error']}")
if not have_specs:
    print("    (no kernel specs: names not checked)")
    sys.exit(0)
fails = []
if errors:
    fails.append(f"{len(errors)} messages not decoded")
nospec = {l["family"] for l in lines if l.get("spec") is False}
for fam in ("devlink", "rt-link") + (("ethtool",) if ethtool else ()):
    if fam in nospec:
        fails.append(f"{fam} shown without its spec")
def has(fam, op, req=True):
    return any(l.get("family") == fam and l.get("op") == op and l.get("request") == req for l in lines)
for fam, op in [("devlink", "get"), ("rt-link", "newlink"), ("rt-link", "dellink")]:
    if not has(fam, op):
        fails.append(f"no {fam} {op} request decoded")
for op in ("linkinfo-get", "features-get"):
    if ethtool and not has("ethtool", op):
        fails.append(f"no ethtool {op} request decoded")
names = [l for l in lines if l.get("family") == "rt-link" and l.get("op") == "newlink" and l.get("request")]
if names and not any(l.get("attrs", {}).get("ifname") == "ftdummy0" for l in names):
    fails.append("rt-link newlink without ifname ftdummy0")
# Every request of those families has a call id its ACK or DONE shares.
calls = collections.defaultdict(list)
for l in lines:
    if "call" in l:
        calls[l["call"]].append(l)
for l in lines:
    if l.get("family") in ("devlink", "rt-link") and l.get("request"):
        if len(calls.get(l.get("call"), [])) < 2:
            fails.append(f"frame {l['frame']}: {l['family']} {l['op']} has no answer in its call")
if not any(l.get("errno") == "EEXIST" and l.get("call_family") == "rt-link" for l in lines):
    fails.append("no rt-link EEXIST error named with its call")
if fails:
    sys.exit("; ".join(fails[:8]))
print(f"    {len(lines)} messages, {len(ops)} operations, all decoded")
PY

step "tshark with the generated dissectors agrees with show --json"
if command -v tshark >/dev/null && [ -n "$specs" ]; then
	"$ft" wireshark print "${specargs[@]}" >$work/any.lua 2>$work/lua.err || bad "wireshark print: $(tail -3 $work/lua.err)"
	HOME=$work tshark -r $res/families.pcapng -X lua_script:$work/any.lua -T json >$work/tshark.json 2>$work/tshark.err ||
		bad "tshark: $(tail -3 $work/tshark.err)"
	$py $root/scripts/vm/tshark-vs-show.py $work/show.jsonl $work/tshark.json ethtool devlink ||
		bad "tshark and flowtrace show --json differ"
else
	echo "    note: no tshark or no kernel specs: not compared"
fi

step "flowtrace stats and stats --failed"
"$ft" stats "${specargs[@]}" $res/families.pcapng >$work/stats.txt 2>&1 || bad "flowtrace stats: $(cat $work/stats.txt)"
sed -n '/^family /,$p' $work/stats.txt | sed 's/^/    /'
"$ft" stats --failed --json "${specargs[@]}" $res/families.pcapng >$work/failed.json 2>$work/err || bad "stats --failed: $(cat $work/err)"
$py - $work/failed.json "${#specargs[@]}" <<'PY' || bad "stats --failed"
import json, sys
j = json.load(open(sys.argv[1]))
for r in j["failed"]:
    print(f"    failed: frame {r['frame']} {r['family']} {r['op']} {r['errno']} {r.get('message', '')}")
for r in j["unanswered"]:
    print(f"    no answer: frame {r['frame']} {r['family']} {r['op']}")
want = ("rt-link", "newlink") if sys.argv[2] != "0" else ("rtnetlink", "type 16")
if not any(r["errno"] == "EEXIST" and (r["family"], r["op"]) == want for r in j["failed"]):
    sys.exit(f"no {want} EEXIST in the failed requests")
PY
if [ -n "$specs" ]; then
	grep -qE "^devlink +get " $work/stats.txt || bad "stats has no devlink get line"
	# add, set (iproute2 sets with RTM_NEWLINK too), add again: at least 3.
	grep -qE "^rt-link +newlink +([3-9]|[1-9][0-9]+) " $work/stats.txt || bad "stats counts fewer than three rt-link newlink requests"
fi

step "processes (pid and command from the netlink ports)"
"$ft" stats --by-process $res/families.pcapng >$work/procs.txt 2>&1 || bad "stats --by-process: $(cat $work/procs.txt)"
sed 's/^/    /' $work/procs.txt | head -8
# Short-lived tools may be gone before /proc is read: a note, not a failure, when none is named.
grep -qE " (ip|devlink|genl|flow-table-ctl) " $work/procs.txt || echo "    note: no tool named by its process"
# A named tool's requests count for it even when sent with nlmsg_pid 0: its call's answers name it.
if grep -qE " (ip|devlink|genl|flow-table-ctl) " $work/procs.txt; then
	awk '$2 ~ /^(ip|devlink|genl|flow-table-ctl)$/ && $4 > 0 { found = 1 } END { exit !found }' $work/procs.txt ||
		bad "stats --by-process: no named tool has a request"
fi

echo "families: $([ $fail = 0 ] && echo PASS || echo FAIL) in $(since "$t0") s"
exit $fail
