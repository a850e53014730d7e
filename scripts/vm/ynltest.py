#!/usr/bin/env python3
"""unft driven by the kernel's own YNL library on our specs (scripts/vm/tests/ynl.sh, in the VM).

    ynltest.py --ynl DIR --specs DIR [--schema FILE] --dev unft0 nolistener
    ynltest.py --ynl DIR --specs DIR [--schema FILE] --dev unft0 listener

`nolistener`: every call is ENOTCONN at once and GET_LISTENER ENOENT. `listener` (a
flow-table-hairpind registered, models/default): every operation of net_flow_nl through
YnlFamily.do()/dump() — the five getters, SET_FLOWS, GET_FLOWS as a dump of many pages and
as a do (one reply, EMSGSIZE past one nest), DEL_FLOWS, a duplicate (EEXIST), UPDATE_FLOWS
(EOPNOTSUPP), a missing attribute (EINVAL with the missing-attribute extended ack, top level
and in the selector's nest) — every one on the same socket, so an answer left queued (the ACK
unft once sent after a dump's NLMSG_DONE) breaks the next; and nfl_hairpin's GET_LISTENER and
SET_LISTENER (EBUSY from a second socket). Prints "ok: …" per step; exit 1 on the first failure.
"""

import argparse
import errno
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import ynl_unft  # noqa: E402

gen_flows = __import__("gen-flows")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ok(what):
    print(f"    ok: {what}", flush=True)


def expect_error(NlError, err, call, *args, text=None):
    try:
        got = call(*args)
    except NlError as e:
        check(e.error == err, f"expected {errno.errorcode[err]}, got {e.error} ({e.nl_msg.extack})")
        if text is not None:
            msg = (e.nl_msg.extack or {}).get("msg", "")
            check(text in msg, f"extack {msg!r} does not say {text!r}")
        return e.nl_msg.extack or {}
    raise AssertionError(f"expected {errno.errorcode[err]}, got an answer: {str(got)[:200]}")


def wire(be_bytes):
    """A libflow-table JSON value (big-endian bytes) as the wire carries it: host order."""
    return int.from_bytes(bytes(be_bytes), "big").to_bytes(len(be_bytes), sys.byteorder)


def ynl_flow(uid, delete=False):
    """gen-flows.py's flow for models/default's table 2, as YNL's dict of spec names."""
    f = gen_flows.flow(uid, delete)["flow"]
    d = {"table": f["table"], "uid": f["uid"], "priority": f["priority"]}
    if delete:
        return d
    d["matches"] = {"field-ref": [
        {"instance": m["field_ref"]["instance"], "header": m["field_ref"]["header"],
         "field": m["field_ref"]["field"], "mask-type": m["field_ref"]["mask_type"],
         "type": m["field_ref"]["type"], "value": wire(m["field_ref"]["value"])} for m in f["matches"]]}
    d["actions"] = {"action": [
        {"uid": a["action"]["uid"], "signature": {"action-arg": [
            {"name": g["action_arg"]["name"], "type": g["action_arg"]["type"], "value": wire(g["action_arg"]["value"])}
            for g in a["action"]["signature"]]}} for a in f["actions"]]}
    return d


def flows_of(rsp):
    """The flows of a get-flows answer: a do's one dict, or a dump's list of pages."""
    pages = rsp if isinstance(rsp, list) else [rsp]
    return [f for p in pages if p for f in (p.get("flows") or {}).get("flow", [])]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ynl", required=True, help="tools/net/ynl of a kernel tree (holds lib/)")
    p.add_argument("--specs", required=True, help="folder of net_flow_nl.yaml and nfl_hairpin.yaml")
    p.add_argument("--schema", default="", help="genetlink-legacy.yaml to validate the specs against")
    p.add_argument("--dev", default="unft0")
    p.add_argument("phase", choices=["nolistener", "listener"])
    a = p.parse_args()
    with open(f"/sys/class/net/{a.dev}/ifindex") as f:
        ifindex = int(f.read())
    api, hp, NlError = ynl_unft.families(a.ynl, a.specs, a.schema)
    ok(f"YNL loaded net_flow_nl and nfl_hairpin from {a.specs}" + (" (schema-checked)" if a.schema else ""))
    pre = {"identifier-type": "ifindex", "identifier": ifindex}

    if a.phase == "nolistener":
        for op in ["get-tables", "get-headers", "get-actions", "get-hdr-graph", "get-table-graph"]:
            expect_error(NlError, errno.ENOTCONN, api.do, op, pre)
        expect_error(NlError, errno.ENOTCONN, api.dump, "get-flows", {**pre, "flows": {"table": 2}})
        expect_error(NlError, errno.ENOTCONN, api.do, "set-flows", {**pre, "flows": {"flow": [ynl_flow(1)]}})
        ok("every call ENOTCONN without a listener (the same socket throughout)")
        expect_error(NlError, errno.ENOENT, hp.do, "get-listener", {})
        ok("get-listener: ENOENT")
        return 0

    # The getters.
    got = {}
    for op, key in [("get-tables", "tables"), ("get-headers", "headers"), ("get-actions", "actions"),
                    ("get-hdr-graph", "header-graph"), ("get-table-graph", "table-graph")]:
        r = api.do(op, pre)
        check(r and r.get("identifier") == ifindex and key in r, f"{op}: {str(r)[:200]}")
        got[key] = r[key]
    tables = got["tables"].get("table", [])
    check(any(t.get("uid") == gen_flows.TABLE for t in tables), f"no table {gen_flows.TABLE} in {tables}")
    ok(f"the five getters ({len(tables)} tables)")

    lst = hp.do("get-listener", {})
    check(lst and lst["listener"].get("port"), f"get-listener: {lst}")
    ok(f"get-listener: port {lst['listener']['port']}")
    _, hp2, _ = ynl_unft.families(a.ynl, a.specs, a.schema)
    expect_error(NlError, errno.EBUSY, hp2.do, "set-listener", {"listener": {"type": "encap"}})
    ok("set-listener from a second socket: EBUSY")

    # set-flows: 800 flows in batches of 200 (one FLOWS nest holds at most 64 KiB).
    n, batch = 800, 200
    for lo in range(1, n + 1, batch):
        r = api.do("set-flows", {**pre, "flows": {"flow": [ynl_flow(u) for u in range(lo, lo + batch)]}})
        check(r is None, f"set-flows answered {str(r)[:200]}")
    ok(f"set-flows: {n} flows in batches of {batch}")
    expect_error(NlError, errno.EEXIST, api.do, "set-flows", {**pre, "flows": {"flow": [ynl_flow(7)]}},
                 text="duplicate")
    ok("set-flows of a present uid: EEXIST")

    # get-flows as a dump: many pages, NLMSG_DONE, no ACK; then more calls on the same socket.
    pages = api.dump("get-flows", {**pre, "flows": {"table": gen_flows.TABLE}})
    flows = flows_of(pages)
    check(len(flows) == n, f"dump: {len(flows)} flows, expected {n}")
    check(len(pages) > 1, f"dump: {len(pages)} page(s), expected many")
    check(sorted(f["uid"] for f in flows) == list(range(1, n + 1)), "dump: not the flows set")
    ok(f"get-flows dump: {n} flows in {len(pages)} pages")
    r = api.do("get-tables", pre)
    check(r and "tables" in r, f"get-tables after the dump: {str(r)[:200]}")
    r = api.do("get-headers", pre)
    check(r and "headers" in r, f"get-headers after that: {str(r)[:200]}")
    ok("two requests on the socket after the dump: answered")

    # get-flows as a do: one reply with the flows of a priority range, then the ACK.
    lo, hi = 1, 40
    want = sorted(u for u in range(1, n + 1) if lo <= gen_flows.flow(u, True)["flow"]["priority"] <= hi)
    r = api.do("get-flows", {**pre, "flows": {"table": gen_flows.TABLE, "minprio": lo, "maxprio": hi}})
    check(isinstance(r, dict), f"a do's get-flows gave {type(r)}: one reply expected")
    check(sorted(f["uid"] for f in flows_of(r)) == want, f"do: {len(flows_of(r))} flows, expected {len(want)}")
    ok(f"get-flows do, priorities {lo}..{hi}: {len(want)} flows in one reply")
    r = api.do("get-actions", pre)
    check(r and "actions" in r, f"get-actions after the do: {str(r)[:200]}")
    ok("a request on the socket after the do: answered")
    expect_error(NlError, errno.EMSGSIZE, api.do, "get-flows", {**pre, "flows": {"table": gen_flows.TABLE}},
                 text="NLM_F_DUMP")
    ok(f"get-flows do of all {n} flows: EMSGSIZE, asking for a dump")

    # A missing attribute: the missing-attribute extended ack, at the top level and in a nest.
    ext = expect_error(NlError, errno.EINVAL, api.do, "get-tables", {"identifier-type": "ifindex"})
    check(ext.get("miss-type") == "identifier" and "miss-nest" not in ext, f"extack {ext}")
    ok(f"get-tables without identifier: EINVAL, miss-type {ext['miss-type']}")
    ext = expect_error(NlError, errno.EINVAL, api.do, "get-flows", {**pre, "flows": {"minprio": 1}})
    # YNL names only top-level types: in a nest the number stays (table-flows' table is 1).
    check(ext.get("miss-type") == 1 and ext.get("miss-nest", 0) > 0, f"extack {ext}")
    ok(f"get-flows selector without table: EINVAL, miss-type 1 in the nest at byte {ext['miss-nest']}")
    # As a dump: the same error and extended ack, on 6.1 too (kmod/README.md, point 3).
    ext = expect_error(NlError, errno.EINVAL, api.dump, "get-flows", {**pre, "flows": {"minprio": 1}},
                       text="required attribute TABLE is missing")
    check(ext.get("miss-type") == 1 and ext.get("miss-nest", 0) > 0, f"dump's extack {ext}")
    ok("get-flows dump, selector without table: EINVAL with its text and miss-type")
    r = api.do("get-tables", pre)
    check(r and "tables" in r, f"get-tables after the failed dump: {str(r)[:200]}")

    expect_error(NlError, errno.EOPNOTSUPP, api.do, "update-flows", {**pre, "flows": {"flow": [ynl_flow(1)]}})
    ok("update-flows: EOPNOTSUPP")

    # del-flows: all of them, then one again (ENOENT), and the table is empty.
    for lo in range(1, n + 1, batch):
        r = api.do("del-flows", {**pre, "flows": {"flow": [ynl_flow(u, True) for u in range(lo, lo + batch)]}})
        check(r is None, f"del-flows answered {str(r)[:200]}")
    expect_error(NlError, errno.ENOENT, api.do, "del-flows", {**pre, "flows": {"flow": [ynl_flow(3, True)]}})
    pages = api.dump("get-flows", {**pre, "flows": {"table": gen_flows.TABLE}})
    check(len(pages) == 1 and flows_of(pages) == [], f"after del-flows: {str(pages)[:200]}")
    ok(f"del-flows: {n} deleted, again ENOENT, the dump gives one empty page")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"ynltest: FAIL: {e}", flush=True)
        sys.exit(1)
