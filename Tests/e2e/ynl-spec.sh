#!/usr/bin/env bash
# spec/*.yaml are real YNL: the kernel's own tooling loads each of them unchanged, as Debian's
# linux-source-6.12 ships it (unpacked by scripts/install-deps.sh; nothing here is patched):
#   1. the library (tools/net/ynl/lib): SpecFamily with the genetlink-legacy schema (jsonschema,
#      additionalProperties: false, so no FlowTrace key may hide in a spec), then every
#      attribute of every set encoded and decoded again by YnlFamily's own coder, nests
#      followed to their sets (a nest of a set the family lacks fails here);
#   2. cli.py --spec ... --list-ops. cli.py asks the running kernel for the family first, and
#      unft is not loaded here: "Family ... not supported by the kernel" is then the expected
#      end (the spec was loaded and checked before); any other error fails. The VM tests drive
#      the module itself with the same tools.
# Usage: ynl-spec.sh [SPEC.yaml...]   (default: every spec/*.yaml)
# Needs no FLOWTRACE_BIN.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*"; exit 1; }

ksrc=$("$root/scripts/install-deps.sh" --ynl-dir) || fail "no kernel YNL tooling; run scripts/install-deps.sh"
ynl="$ksrc/tools/net/ynl"
schema="$ksrc/Documentation/netlink/genetlink-legacy.yaml"
[[ -f "$ynl/cli.py" && -f "$schema" ]] || fail "$ksrc lacks tools/net/ynl/cli.py or the genetlink-legacy schema"

if (($#)); then specs=("$@"); else specs=("$root"/spec/*.yaml); fi
((${#specs[@]})) || fail "no spec/*.yaml"

failed=0
for spec in "${specs[@]}"; do
  name=${spec#"$root"/}
  if ! out=$(PYTHONPATH="$ynl" python3 - "$spec" "$schema" 2>&1 <<'EOF'
import sys
from lib import SpecFamily, YnlFamily
from lib.ynl import NlAttrs

spec, schema = sys.argv[1], sys.argv[2]
# A YnlFamily without its socket: __init__ would ask the kernel for the family id first.
fam = YnlFamily.__new__(YnlFamily)
SpecFamily.__init__(fam, spec, schema)
fam.process_unknown = False
fam.include_raw = False

def sample(space, depth):
    """One value for every attribute of the set (nests to a few levels), as a YNL client writes it."""
    values = {}
    for name, attr in fam.attr_sets[space].items():
        kind = attr['type']
        if kind in ('unused', 'pad'):
            continue
        if kind == 'nest':
            if attr['nested-attributes'] not in fam.attr_sets:
                raise Exception(f"{space}.{name}: nested-attributes '{attr['nested-attributes']}' is not a set of {fam.name}")
            if depth == 0:
                continue
            value = sample(attr['nested-attributes'], depth - 1)
        elif kind == 'flag':
            value = True
        elif kind == 'string':
            value = 'x'
        elif kind == 'binary':
            value = b'\x01\x02'
        elif 'enum' in attr:
            enum = fam.consts[attr['enum']]
            value = next(iter(enum.entries))
        else:
            value = 1
        values[name] = [value] if attr.is_multi else value
    return values

count = 0
for space in fam.attr_sets:
    values = sample(space, 3)
    payload = b''.join(fam._add_attr(space, n, v, None) for n, v in values.items())
    decoded = fam._decode(NlAttrs(payload), space)
    missing = set(values) - set(decoded)
    if missing:
        raise Exception(f"{space}: {sorted(missing)} did not come back from YNL's decoder")
    count += 1
print(f"{fam.name}: schema ok, {len(fam.ops)} operations, {count} attribute sets encoded and decoded")
EOF
  ); then
    # The exception's line (jsonschema follows it with the whole document), else the end.
    why=$(echo "$out" | grep -E "^[A-Za-z_.]*(Error|Exception): " | head -3)
    echo "FAIL: $name: the kernel's YNL library refuses it:"; echo "${why:-$(echo "$out" | tail -5)}" | sed 's/^/    /'
    failed=$((failed + 1)); continue
  fi
  echo "$name: $out"

  family=$(sed -nE 's/^name: *([A-Za-z0-9_-]+).*/\1/p' "$spec" | head -1)
  if out=$(cd "$ynl" && python3 cli.py --spec "$spec" --schema "$schema" --list-ops 2>&1); then
    echo "$name: cli.py --list-ops: $(echo "$out" | wc -l) operations"
  elif [[ "$(echo "$out" | tail -1)" == "Exception: Family '$family' not supported by the kernel" ]]; then
    echo "$name: cli.py --list-ops: spec loaded (the family is not registered on this kernel)"
  else
    echo "FAIL: $name: cli.py --list-ops:"; echo "$out" | tail -5 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done
((failed == 0)) || fail "$failed spec check(s) failed"
echo "ynl-spec: ${#specs[@]} specs are YNL"
