#!/usr/bin/env bash
# LibFlowTable as another project uses it: the repository at HEAD (committed files only) is
# copied into a temporary git repository and tagged with the project's version; a tiny package
# depends on it by version (`from:` that tag, through a file:// URL), product LibFlowTable,
# encodes a SET_FLOWS request, decodes it and prints it. SwiftPM refuses such a dependency when
# one of its targets has unsafe build flags. Also checks that the consumer's resolution needs
# none of the command-line tools' packages (argument parser, Yams, Histogram...).
# Needs no FLOWTRACE_BIN: it builds its own consumer (only LibFlowTable is compiled).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The version every tool and file names (FlowTableVersion.version); 1.0.0 if the constant is not found.
version=$(sed -nE 's/.*static let version = "([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' "$root/Sources/LibFlowTable/Version.swift" | head -1)
version=${version:-1.0.0}

# HEAD's tree (or CONSUMER_REV's), as a clone would have it: no build products, no edits.
mkdir "$tmp/flowtrace"
git -C "$root" archive "${CONSUMER_REV:-HEAD}" | tar -x -C "$tmp/flowtrace"
git -C "$tmp/flowtrace" init -q
git -C "$tmp/flowtrace" add -A
git -C "$tmp/flowtrace" -c user.name=ci -c user.email=ci@localhost commit -qm "FlowTrace $version"
git -C "$tmp/flowtrace" tag "$version"

mkdir -p "$tmp/consumer/Sources/consumer"
cat > "$tmp/consumer/Package.swift" <<EOF
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$tmp/flowtrace", from: "$version")],
    targets: [.executableTarget(name: "consumer",
                                dependencies: [.product(name: "LibFlowTable", package: "flowtrace")])]
)
EOF
cat > "$tmp/consumer/Sources/consumer/main.swift" <<'EOF'
import LibFlowTable

let flow = Flow(table: 2, uid: 1001, priority: 10,
                matches: [FieldRef(instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                                   value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16))],
                actions: [Action(uid: 5, signature: [ActionArg(name: "port", type: .u32,
                                                                value: FieldValue(2, type: .u32))])])
var attributes = FlowTableAttributes.device(7)
attributes.flows = [flow]
let message = FlowTableMessage(familyID: 0x1c, command: .setFlows, isRequest: true, sequence: 42, port: 0,
                               attributes: attributes)
do {
    let bytes = try message.encoded()
    let decoded = try FlowTableMessage.decode(bytes, familyID: 0x1c)
    let f = decoded.attributes.flows?.first
    print("encoded \(bytes.count) bytes; decoded \(decoded.knownCommand.map { "\($0)" } ?? "?") seq \(decoded.header.sequence)",
          "device \(decoded.attributes.ifindex.map { "\($0)" } ?? "-")",
          "flow table \(f?.table ?? 0) uid \(f?.uid ?? 0) priority \(f?.priority ?? 0)",
          "matches \(f?.matches?.count ?? 0) actions \(f?.actions?.count ?? 0)",
          "round trip \(try decoded.encoded() == bytes ? "equal" : "DIFFERS")")
} catch {
    print("error: \(error)")
}
EOF

cd "$tmp/consumer"
# Its own cache of the dependency: the tagged copy changes every run.
swift build --cache-path "$tmp/cache" > "$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; fail "the consumer does not build"; }
if grep -qiE "swift-argument-parser|yams|hdrhistogram|swift-property-based|swift-numerics" Package.resolved 2>/dev/null; then
  cat Package.resolved; fail "depending on LibFlowTable pins the tools' packages"
fi
out=$(.build/debug/consumer)
echo "$out"
expected="device 7 flow table 2 uid 1001 priority 10 matches 1 actions 1 round trip equal"
[[ $out == "encoded "*" bytes; decoded setFlows seq 42 $expected" ]] || fail "unexpected output: $out"
# Only LibFlowTable was compiled for it.
modules=$(ls .build/debug/Modules 2>/dev/null || ls .build/debug)
for m in Hairpin FlowTrace ArgumentParser Yams Histogram; do
  grep -qx "$m.swiftmodule" <<<"$modules" && fail "the consumer build compiled $m"
done
# The hairpin protocol (unft to its daemon) is this package's own: `package`, not public.
cat > Sources/consumer/hairpin.swift <<'EOF'
import LibFlowTable
func hairpinPieces() {
    _ = NFLH.familyName
    _ = HairpinMessage.self
    _ = EncapAssembler.self
    _ = HairpinCodec.self
}
EOF
if swift build --cache-path "$tmp/cache" > "$tmp/hidden.log" 2>&1; then
  fail "the hairpin protocol is public API (a consumer can use NFLH, HairpinMessage...)"
fi
for name in NFLH HairpinMessage EncapAssembler HairpinCodec; do
  grep -qE "cannot find '$name' in scope|'$name' is inaccessible" "$tmp/hidden.log" || {
    tail -30 "$tmp/hidden.log"; fail "$name is visible to a consumer"; }
done
rm Sources/consumer/hairpin.swift
echo "ok: a package depending on flowtrace from: $version builds and runs against LibFlowTable"
