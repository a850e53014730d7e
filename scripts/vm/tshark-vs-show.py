#!/usr/bin/env python3
"""tshark with FlowTrace's generated dissectors against `flowtrace show --json`, field by field.

usage: tshark-vs-show.py SHOW_JSONL TSHARK_JSON FAMILY...

SHOW_JSONL is `flowtrace show --json` of a capture, TSHARK_JSON `tshark -T json` of the same file
with the plugin `flowtrace wireshark print` wrote. For every message of the named families that
show decoded, each attribute value show gives (integers and strings, at any depth) must be a
field tshark shows in the same frame, named <family>.[<set>.]<attribute> with '-' as '_', with the
same value (a flags attribute by the names of its set bits, a binary value in hex); and tshark must show no attribute value of those families that show does not.
Exit 0 when they agree, 1 with the first differences listed.
"""
import json
import sys

# Header and framing fields of the dissector, not attribute values.
FRAMING = {"cmd", "version", "reserved", "len", "type", "nested"}


def leaves(obj, out, flags):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                # A flags attribute: show names the bits that are set; tshark shows the word and
                # one field per bit, so the set bits are compared and the word is left out.
                flags.add(k.replace("-", "_"))
                out.extend((x.replace("-", "_"), "1") for x in v)
            elif isinstance(v, (dict, list)):
                leaves(v, out, flags)
            elif isinstance(v, bool):
                continue
            elif isinstance(v, (int, str)):
                out.append((k.replace("-", "_"), str(v)))
    elif isinstance(obj, list):
        for x in obj:
            leaves(x, out, flags)


class Pairs(list):
    """A JSON object as its list of (key, value) pairs, duplicates kept."""
    def get(self, key, default=None):
        return next((v for k, v in self if k == key), default)


def tshark_fields(obj, family, out):
    if isinstance(obj, Pairs):
        for k, v in obj:
            if isinstance(v, list):
                tshark_fields(v, family, out)
            elif k.startswith(family + ".") and k.split(".")[-1] not in FRAMING and "_tree" not in k:
                # Binary values: tshark separates the bytes with ':', show does not.
                value = str(v)
                if len(value) > 2 and all(c in "0123456789abcdef:" for c in value) and ":" in value:
                    value = value.replace(":", "")
                out.append((k.split(".")[-1], value))
    elif isinstance(obj, list):
        for x in obj:
            tshark_fields(x, family, out)


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    families = set(sys.argv[3:])
    show = {}
    with open(sys.argv[1]) as f:
        for line in f:
            j = json.loads(line)
            if j.get("family") in families and "attrs" in j:
                show[j["frame"]] = j
    # tshark -T json repeats a key for a field shown several times in one tree: keep them all.
    with open(sys.argv[2]) as f:
        packets = json.load(f, object_pairs_hook=Pairs)
    frames = {}
    for p in packets:
        layers = p.get("_source").get("layers")
        frames[int(layers.get("frame").get("frame.number"))] = layers
    problems, fields = [], 0
    for frame, j in sorted(show.items()):
        want, flags = [], set()
        leaves(j["attrs"], want, flags)
        got = []
        tshark_fields(frames.get(frame, Pairs()), j["family"], got)
        # Of a flags word tshark also shows the bits that are clear, and the word itself.
        if flags:
            got = [(k, v) for k, v in got if k not in flags and not (v == "0" and (k, "1") not in want
                                                                    and k not in dict(want))]
        fields += len(want)
        if sorted(want) != sorted(got):
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            problems.append(f"frame {frame} ({j['family']} {j['op']}): show only {missing}, tshark only {extra}")
    if not show:
        problems.append(f"no message of {sorted(families)} decoded by show")
    for p in problems[:10]:
        print("    " + p)
    print(f"    {len(show)} messages, {fields} attribute values compared, {len(problems)} differing")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
