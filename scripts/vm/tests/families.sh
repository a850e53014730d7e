#!/bin/bash
# Every netlink family from its YNL spec (issue 16), in the VM: `flowtrace capture` on nlmon0
# keeps every family while real tools drive the kernel, and the trace reads back named:
#   * devlink: `devlink dev show` (a dump, whatever devices there are) and, with netdevsim (below),
#     on a netdevsim device made during the capture: `devlink dev show DEV`, `devlink port show`,
#     a port split and unsplit (netdevsim's ports have no split operation: both EOPNOTSUPP, an
#     error of each kind for stats --failed), `devlink dev param show/set` (max_macs, driverinit);
#   * ethtool (`ethtool DEV`, `ethtool -k DEV`, and `ethtool -i DEV`, an ioctl, checked for the
#     driver's name) on the netdevsim netdev, else on a dummy device, when the host has the binary;
#   * netdev (with netdevsim): a `dev-get` dump through the kernel's YNL Python library on the
#     kernel's netdev.yaml, which must list the netdevsim netdev;
#   * rtnetlink (`ip link add/set/del` of a dummy device, added twice: EEXIST), nlctrl
#     (`genl ctrl list`), and our own net_flow_nl (unft);
#   * the file names every generic family on its own (NEWFAMILY records), so `flowtrace show`
#     decodes every message of those families with operation and attribute names and no decode
#     error, every request of them has an answer in its call, and `flowtrace stats --json` counts
#     the requests of each family and operation exactly as show lists them; `stats --failed`
#     lists the EEXIST (and the port split's and unsplit's EOPNOTSUPP).
#   * tshark with the dissectors `flowtrace wireshark print` generates shows every ethtool,
#     devlink (and netdev) attribute value `flowtrace show --json` gives, and no other
#     (tshark-vs-show.py, flags and enums read from the specs).
# netdevsim: Debian's kernels do not ship it; scripts/vm/run.sh builds it from the kernel source
# scripts/install-deps.sh unpacks (res/netdevsim/netdevsim.ko) when that source is this kernel's
# version (6.12), and writes res/netdevsim.note why not otherwise: then the devlink, ethtool and
# netdev parts run as without it (a dump on no device, ethtool on the dummy device, no netdev), and
# the closing lines say which parts ran.
# The kernel's specs come from scripts/install-deps.sh --specs (the host's cache, found below or
# named by VMTEST_SPECS); without them the names checks are skipped with a note. VMTEST_YNL
# (run.sh) is YNL's tools/net/ynl.
set -u
root=${VMTEST_ROOT:?VMTEST_ROOT is not set}
bin=${VMTEST_BIN:-$root/.build/debug}   # naming VMTEST_BIN: run.sh builds the tools
. "$root/scripts/vm/lib.sh"
vm_test families
ran=(); skipped=()
nsim=0; nsim_dev=netdevsim/netdevsim1; ndev=""
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip link del ftdummy0 2>/dev/null
	[ -e /sys/bus/netdevsim/devices/netdevsim1 ] && echo 1 >/sys/bus/netdevsim/del_device
	[ -d /sys/module/netdevsim ] && rmmod netdevsim
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

step "netdevsim"
nsim_ko=$res/netdevsim/netdevsim.ko
if [ -f "$nsim_ko" ]; then
	for m in $(modinfo -F depends "$nsim_ko" | tr , ' '); do modprobe "$m" || bad "modprobe $m (netdevsim needs it)"; done
	if insmod "$nsim_ko" 2>$work/err; then
		nsim=1; ok "netdevsim.ko loaded ($(modinfo -F vermagic "$nsim_ko" | cut -d' ' -f1))"
	else
		bad "insmod netdevsim.ko: $(cat $work/err)"
	fi
else
	echo "    note: $(cat $res/netdevsim.note 2>/dev/null || echo "no netdevsim.ko (scripts/vm/run.sh)"): devlink without a device, ethtool on a dummy device, no netdev family"
	skipped+=("netdevsim (devlink device, ports, params; ethtool on netdevsim; netdev)")
fi

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
if [ $nsim = 1 ]; then
	# Made once the capture runs, as a user would; no socket listens for its notifications here,
	# so none reaches nlmon.
	echo "1 2" >/sys/bus/netdevsim/new_device || bad "new_device"
	ndev=$(ls /sys/bus/netdevsim/devices/netdevsim1/net/ 2>/dev/null | head -1)
	[ -n "$ndev" ] && ok "netdevsim device $nsim_dev, netdev $ndev (ifindex $(cat /sys/class/net/$ndev/ifindex))" ||
		bad "netdevsim1 has no netdev"
fi
devlink dev show >$work/devlink.out 2>&1 || echo "    note: devlink dev show: $(cat $work/devlink.out)"
if [ $nsim = 1 ]; then
	grep -qx "$nsim_dev" $work/devlink.out || bad "devlink dev show does not list $nsim_dev: $(cat $work/devlink.out)"
	devlink dev show $nsim_dev >/dev/null 2>&1 || bad "devlink dev show $nsim_dev"
	devlink port show >$work/ports.out 2>&1 || bad "devlink port show: $(cat $work/ports.out)"
	grep -q "^$nsim_dev/0: .*netdev $ndev" $work/ports.out || bad "devlink port show has no $nsim_dev/0 with netdev $ndev: $(cat $work/ports.out)"
	devlink port show $nsim_dev/1 >/dev/null 2>&1 || bad "devlink port show $nsim_dev/1"
	# netdevsim's ports have no split operation: devlink answers EOPNOTSUPP to both.
	expect_fail "devlink port split" "Operation not supported" "" devlink port split $nsim_dev/0 count 2
	expect_fail "devlink port unsplit" "Operation not supported" "" devlink port unsplit $nsim_dev/0
	devlink dev param show $nsim_dev name max_macs >$work/param.out 2>&1 || bad "devlink dev param show: $(cat $work/param.out)"
	devlink dev param set $nsim_dev name max_macs value 16 cmode driverinit 2>$work/err || bad "devlink dev param set: $(cat $work/err)"
	devlink dev param show $nsim_dev name max_macs >$work/param2.out 2>&1
	grep -q "cmode driverinit value 16" $work/param2.out && ok "param max_macs: $(grep -o 'value [0-9]*' $work/param.out) then 16" ||
		bad "param max_macs not 16 after set: $(cat $work/param2.out)"
	ran+=("devlink on netdevsim (dev show dump+do, port show, port split/unsplit EOPNOTSUPP, param show/set)")
else
	ran+=("devlink dev show (a dump: no device)")
fi
ip link add ftdummy0 type dummy || bad "ip link add dummy"
ip link set ftdummy0 mtu 1400 up || bad "ip link set"
# ethtool's link settings and features go over its netlink family (-i is an ioctl in ethtool 6.1).
ethdev=${ndev:-ftdummy0}
if command -v ethtool >/dev/null; then
	ethtool $ethdev >/dev/null 2>&1; ethtool -k $ethdev >$work/features.out 2>&1 || bad "ethtool -k $ethdev: $(cat $work/features.out)"
	ethtool -i $ethdev >$work/drvinfo.out 2>&1 || bad "ethtool -i $ethdev: $(cat $work/drvinfo.out)"
	if [ $nsim = 1 ]; then
		grep -qx "driver: netdevsim" $work/drvinfo.out || bad "ethtool -i $ethdev: not netdevsim: $(cat $work/drvinfo.out)"
	fi
	ethtool_ran=1; ran+=("ethtool on $ethdev ($([ $nsim = 1 ] && echo netdevsim || echo dummy))")
else ethtool_ran=0; echo "    note: no ethtool binary"; skipped+=("ethtool (no binary)"); fi
netdev_ran=0
if [ $nsim = 1 ] && [ -n "$specs" ] && [ -f "${VMTEST_YNL:-}/lib/ynl.py" ]; then
	# The kernel's own client on the kernel's spec: a dev-get dump, which lists the netdevsim netdev.
	if $py - "$root/scripts/vm" "$VMTEST_YNL" "$specs/netdev.yaml" "$(cat /sys/class/net/$ndev/ifindex)" \
		>$work/netdev.out 2>&1 <<'PY'; then
import sys
sys.path.insert(0, sys.argv[1])
import ynl_unft
devs = ynl_unft.family(sys.argv[2], sys.argv[3]).dump("dev-get", {})
mine = [d for d in devs if d.get("ifindex") == int(sys.argv[4])]
print(f"{len(devs)} netdevs; netdevsim's: {mine}")
sys.exit(0 if mine else "dev-get did not list the netdevsim netdev")
PY
		netdev_ran=1; ok "netdev dev-get (YNL): $(cat $work/netdev.out)"; ran+=("netdev dev-get dump (YNL)")
	else
		bad "netdev dev-get through YNL: $(tail -3 $work/netdev.out)"
	fi
elif [ $nsim = 1 ]; then
	echo "    note: no kernel specs or no YNL (VMTEST_YNL): netdev not driven"; skipped+=("netdev (no specs or YNL)")
fi
ip link add ftdummy0 type dummy 2>$work/eexist.err && bad "adding ftdummy0 twice succeeded"
ip link del ftdummy0 || bad "ip link del"
ran+=("rt-link (dummy add, set, add again EEXIST, del)")
genl ctrl list >/dev/null 2>&1 || echo "    note: genl ctrl list failed"
ip link add unft0 type unft 2>/dev/null && { "$ctl" get-tables unft0 >/dev/null 2>&1; ip link del unft0; }
[ $nsim = 1 ] && { echo 1 >/sys/bus/netdevsim/del_device || bad "del_device"; }
sleep 0.3
kill -INT $cap; wait $cap || bad "capture exited with $?"
sed 's/^/    /' $work/capture.log
grep -q "other [1-9]" $work/capture.log || bad "the capture kept no other family"
if [ $nsim = 1 ]; then
	rmmod netdevsim 2>$work/err && ok "netdevsim unloaded" || bad "rmmod netdevsim: $(cat $work/err)"
fi

step "flowtrace show names them"
# Kept in the result folder (VMTEST_KEEP=1 keeps them on the host) for reading a failure.
"$ft" show --json "${specargs[@]}" $res/families.pcapng >$res/families-show.jsonl 2>$work/err || bad "flowtrace show: $(cat $work/err)"
"$ft" show -V "${specargs[@]}" $res/families.pcapng >$res/families-show.txt 2>&1 || bad "flowtrace show -V"
$py - $res/families-show.jsonl "${#specargs[@]}" $ethtool_ran $nsim $netdev_ran "$ndev" "$ethdev" "$specs" <<'PY' || bad "the capture's contents"
import json, os, re, sys, collections
lines = [json.loads(l) for l in open(sys.argv[1])]
have_specs = sys.argv[2] != "0"
ethtool, nsim, netdev = (a == "1" for a in sys.argv[3:6])
ndev, ethdev, specdir = sys.argv[6], sys.argv[7], sys.argv[8]
ops = collections.Counter((l.get("family"), l.get("op"), l.get("direction")) for l in lines if "family" in l)
for k, v in sorted(ops.items(), key=str):
    print(f"    {v:5d} {k}")
if not have_specs:
    print("    (no kernel specs: names not checked)")
    sys.exit(0)

def spec_attr_numbers(family):
    """The attribute numbers of the sets a family's operations use, from its kernel spec."""
    import yaml
    y = yaml.safe_load(open(os.path.join(specdir, family.replace("-", "_") + ".yaml")))
    used = {o.get("attribute-set") for o in y.get("operations", {}).get("list", [])}
    numbers = set()
    for s in y.get("attribute-sets", []):
        if s["name"] not in used or "subset-of" in s:
            continue
        n = 1
        for a in s.get("attributes", []):
            n = a.get("value", n)
            numbers.add(n)
            n += 1
    return numbers

# An attribute number a kernel spec does not define at all (6.12's devlink.yaml leaves out
# PARAM_VALUES_LIST, PARAM_VALUE and PARAM_VALUE_DATA, 84-86: "TODO: fill in the attributes in
# between") is decoded around and shown by number with its bytes, listed in undefined_attrs.
# Such a number must really be missing from the spec; any decode error fails.
fails, gaps = [], collections.Counter()
numbers = {}
def undefined_objects(obj, out):
    """The values show gives undefined attributes: {type, len, hex, spec: false}, at any depth."""
    if isinstance(obj, dict):
        if obj.get("spec") is False and "type" in obj and "hex" in obj:
            out.append(obj["type"])
        for v in obj.values():
            undefined_objects(v, out)
    elif isinstance(obj, list):
        for x in obj:
            undefined_objects(x, out)
for l in lines:
    if "decode_error" in l:
        fails.append(f"frame {l['frame']}: {l.get('family')} {l.get('op')}: {l['decode_error']}")
    fam = l.get("family")
    paths = l.get("undefined_attrs", [])
    shown = []
    undefined_objects(l.get("attrs", {}), shown)
    if sorted(int(p.split(".")[-1]) for p in paths) != sorted(shown):
        fails.append(f"frame {l['frame']}: undefined_attrs {paths}, attrs show {shown} by number")
    if paths and fam not in numbers:
        try:
            numbers[fam] = spec_attr_numbers(fam)
        except OSError:
            numbers[fam] = None
    for p in paths:
        n = int(p.split(".")[-1])
        if numbers.get(fam) is not None and n in numbers[fam]:
            fails.append(f"frame {l['frame']}: {fam} {l.get('op')}: attribute {p} shown as undefined, the spec has {n}")
        gaps[(fam, l.get("op"), p)] += 1
for (fam, op, p), c in sorted(gaps.items()):
    print(f"    note: {c} {fam} {op} message(s) carry attribute {p}, which the kernel's {fam} spec does not define: shown by number")
driven = ["devlink", "rt-link"] + (["ethtool"] if ethtool else []) + (["netdev"] if netdev else [])
nospec = {l["family"] for l in lines if l.get("spec") is False}
for fam in driven:
    if fam in nospec:
        fails.append(f"{fam} shown without its spec")
def msgs(fam, op, req=True):
    return [l for l in lines if l.get("family") == fam and l.get("op") == op and l.get("request") == req]
def requests(fam, op):
    return [l for l in lines if l.get("family") == fam and l.get("op") == op and l.get("direction") == "to_kernel"]
want = [("devlink", "get"), ("rt-link", "newlink"), ("rt-link", "dellink")]
if ethtool:
    want += [("ethtool", "linkinfo-get"), ("ethtool", "features-get")]
if nsim:
    want += [("devlink", "port-get"), ("devlink", "port-split"), ("devlink", "port-unsplit"),
             ("devlink", "param-get")]
if netdev:
    want += [("netdev", "dev-get")]
for fam, op in want:
    if not msgs(fam, op):
        fails.append(f"no {fam} {op} request decoded")
names = msgs("rt-link", "newlink")
if names and not any(l.get("attrs", {}).get("ifname") == "ftdummy0" for l in names):
    fails.append("rt-link newlink without ifname ftdummy0")
# The values the tools asked for and the kernel gave, by attribute name.
def any_attrs(fam, op, req, pred):
    return any(pred(l.get("attrs", {})) for l in msgs(fam, op, req))
acks = {l.get("call"): l.get("status") for l in lines if l.get("kind") == "ack" and "call" in l}
if nsim:
    if not any_attrs("devlink", "get", False, lambda a: a.get("bus-name") == "netdevsim" and a.get("dev-name") == "netdevsim1"):
        fails.append("no devlink get reply names netdevsim/netdevsim1")
    if not any_attrs("devlink", "port-get", False, lambda a: a.get("port-index") == 0 and a.get("port-netdev-name") == ndev):
        fails.append(f"no devlink port-get reply of port 0 with netdev {ndev}")
    if not any_attrs("devlink", "param-get", True, lambda a: a.get("param-name") == "max_macs"):
        fails.append("no devlink param-get request of max_macs")
    # The values the spec cannot name: the reply's PARAM_VALUES_LIST (84) inside param, the
    # request's PARAM_VALUE_DATA (86), each by number.
    if not any_attrs("devlink", "param-get", False,
                    lambda a: a.get("param", {}).get("param-name") == "max_macs"
                    and a["param"].get("UnknownAttr(84)", {}).get("type") == 84):
        fails.append("no devlink param-get reply of max_macs with attribute 84 shown by number")
    if not any(acks.get(l.get("call")) == 0 and l.get("attrs", {}).get("param-name") == "max_macs"
               and "86" in l.get("undefined_attrs", []) for l in requests("devlink", "param-set")):
        fails.append("no devlink param-set request of max_macs with attribute 86, acknowledged with status 0")
if netdev and not any_attrs("netdev", "dev-get", False, lambda a: a.get("ifindex") and a.get("xdp-features") == ["hw-offload"]):
    fails.append("no netdev dev-get reply with netdevsim's xdp-features [hw-offload]")
if ethtool and not any_attrs("ethtool", "features-get", False, lambda a: a.get("header", {}).get("dev-name") == ethdev):
    fails.append(f"no ethtool features-get reply for {ethdev}")
# Every request of those families has a call id its answer shares.
calls = collections.defaultdict(list)
for l in lines:
    if "call" in l:
        calls[l["call"]].append(l)
for l in lines:
    if l.get("family") in driven and l.get("direction") == "to_kernel":
        if len(calls.get(l.get("call"), [])) < 2:
            fails.append(f"frame {l['frame']}: {l['family']} {l.get('op')} has no answer in its call")
if not any(l.get("errno") == "EEXIST" and l.get("call_family") == "rt-link" for l in lines):
    fails.append("no rt-link EEXIST error named with its call")
if fails:
    sys.exit("; ".join(fails[:8]))
print(f"    {len(lines)} messages, {len(ops)} operations, all decoded"
      + (f" ({sum(gaps.values())} attributes the spec does not define shown by number)" if gaps else "")
      + f"; checked: {', '.join(driven)}")
PY

step "tshark with the generated dissectors agrees with show --json"
if command -v tshark >/dev/null && [ -n "$specs" ]; then
	"$ft" wireshark print "${specargs[@]}" >$work/any.lua 2>$work/lua.err || bad "wireshark print: $(tail -3 $work/lua.err)"
	HOME=$work tshark -r $res/families.pcapng -X lua_script:$work/any.lua -T json >$res/families-tshark.json 2>$work/tshark.err ||
		bad "tshark: $(tail -3 $work/tshark.err)"
	$py $root/scripts/vm/tshark-vs-show.py --spec-dir "$root/spec" --spec-dir "$specs" $res/families-show.jsonl \
		$res/families-tshark.json ethtool devlink $([ $netdev_ran = 1 ] && echo netdev) ||
		bad "tshark and flowtrace show --json differ"
	ran+=("tshark vs show --json on ethtool devlink$([ $netdev_ran = 1 ] && echo " netdev")")
else
	echo "    note: no tshark or no kernel specs: not compared"; skipped+=("tshark comparison (no tshark or specs)")
fi

step "flowtrace stats and stats --failed"
"$ft" stats --json "${specargs[@]}" $res/families.pcapng >$res/families-stats.json 2>$work/err || bad "stats --json: $(cat $work/err)"
"$ft" stats --failed --json "${specargs[@]}" $res/families.pcapng >$work/failed.json 2>$work/err || bad "stats --failed: $(cat $work/err)"
$py - $work/failed.json $res/families-stats.json $res/families-show.jsonl "${#specargs[@]}" $nsim <<'PY' || bad "stats"
import collections, json, sys
j = json.load(open(sys.argv[1]))
have_specs, nsim = sys.argv[4] != "0", sys.argv[5] == "1"
rows = json.load(open(sys.argv[2])).get("families", [])
print(f"    {'family':<12} {'operation':<18} {'requests':>8} {'answers':>8} errors")
for r in rows:
    errs = ", ".join(f"{e['errno']} x{e['count']}" for e in r["errors"])
    print(f"    {r['family']:<12} {r['op']:<18} {r['requests']:>8} {r['answers']:>8} {errs}")
for r in j["failed"]:
    print(f"    failed: frame {r['frame']} {r['family']} {r['op']} {r['errno']} {r.get('message', '')}")
for r in j["unanswered"]:
    print(f"    no answer: frame {r['frame']} {r['family']} {r['op']}")
fails = []
want = [("rt-link", "newlink", "EEXIST") if have_specs else ("rtnetlink", "type 16", "EEXIST")]
if nsim and have_specs:
    want += [("devlink", "port-split", "EOPNOTSUPP"), ("devlink", "port-unsplit", "EOPNOTSUPP")]
for fam, op, errno in want:
    if not any(r["errno"] == errno and (r["family"], r["op"]) == (fam, op) for r in j["failed"]):
        fails.append(f"no {fam} {op} {errno} in the failed requests")
if have_specs:
    # stats counts each request under the family and operation show names it by (a request show
    # could not decode for a spec's gap too), no more, no less.
    fams = {"devlink", "rt-link", "ethtool", "netdev"}
    shown = collections.Counter((l["family"], l["op"]) for l in map(json.loads, open(sys.argv[3]))
                                if l.get("family") in fams and l.get("direction") == "to_kernel" and "op" in l)
    counted = collections.Counter()
    for r in rows:
        if r["family"] in fams:
            counted[(r["family"], r["op"])] += r["requests"]
    for k in sorted(set(shown) | set(counted)):
        if shown[k] != counted[k]:
            fails.append(f"{k[0]} {k[1]}: stats counts {counted[k]} requests, show lists {shown[k]}")
    print(f"    stats counts {sum(counted.values())} requests of {len(counted)} operations of {', '.join(sorted(fams))}"
          " as show lists them")
    # The messages with attributes their spec does not define, per family and operation, as show
    # marks them (so the counts do not read as clean); no message stats cannot decode.
    stats = json.load(open(sys.argv[2]))
    marked = collections.Counter((l["family"], l["op"]) for l in map(json.loads, open(sys.argv[3]))
                                 if l.get("undefined_attrs"))
    undefined = {(r["family"], r["op"]): r["messages"] for r in stats.get("undefined_attrs", [])}
    if dict(marked) != undefined:
        fails.append(f"stats undefined_attrs {undefined}, show marks {dict(marked)}")
    for r in stats.get("decode_errors", []):
        fails.append(f"stats: {r['messages']} {r['family']} {r['op']} message(s) not decoded: {r['first_error']}")
    if nsim and not any(f == "devlink" for f, _ in undefined):
        fails.append("stats counts no devlink message with an undefined attribute")
    for (f, o), n in sorted(undefined.items()):
        print(f"    stats: {n} {f} {o} message(s) with attributes the spec does not define")
    if counted[("devlink", "get")] < 1:
        fails.append("stats has no devlink get request")
    # add, set (iproute2 sets with RTM_NEWLINK too), add again: at least 3.
    if counted[("rt-link", "newlink")] < 3:
        fails.append("stats counts fewer than three rt-link newlink requests")
if fails:
    sys.exit("; ".join(fails[:8]))
PY

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

for p in "${ran[@]}"; do echo "families: ran: $p"; done
# run-all.sh repeats metrics under the test's line: whether the netdevsim parts ran shows there.
echo "VMTEST METRIC families_netdevsim $nsim"
for p in "${skipped[@]}"; do echo "families: not run: $p"; done
echo "families: $([ $fail = 0 ] && echo PASS || echo FAIL) in $(since "$t0") s"
exit $fail
