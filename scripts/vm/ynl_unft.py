"""The kernel's YNL library (tools/net/ynl/lib, Python) on FlowTrace's specs (spec/*.yaml): the
one place the VM tests load it. Standard library plus what YNL itself needs (PyYAML; jsonschema
when a schema is given).

    api, hairpin, NlError = ynl_unft.families(ynl_dir, spec_dir, schema)
    netdev = ynl_unft.family(ynl_dir, "<specs>/netdev.yaml")     # any other family, as it is

`ynl_dir` holds YNL's `lib/` (tools/net/ynl of a kernel source tree); `schema` is
Documentation/netlink/genetlink-legacy.yaml of the same tree, or "" to skip the validation.

The one thing YNL cannot express is the FLOWS attribute's second layout (spec/README.md, "The
FLOWS selector with YNL clients"): the spec declares the list of flows, and `UnftYnl` encodes
a get-flows selector ({"table": T, "minprio": A, "maxprio": B}: a `flows` without "flow") in
the table-flows set.
"""

import os
import struct
import sys


def _lib(ynl_dir):
    if ynl_dir not in sys.path:
        sys.path.insert(0, ynl_dir)
    import lib
    return lib


def family(ynl_dir, spec_path, schema=""):
    """A family of the kernel's own specs (e.g. netdev.yaml), with YNL's plain encoding."""
    return _lib(ynl_dir).YnlFamily(spec_path, schema)


def families(ynl_dir, spec_dir, schema=""):
    lib = _lib(ynl_dir)
    Netlink, NlError, YnlFamily = lib.Netlink, lib.NlError, lib.YnlFamily

    class UnftYnl(YnlFamily):
        def _add_attr(self, space, name, value, search_attrs):
            if space == "nfl-attrs" and name == "flows" and isinstance(value, dict) and value and "flow" not in value:
                inner = b"".join(super(UnftYnl, self)._add_attr("table-flows", k, v, None) for k, v in value.items())
                kind = self.attr_sets["nfl-attrs"]["flows"].value | Netlink.NLA_F_NESTED
                return struct.pack("HH", 4 + len(inner), kind) + inner    # u32s: aligned already
            return super()._add_attr(space, name, value, search_attrs)

    api = UnftYnl(os.path.join(spec_dir, "net_flow_nl.yaml"), schema)
    hairpin = YnlFamily(os.path.join(spec_dir, "nfl_hairpin.yaml"), schema)
    return api, hairpin, NlError
