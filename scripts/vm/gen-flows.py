#!/usr/bin/env python3
"""Writes libflow-table JSON flows valid for the default model (models/default), standard
library only, for the kernel tests (scripts/vm/tests/tools.sh):

    gen-flows.py --count N [--first-uid U] [--delete] > flows.json
    gen-flows.py --count N --chunk C --prefix P     writes P0.json, P1.json, … of C flows each

Table 2 (l2_fdb) matches the VLAN id (u16, exact) and the destination MAC (u64, exact) and
allows set_out_port (uid 5, one u32); each flow gets a distinct (vid, MAC) pair and a priority,
so a batch never collides with itself. --delete writes only table and uid (DEL_FLOWS). The
numbers are checked against models/default at start-up, so a changed model fails loudly
instead of producing flows the daemon refuses.
"""

import argparse
import json
import os
import sys

TABLE = 2
VLAN = {"instance": 2, "header": 2, "field": 3}     # vlan.vid, 12 bits, exact u16
DMAC = {"instance": 1, "header": 1, "field": 2}     # ethernet.dst_mac, 48 bits, exact u64
SET_OUT_PORT = 5
EXACT, U16, U32, U64 = 1, 2, 3, 4


def check_model(model_dir):
    tables = json.load(open(os.path.join(model_dir, "tables.json")))["tables"]
    t = next((x["table"] for x in tables if x["table"]["uid"] == TABLE), None)
    if t is None:
        sys.exit(f"gen-flows: the model has no table {TABLE}")
    have = {(m["field_ref"]["instance"], m["field_ref"]["header"], m["field_ref"]["field"],
             m["field_ref"]["mask_type"], m["field_ref"]["type"]) for m in t["matches"]}
    for ref, typ in ((VLAN, U16), (DMAC, U64)):
        if (ref["instance"], ref["header"], ref["field"], EXACT, typ) not in have:
            sys.exit(f"gen-flows: table {TABLE} does not match {ref} exactly as type {typ}")
    if SET_OUT_PORT not in [a["uid"] for a in t["actions"]]:
        sys.exit(f"gen-flows: table {TABLE} does not allow action {SET_OUT_PORT}")
    return t["size"]


def be(value, width):
    return list(value.to_bytes(width, "big"))


def flow(uid, delete):
    f = {"table": TABLE, "uid": uid, "priority": 1 + uid % 1000}
    if delete:
        return {"flow": f}
    vid = 1 + uid % 4000
    mac = 0x020000000000 | uid
    f["matches"] = [
        {"field_ref": dict(VLAN, mask_type=EXACT, type=U16, value=be(vid, 2))},
        {"field_ref": dict(DMAC, mask_type=EXACT, type=U64, value=be(mac, 8))},
    ]
    f["actions"] = [{"action": {"uid": SET_OUT_PORT, "signature": [
        {"action_arg": {"name": "port", "type": U32, "value": be(1 + uid % 48, 4)}}]}}]
    return {"flow": f}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--first-uid", type=int, default=1)
    p.add_argument("--delete", action="store_true")
    p.add_argument("--chunk", type=int, help="flows per file (with --prefix)")
    p.add_argument("--prefix", help="write PREFIX0.json, PREFIX1.json, … instead of stdout")
    p.add_argument("--model", default=os.path.join(here, "../../models/default"))
    a = p.parse_args()
    size = check_model(a.model)
    if a.count < 1 or a.first_uid < 1 or a.first_uid + a.count - 1 > min(size, 0x7fffffff):
        sys.exit(f"gen-flows: uids {a.first_uid}..{a.first_uid + a.count - 1} do not fit table {TABLE} (size {size})")
    flows = [flow(u, a.delete) for u in range(a.first_uid, a.first_uid + a.count)]
    if a.prefix:
        chunk = a.chunk if a.chunk and a.chunk > 0 else len(flows)
        for k in range(0, len(flows), chunk):
            with open(f"{a.prefix}{k // chunk}.json", "w") as f:
                json.dump({"flows": flows[k:k + chunk]}, f)
        return
    json.dump({"flows": flows}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
