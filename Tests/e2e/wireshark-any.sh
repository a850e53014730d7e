#!/usr/bin/env bash
# `flowtrace wireshark install --spec-dir DIR`: one Lua dissector per generic netlink family on
# the spec path (here the kernel's devlink and ethtool specs in Tests/Fixtures/kernel-specs, and
# the project's spec/), which tshark loads with every attribute as a filter field; a spec the
# generator cannot print is left out, named with its file and key, exit 1, the others installed.
# The field-by-field check against the interpreter is Tests/YNLTests/WiresharkFamilyTests.swift.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# A clean Wireshark profile, and no kernel spec cache: the path is the fixtures and spec/ only.
source "$root/Tests/e2e/lib/tshark.bash"   # $ft, $tmp, fail
fixtures="$root/Tests/Fixtures/kernel-specs"

"$ft" wireshark install --spec-dir "$fixtures" --directory "$tmp/plugins" > "$tmp/install.out" 2> "$tmp/install.err" \
  || fail "install: $(cat "$tmp/install.out" "$tmp/install.err")"
lua="$tmp/plugins/flowtrace.lua"
for f in devlink ethtool net_flow_nl nfl_hairpin; do
  grep -q "$f" "$tmp/install.out" || fail "install does not name $f: $(cat "$tmp/install.out")"
done
tshark -G fields -X "lua_script:$lua" > "$tmp/fields" 2> "$tmp/fields.err" || fail "tshark -G fields: $(cat "$tmp/fields.err")"
grep -v "Running as user" "$tmp/fields.err" | grep -q . && fail "tshark reports: $(cat "$tmp/fields.err")"
for field in devlink.port_index devlink.dev_name ethtool.header.dev_index ethtool.linkinfo.port net_flow_nl.flow.uid; do
  grep -qP "\t$field\t" "$tmp/fields" || fail "no field $field"
done
# print gives the same plugin
"$ft" wireshark print --spec-dir "$fixtures" 2>/dev/null | cmp -s - "$lua" || fail "print and install differ"

# --builtin: the project's plugin from the specs compiled in (what scripts/install.sh installs
# system-wide) is what spec/ gives; only the header's file names differ.
"$ft" wireshark print --builtin | grep -v '^-- Generated from ' > "$tmp/builtin.lua"
"$ft" wireshark print --spec-dir "$root/spec" 2>/dev/null | grep -v '^-- Generated from ' | cmp -s - "$tmp/builtin.lua" \
  || fail "--builtin is not what spec/ gives"
tshark -G fields -X "lua_script:$tmp/builtin.lua" 2>/dev/null | grep -qP "\tnet_flow_nl.flow.uid\t" || fail "no net_flow_nl field in --builtin"

# A personal copy (flowtrace wireshark install) and another one (make install's system copy, or
# -X lua_script): one registers the protocols, the other stays out, saying so; no Lua error.
"$ft" wireshark install --builtin > /dev/null || fail "install --builtin"
"$ft" wireshark print --builtin > "$tmp/second.lua"
tshark -X "lua_script:$tmp/second.lua" -r "$root/traces/demo-session.pcapng" > "$tmp/two.out" 2> "$tmp/two.err" \
  || fail "tshark with two copies: $(cat "$tmp/two.err")"
grep -q "Lua" "$tmp/two.err" && fail "two copies give a Lua error: $(cat "$tmp/two.err")"
grep -qF "$tmp/second.lua is not loaded: the plugin is already loaded from $HOME/.local/lib/wireshark/plugins/flowtrace.lua" "$tmp/two.err" \
  || fail "no message naming both copies: $(cat "$tmp/two.err")"
grep -q "NFL" "$tmp/two.out" || fail "two copies: no net_flow_nl message decoded"
rm -f "$HOME/.local/lib/wireshark/plugins/flowtrace.lua"

# A hostile spec: loads in the interpreter, cannot name a Wireshark field.
mkdir -p "$tmp/hostile"
cat > "$tmp/hostile/bad.yaml" <<'YAML'
name: bad
attribute-sets: [ { name: a, attributes: [ { name: "x y", type: u32 } ] } ]
operations: { list: [ { name: get, attribute-set: a, do: { request: { attributes: [] } } } ] }
YAML
if "$ft" wireshark install --spec-dir "$tmp/hostile" --spec-dir "$fixtures" --directory "$tmp/p2" \
     > "$tmp/h.out" 2> "$tmp/h.err"; then
  fail "a hostile spec installed without an error"
fi
grep -q "bad.yaml" "$tmp/h.err" && grep -qF "attributes[x y]" "$tmp/h.err" || fail "the error does not name the file and key: $(cat "$tmp/h.err")"
grep -q devlink "$tmp/h.out" || fail "the other families were not installed: $(cat "$tmp/h.out")"
tshark -G fields -X "lua_script:$tmp/p2/flowtrace.lua" 2>/dev/null | grep -qP "\tdevlink.port_index\t" || fail "no devlink field after a bad spec"
echo "wireshark-any: ok"
