#!/usr/bin/env python3
"""tshark with FlowTrace's generated dissectors against `flowtrace show --json`, field by field.

usage: tshark-vs-show.py [--spec-dir DIR]... SHOW_JSONL TSHARK_JSON FAMILY...

SHOW_JSONL is `flowtrace show --json` of a capture, TSHARK_JSON `tshark -T json` of the same file
with the plugin `flowtrace wireshark print` wrote. For every message of the named families that
show decoded, each attribute value show gives (integers and strings, at any depth) must be a
field tshark shows in the same frame, named <family>.[<set>.]<attribute> with '-' as '_', with the
same value (a binary value in hex); and tshark must show no attribute value of those families that
show does not.

Flags and enums are read from each family's YNL spec (<family>.yaml, or the file whose `name:` is
the family, in the --spec-dir folders), as the dissector's fields come from them: show names an
enum value and the set bits of a flags value, tshark gives numbers. So an enum value is compared
by its number, a flags value by its word (the OR of the named bits), and tshark's one field per
bit of a flags attribute (<attribute field>.<bit name>) is checked against that word and then left
out. Without a spec for a family, its values are compared as they are.
Exit 0 when they agree, 1 with the first differences listed.
"""
import glob
import json
import os
import sys

# Header and framing fields of the dissector, not attribute values.
FRAMING = {"cmd", "version", "reserved", "len", "type", "nested"}


def c_lower(name):
    return name.lower().replace("-", "_")


class Spec:
    """A family's enums and which attributes use them, from its YNL spec (YNL's own semantics,
    tools/net/ynl/lib/nlspec.py: a flags entry's value is its bit number)."""

    def __init__(self, y):
        self.enums = {}          # enum name -> ({entry name: value}, is_flags)
        for d in y.get("definitions", []) or []:
            if d.get("type") not in ("enum", "flags"):
                continue
            value, entries = d.get("value-start", 0), {}
            for e in d.get("entries", []) or []:
                name = e if isinstance(e, str) else e["name"]
                if isinstance(e, dict) and "value" in e:
                    value = e["value"]
                entries[c_lower(name)] = value
                value += 1
            self.enums[d["name"]] = (entries, d["type"] == "flags")
        # Attributes by "<set>.<attr>" and by "<attr>" (the dissector drops the top set's name;
        # show names an attribute without its set): each a list of (as_flags, {entry: value}).
        self.attrs = {}
        for s in y.get("attribute-sets", []) or []:
            for a in s.get("attributes", []) or []:
                if "enum" not in a or a["enum"] not in self.enums:
                    continue
                entries, is_flags = self.enums[a["enum"]]
                as_flags = is_flags or bool(a.get("enum-as-flags"))
                values = {k: (1 << v if as_flags else v) for k, v in entries.items()}
                for key in (c_lower(s["name"]) + "." + c_lower(a["name"]), c_lower(a["name"])):
                    self.attrs.setdefault(key, []).append((as_flags, values))

    def flags_word(self, attr, names):
        """The word show's list of set bits stands for, or None when attr is no flags attribute."""
        for as_flags, values in self.attrs.get(attr, []):
            if as_flags and all(n in values for n in names):
                word = 0
                for n in names:
                    word |= values[n]
                return word
        return None

    def enum_value(self, attr, name):
        for as_flags, values in self.attrs.get(attr, []):
            if not as_flags and name in values:
                return values[name]
        return None

    def flags_attr(self, rest):
        """The bits of the flags attribute a tshark field (without the family) names, or None."""
        for as_flags, values in self.attrs.get(rest, []):
            if as_flags:
                return values
        return None


def load_specs(dirs, families):
    import yaml
    specs = {}
    for fam in families:
        paths = [os.path.join(d, f) for d in dirs for f in (fam + ".yaml", fam.replace("-", "_") + ".yaml")]
        paths += [p for d in dirs for p in sorted(glob.glob(os.path.join(d, "*.yaml")))]
        for p in paths:
            if not os.path.isfile(p):
                continue
            with open(p) as f:
                y = yaml.safe_load(f)
            if isinstance(y, dict) and y.get("name") == fam:
                specs[fam] = Spec(y)
                break
    return specs


def leaves(obj, out, spec, key=None):
    """(attribute name, value) of every integer and string show gives, at any depth: an enum by
    its number, a flags attribute (show's list of the names of its set bits, [] for none) by its
    word; the items of a multi-attr list each under the list's name."""
    if isinstance(obj, dict):
        # An attribute the spec does not define: its payload, as the dissector's attr.unknown.
        if obj.get("spec") is False and "hex" in obj:
            out.append(("unknown", obj["hex"]))
            return
        for k, v in obj.items():
            k = c_lower(k)
            if isinstance(v, list) and all(isinstance(x, str) for x in v) and spec:
                word = spec.flags_word(k, [c_lower(x) for x in v])
                if word is not None:
                    out.append((k, str(word)))
                    continue
            leaves(v, out, spec, k)
    elif isinstance(obj, list):
        for x in obj:
            leaves(x, out, spec, key)
    elif isinstance(obj, bool) or key is None:
        return
    elif isinstance(obj, str) and spec and spec.enum_value(key, c_lower(obj)) is not None:
        out.append((key, str(spec.enum_value(key, c_lower(obj)))))
    elif isinstance(obj, (int, str)):
        out.append((key, str(obj)))


class Pairs(list):
    """A JSON object as its list of (key, value) pairs, duplicates kept."""
    def get(self, key, default=None):
        return next((v for k, v in self if k == key), default)


def tshark_fields(obj, family, spec, out, problems, words):
    """(attribute name, value) of every attribute field of family in obj; a flags word as its
    number, its per-bit fields checked against it (problems) and left out."""
    prefix = c_lower(family) + "."
    if isinstance(obj, Pairs):
        for k, v in obj:
            if isinstance(v, list):
                tshark_fields(v, family, spec, out, problems, words)
                continue
            if not k.startswith(prefix) or k.split(".")[-1] in FRAMING or "_tree" in k:
                continue
            rest = k[len(prefix):]
            if rest == "unknown_attr":  # the expert info on an attribute not in the spec
                continue
            value = str(v)
            head, _, bit = rest.rpartition(".")
            bits = spec.flags_attr(head) if spec and head else None
            if bits is not None and bit in bits:
                if head not in words:
                    problems.append(f"{k} shown without its flags word")
                elif (words[head] & bits[bit] != 0) != (value == "1"):
                    problems.append(f"{k} is {value}, its word {words[head]:#x}")
                continue
            if spec and spec.flags_attr(rest) is not None:
                words[rest] = int(value, 0)
                out.append((rest.split(".")[-1], str(words[rest])))
                continue
            # Binary values: tshark separates the bytes with ':', show does not.
            if len(value) > 2 and all(c in "0123456789abcdef:" for c in value) and ":" in value:
                value = value.replace(":", "")
            # An attribute not in the spec: the dissector shows it whole, show its payload.
            if rest == "attr.unknown":
                value = value[8:]
            out.append((rest.split(".")[-1], value))
    elif isinstance(obj, list):
        for x in obj:
            tshark_fields(x, family, spec, out, problems, words)


def main():
    args, dirs = sys.argv[1:], []
    while len(args) >= 2 and args[0] == "--spec-dir":
        dirs.append(args[1])
        args = args[2:]
    if len(args) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    families = set(args[2:])
    specs = load_specs(dirs, families) if dirs else {}
    for fam in sorted(families - set(specs)):
        print(f"    note: no spec for {fam}: its flags and enums compared as they are")
    show = {}
    with open(args[0]) as f:
        for line in f:
            j = json.loads(line)
            if j.get("family") in families and "attrs" in j:
                show[j["frame"]] = j
    # tshark -T json repeats a key for a field shown several times in one tree: keep them all.
    with open(args[1]) as f:
        packets = json.load(f, object_pairs_hook=Pairs)
    frames = {}
    for p in packets:
        layers = p.get("_source").get("layers")
        frames[int(layers.get("frame").get("frame.number"))] = layers
    problems, fields = [], 0
    for frame, j in sorted(show.items()):
        spec = specs.get(j["family"])
        want, got, bad_bits = [], [], []
        leaves(j["attrs"], want, spec)
        tshark_fields(frames.get(frame, Pairs()), j["family"], spec, got, bad_bits, {})
        fields += len(want)
        if sorted(want) != sorted(got) or bad_bits:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            problems.append(f"frame {frame} ({j['family']} {j['op']}): show only {missing}, tshark only {extra}"
                            + (f"; {'; '.join(bad_bits[:3])}" if bad_bits else ""))
    if not show:
        problems.append(f"no message of {sorted(families)} decoded by show")
    for p in problems[:10]:
        print("    " + p)
    print(f"    {len(show)} messages, {fields} attribute values compared, {len(problems)} differing")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
