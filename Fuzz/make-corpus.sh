#!/usr/bin/env bash
# Regenerates the seed corpora Fuzz/corpus/<target>/ from the committed traces and models:
# fuzz-corpus cuts records, ENCAP requests, small traces and JSON out of traces/*.pcapng, and the
# default model's JSON files (models/default) join the JSON seeds. Regression inputs (crashes
# found and fixed, Fuzz/corpus/<target>/regress-*) are kept. docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product fuzz-corpus >/dev/null
bin="$(swift build --show-bin-path)"
for t in fuzz-netlink fuzz-encap fuzz-pcapng fuzz-json fuzz-ynl; do
  mkdir -p "Fuzz/corpus/$t"
  find "Fuzz/corpus/$t" -type f ! -name 'regress-*' -delete
done
"$bin/fuzz-corpus" Fuzz/corpus traces/*.pcapng
for f in models/default/*.json models/default/examples/*.json; do
  [[ -e "$f" ]] && cp "$f" "Fuzz/corpus/fuzz-json/model-$(basename "$(dirname "$f")")-$(basename "$f")"
done
# The importers' fuzzers start from the test fixtures (hand-written seed-* files stay).
mkdir -p Fuzz/corpus/fuzz-classbench Fuzz/corpus/fuzz-ovs
cp Tests/Fixtures/import/classbench-small.txt Fuzz/corpus/fuzz-classbench/fixture-classbench-small.txt
cp Tests/Fixtures/import/ovs-small.txt Fuzz/corpus/fuzz-ovs/fixture-ovs-small.txt
du -sh Fuzz/corpus
