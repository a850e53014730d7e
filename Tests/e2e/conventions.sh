#!/usr/bin/env bash
# The conventions tcpdump, tshark and tcpreplay users know, against the built tools: -r FILE and
# '-' (stdin) wherever a trace is read, -w - (stdout) wherever one is written, --version on every
# tool, gzip-compressed traces read transparently, a cut or damaged file shown up to the damage
# then exit 2, SIGINT → partial report and exit 130, --loop 0, a progress line only on a terminal.
set -uo pipefail
bin="${FLOWTRACE_BIN:?}"
ft="$bin/flowtrace"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect STATUS NAME -- command...: runs it (stdout → $tmp/out, stderr → $tmp/err).
expect() {
  local want=$1 name=$2; shift 3
  "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  if [[ $got == "$want" ]]; then ok "$name (exit $got)"; else bad "$name: exit $got, expected $want"; sed 's/^/    err: /' "$tmp/err" | head -5; fi
}

"$ft" gen --flows 600 --seed 3 --batch 4 --churn 0.2 --errors 0.05 -w "$tmp/t.pcapng" > /dev/null 2>&1 || { echo "gen failed"; exit 1; }
size=$(wc -c < "$tmp/t.pcapng")

# --- A cut file: what could be read, then the error naming byte and frame, exit 2 (tshark). ---
head -c $((size * 2 / 3 + 5)) "$tmp/t.pcapng" > "$tmp/cut.pcapng"
"$ft" show "$tmp/t.pcapng" > "$tmp/full.show" 2>/dev/null
expect 2 "show of a cut file" -- "$ft" show "$tmp/cut.pcapng"
lines=$(wc -l < "$tmp/out")
if (( lines > 0 )) && head -n "$lines" "$tmp/full.show" | cmp -s - "$tmp/out"; then ok "show of a cut file prints the $lines lines before the cut"; else bad "show of a cut file: output is not the head of the full output ($lines lines)"; fi
grep -q "byte [0-9]" "$tmp/err" && grep -q "frame [0-9]" "$tmp/err" && ok "the cut is named by byte and frame" || { bad "the cut's message names no byte and frame"; cat "$tmp/err"; }
expect 2 "stats of a cut file" -- "$ft" stats "$tmp/cut.pcapng"
grep -q "^records " "$tmp/out" && ok "stats of a cut file prints its counts" || bad "stats of a cut file printed no counts"
expect 2 "stats --json of a cut file" -- "$ft" stats --json "$tmp/cut.pcapng"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["records"] > 0 and "truncation" in d' "$tmp/out" && ok "stats --json of a cut file is JSON with the truncation" || bad "stats --json of a cut file"
# Damage inside the file (a broken block length): the records before it, then the error.
python3 - "$tmp/t.pcapng" "$tmp/broken.pcapng" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
off, n = 0, 0
while off + 12 <= len(data):
    btype, blen = struct.unpack_from("<II", data, off)
    if btype == 6:
        n += 1
        if n == 40:
            struct.pack_into("<I", data, off + 4, 7)      # a length no block can have
            break
    off += blen
open(sys.argv[2], "wb").write(data)
PY
expect 2 "show of a damaged file" -- "$ft" show "$tmp/broken.pcapng"
(( $(wc -l < "$tmp/out") > 10 )) && ok "show of a damaged file prints what precedes the damage" || bad "show of a damaged file printed $(wc -l < "$tmp/out") lines"
grep -q "frame [0-9]" "$tmp/err" && ok "the damage is named by frame" || { bad "the damage's message names no frame"; cat "$tmp/err"; }
expect 2 "stats of a damaged file" -- "$ft" stats "$tmp/broken.pcapng"
grep -q "^records " "$tmp/out" && ok "stats of a damaged file prints its counts" || bad "stats of a damaged file printed no counts"
expect 0 "show of a whole file" -- "$ft" show "$tmp/t.pcapng"
expect 2 "replay of a cut file" -- "$ft" replay "$tmp/cut.pcapng" --target backend:hash
grep -q "calls" "$tmp/out" && grep -q "frame\|truncated" "$tmp/err" && ok "replay of a cut file: the report, then the cut" || bad "replay of a cut file: no report or no cut named"
expect 2 "diff of a cut file" -- "$ft" diff "$tmp/t.pcapng" "$tmp/cut.pcapng"
grep -q "truncated" "$tmp/err" && ok "diff of a cut file names the cut" || bad "diff of a cut file: the cut is not named"

expect 2 "export of a cut file" -- "$ft" export --format csv "$tmp/cut.pcapng" -o "$tmp/cut.csv"
(( $(wc -l < "$tmp/cut.csv") > 10 )) && grep -q "frame [0-9]" "$tmp/err" && ok "export of a cut file: the calls read, then the cut" \
  || bad "export of a cut file: $(wc -l < "$tmp/cut.csv") rows, err: $(head -c 200 "$tmp/err")"

# --- -r FILE as well as the positional argument. ---
"$ft" stats "$tmp/t.pcapng" > "$tmp/stats.pos"
for cmd in show stats audit; do
  "$ft" $cmd "$tmp/t.pcapng" > "$tmp/pos" 2>&1; a=$?
  "$ft" $cmd -r "$tmp/t.pcapng" > "$tmp/r" 2>&1; b=$?
  [[ $a == "$b" ]] && cmp -s "$tmp/pos" "$tmp/r" && ok "$cmd -r FILE" || { bad "$cmd -r FILE differs from $cmd FILE ($a/$b)"; head -3 "$tmp/r"; }
done
"$ft" export --format csv "$tmp/t.pcapng" -o "$tmp/pos.csv"
expect 0 "export -r FILE" -- "$ft" export --format csv -r "$tmp/t.pcapng" -o "$tmp/r.csv"
cmp -s "$tmp/pos.csv" "$tmp/r.csv" && ok "export -r FILE equals export FILE" || bad "export -r FILE differs"
"$ft" export --format csv - -o "$tmp/stdin.csv" < "$tmp/t.pcapng"
cmp -s "$tmp/pos.csv" "$tmp/stdin.csv" && ok "export - (stdin)" || bad "export - differs from export FILE"
expect 0 "replay -r FILE" -- "$ft" replay -r "$tmp/t.pcapng" --target backend:hash
expect 0 "diff -r A B" -- "$ft" diff -r "$tmp/t.pcapng" "$tmp/t.pcapng"
expect 1 "repair -r FILE -w OUT (a cut file)" -- "$ft" repair -r "$tmp/cut.pcapng" -w "$tmp/fixed.pcapng"
expect 0 "bench -r FILE" -- "$ft" bench -r "$tmp/t.pcapng" --backends hash --runs 1 --warmup 0

# --- '-' reads stdin everywhere; -w - writes the trace to stdout, messages to stderr. ---
for cmd in show stats audit; do
  "$ft" $cmd - < "$tmp/t.pcapng" 2>&1 | sed "s|<stdin>|$tmp/t.pcapng|; s|$cmd -:|$cmd $tmp/t.pcapng:|" > "$tmp/r"; b=${PIPESTATUS[0]}
  "$ft" $cmd "$tmp/t.pcapng" > "$tmp/pos" 2>&1; a=$?
  [[ $a == "$b" ]] && cmp -s "$tmp/pos" "$tmp/r" && ok "$cmd - (stdin)" || { bad "$cmd - differs from $cmd FILE ($a/$b)"; head -3 "$tmp/r"; }
done
expect 0 "replay - (stdin)" -- bash -c "'$ft' replay - --target backend:hash < '$tmp/t.pcapng'"
expect 0 "diff - B (stdin as one input)" -- bash -c "'$ft' diff - '$tmp/t.pcapng' < '$tmp/t.pcapng'"
expect 0 "diff A - (stdin as the other)" -- bash -c "'$ft' diff '$tmp/t.pcapng' - < '$tmp/t.pcapng'"
expect 1 "repair - -w OUT (a cut file on stdin)" -- bash -c "'$ft' repair - -w '$tmp/fixed2.pcapng' < '$tmp/cut.pcapng'"
cmp -s "$tmp/fixed.pcapng" "$tmp/fixed2.pcapng" && ok "repair from stdin writes what repair from the file does" || bad "repair from stdin differs"
expect 0 "bench - (stdin)" -- bash -c "'$ft' bench - --backends hash --runs 1 --warmup 0 < '$tmp/t.pcapng'"

"$ft" gen --flows 600 --seed 3 --batch 4 --churn 0.2 --errors 0.05 -w - > "$tmp/g.pcapng" 2> "$tmp/gen.err"
cmp -s "$tmp/g.pcapng" "$tmp/t.pcapng" && ok "gen -w - writes the same bytes to stdout" || bad "gen -w - output differs from gen -w FILE"
grep -q "records" "$tmp/gen.err" && ok "gen -w -: the summary goes to stderr" || bad "gen -w -: no summary on stderr"
"$ft" gen --flows 300 --seed 5 -w - 2>/dev/null | "$ft" stats - > "$tmp/piped" 2>&1
grep -q "^records " "$tmp/piped" && ok "gen -w - | stats -" || { bad "gen -w - | stats -"; head -3 "$tmp/piped"; }
"$ft" replay "$tmp/t.pcapng" --target twin --topspeed --record - 2> "$tmp/rr.err" | "$ft" stats - > "$tmp/rr.out" 2>&1
grep -q "^records " "$tmp/rr.out" && grep -q "0 divergent" "$tmp/rr.err" && ok "replay --record - | stats -: the trace on stdout, the report on stderr" || { bad "replay --record -"; head -3 "$tmp/rr.out" "$tmp/rr.err"; }
"$ft" demo --flows 50 --plain --record - > "$tmp/demo.pcapng" 2> "$tmp/demo.err"
"$ft" stats "$tmp/demo.pcapng" > /dev/null 2>&1 && ok "demo --record - writes a trace to stdout" || bad "demo --record -: stdout is not a trace"
sock_dir="$tmp/run"; mkdir -p "$sock_dir"
"$bin/flow-table-hairpind" --twin --socket "$sock_dir/unft.sock" --record - > "$tmp/hp.pcapng" 2> "$tmp/hp.err" &
hp=$!; pids+=("$hp")
for _ in $(seq 50); do [[ -S "$sock_dir/unft.sock" ]] && break; sleep 0.1; done
"$ft" load --socket "$sock_dir/unft.sock" --clients 2 --calls 200 > /dev/null 2>&1
kill -INT "$hp"; wait "$hp"
"$ft" audit "$tmp/hp.pcapng" > "$tmp/out" 2>&1 && ok "flow-table-hairpind --record - writes the trace to stdout" || { bad "flow-table-hairpind --record -"; head -5 "$tmp/out"; head -5 "$tmp/hp.err"; }

# --- --version on every tool, one version. ---
v1=$("$ft" --version 2>&1); v2=$("$bin/flow-table-ctl" --version 2>&1); v3=$("$bin/flow-table-hairpind" --version 2>&1)
if [[ -n "$v1" && "$v1" =~ ^[0-9]+\.[0-9]+ && "$v1" == "$v2" && "$v1" == "$v3" ]]; then ok "--version: $v1 on all three tools"; else bad "--version: '$v1' '$v2' '$v3'"; fi
grep -qa "FlowTrace $v1" "$tmp/t.pcapng" && ok "the SHB names the same version" || bad "the SHB's shb_userappl does not name FlowTrace $v1"

# --- gzip, read transparently (files and stdin); a cut .gz reads like a cut file. ---
gzip -c "$tmp/t.pcapng" > "$tmp/t.pcapng.gz"
for cmd in show stats; do
  "$ft" $cmd "$tmp/t.pcapng" > "$tmp/plain" 2>&1
  "$ft" $cmd "$tmp/t.pcapng.gz" > "$tmp/gz" 2>&1 && cmp -s "$tmp/plain" "$tmp/gz" && ok "$cmd of a .gz" || bad "$cmd of a .gz differs from the plain file"
  "$ft" $cmd - < "$tmp/t.pcapng.gz" > "$tmp/gz" 2>&1 && cmp -s "$tmp/plain" "$tmp/gz" && ok "$cmd of a .gz on stdin" || bad "$cmd of a .gz on stdin differs"
done
"$ft" replay "$tmp/t.pcapng" --target backend:hash | grep -v "s (" > "$tmp/plain"
"$ft" replay "$tmp/t.pcapng.gz" --target backend:hash | grep -v "s (" > "$tmp/gz"
grep -q " 0 divergent" "$tmp/gz" && ok "replay of a .gz" || { bad "replay of a .gz"; head -5 "$tmp/gz"; }
"$ft" diff "$tmp/t.pcapng" "$tmp/t.pcapng.gz" > /dev/null 2>&1 && ok "diff plain vs .gz: the same" || bad "diff plain vs .gz"
gzsize=$(wc -c < "$tmp/t.pcapng.gz")
head -c $((gzsize / 2)) "$tmp/t.pcapng.gz" > "$tmp/cut.pcapng.gz"
expect 2 "show of a cut .gz" -- "$ft" show "$tmp/cut.pcapng.gz"
(( $(wc -l < "$tmp/out") > 0 )) && grep -qi "gzip\|truncated\|cut" "$tmp/err" && ok "a cut .gz: lines, then the cut named" || { bad "a cut .gz"; cat "$tmp/err"; }
printf '\x1f\x8bgarbage-not-deflate' > "$tmp/bad.gz"
expect 2 "show of a corrupt .gz" -- "$ft" show "$tmp/bad.gz"

# --- SIGINT: the partial report and exit 130; --loop 0 loops until interrupted. ---
# Job control: a background job of a script otherwise starts with SIGINT ignored.
set -m
"$ft" replay "$tmp/t.pcapng" --target backend:hash --loop 0 --json > "$tmp/loop.json" 2> "$tmp/loop.err" &
p=$!; sleep 2; kill -INT "$p"; wait "$p"; st=$?
[[ $st == 130 ]] && ok "replay --loop 0, SIGINT: exit 130" || bad "replay --loop 0, SIGINT: exit $st"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["loops"] >= 2 and d["calls"] > 0, d' "$tmp/loop.json" && ok "replay --loop 0: the partial report counts the loops run" || { bad "replay --loop 0: no partial report"; head -c 300 "$tmp/loop.json"; }
"$ft" gen --flows 3000000 --seed 1 -w "$tmp/big.pcapng" > "$tmp/out" 2> "$tmp/err" &
p=$!; sleep 3; kill -INT "$p"; wait "$p"; st=$?
[[ $st == 130 ]] && ok "gen, SIGINT: exit 130" || bad "gen, SIGINT: exit $st"
grep -q "records" "$tmp/out" && "$ft" stats "$tmp/big.pcapng" > /dev/null 2>&1 && ok "gen, SIGINT: partial summary and a whole trace" || { bad "gen, SIGINT: no summary or an unreadable trace"; cat "$tmp/err"; }
"$ft" bench "$tmp/t.pcapng" --runs 10000 --warmup 0 --backends hash > "$tmp/out" 2> "$tmp/err" &
p=$!; sleep 3; kill -INT "$p"; wait "$p"; st=$?
[[ $st == 130 ]] && ok "bench, SIGINT: exit 130" || bad "bench, SIGINT: exit $st"
grep -q "hash" "$tmp/out" && ok "bench, SIGINT: the partial table" || { bad "bench, SIGINT: no table"; head -5 "$tmp/out"; }
"$bin/flow-table-hairpind" --twin --socket "$sock_dir/unft2.sock" > /dev/null 2>&1 &
hp=$!; pids+=("$hp")
for _ in $(seq 50); do [[ -S "$sock_dir/unft2.sock" ]] && break; sleep 0.1; done
"$ft" load --socket "$sock_dir/unft2.sock" --clients 2 --calls 100000000 > "$tmp/out" 2> "$tmp/err" &
p=$!; sleep 2; kill -INT "$p"; wait "$p"; st=$?
[[ $st == 130 ]] && ok "load, SIGINT: exit 130" || bad "load, SIGINT: exit $st"
grep -qi "calls" "$tmp/out" && ok "load, SIGINT: the partial report" || { bad "load, SIGINT: no report"; head -5 "$tmp/out" "$tmp/err"; }
kill -INT "$hp" 2>/dev/null; wait "$hp" 2>/dev/null

# --- A progress line: never when stderr is piped; on a terminal, \r updates, cleared at the end. ---
big="$tmp/big2.pcapng"
"$ft" gen --flows 20000 --seed 2 -w "$big" > /dev/null 2> "$tmp/gen.err"
for cmd in "stats $big" "show $big" "replay $big --target backend:hash" "repair $big -w $tmp/rep.pcapng"; do
  $ft $cmd > /dev/null 2> "$tmp/err"
  if grep -q $'\r' "$tmp/err" "$tmp/gen.err"; then bad "$cmd: a progress line on a pipe"; else ok "$cmd: no progress line when piped"; fi
done
if command -v script > /dev/null; then
  for cmd in "gen --flows 20000 --seed 2 -w $tmp/g3.pcapng" "stats $big" "replay $big --target backend:hash" "repair $big -w $tmp/rep.pcapng" "show $big -w-show-out"; do
    if [[ "$cmd" == *-w-show-out ]]; then
      # show on a terminal with stdout to a file: the progress goes to the terminal.
      script -qec "$ft show $big > $tmp/show.out" /dev/null > "$tmp/tty" 2>&1
      cmd="show (stdout to a file)"
    else
      script -qec "$ft $cmd > /dev/null" /dev/null > "$tmp/tty" 2>&1
    fi
    grep -q $'\r' "$tmp/tty" && grep -q '%' "$tmp/tty" && ok "$cmd: a progress line on a terminal" || { bad "$cmd: no progress line on a terminal"; head -c 300 "$tmp/tty" | od -c | head -5; }
  done
  # show with its lines on the terminal: no bar among them.
  script -qec "$ft show $big" /dev/null > "$tmp/tty" 2>&1
  grep -q 'show \[' "$tmp/tty" && bad "show on a terminal: a progress line among its lines" || ok "show on a terminal: no progress line among its lines"
else
  echo "skip: no script(1) for the terminal half of the progress test"
fi

# --- The repository's own conventions (CONTRIBUTING.md): it stands alone, comments say why. ---
root="$(cd "$(dirname "$0")/../.." && pwd)"
me="Tests/e2e/conventions.sh"
# scan GREP-ARGS...: grep the tree (not builds, not this script) into $tmp/hits; --include options
# come first, so that with them only the files they name are read.
scan() { (cd "$root" && grep -rIn "$@" --exclude-dir='.build*' --exclude-dir=.git --exclude=.git --exclude-dir=.swiftpm . | grep -v "^\./$me:") > "$tmp/hits"; }
report() { if [[ -s "$tmp/hits" ]]; then bad "$1"; sed 's/^/    /' "$tmp/hits" | head -10; else ok "$2"; fi; }
# Outside the repository: "../NAME" where NAME is a folder beside it (found, not named here),
# or this workspace's absolute path.
parent="$(cd "$root/.." && pwd)"
scan -oE "\.\./[A-Za-z0-9_][A-Za-z0-9_.-]*|/work/"
: > "$tmp/outside"
while IFS= read -r hit; do
  ref=${hit#*:*:}
  case "$ref" in
    ../*) name=${ref#../}; [[ -d "$parent/$name" && "$parent/$name" != "$root" ]] && echo "$hit" ;;
    *) echo "$hit" ;;
  esac
done < "$tmp/hits" > "$tmp/outside"
mv "$tmp/outside" "$tmp/hits"
report "references outside the repository (a folder beside it, or /work/)" "no reference outside the repository"
scan -iE '\bbugs? [0-9]+'
report "a rule cited by number (\"bug N\" of another folder): say what it is" "no \"bug N\" citations"
code=(--include='*.swift' --include='*.c' --include='*.h' --include='*.lua')
history='\b20[0-9]{2}-[01][0-9]-[0-3][0-9]\b|\b[Ss]ession [0-9]+\b'
scan "${code[@]}" -E "(//|^\s*/?\*).*($history)"
report "dates or session history in code comments (they go to BENCHMARKS.md or the commit message)" "no dates or session history in code comments"
scan --include='*.sh' --include='*.bash' --include='*.py' --include='Makefile' --include='Kbuild' -E "(^|\s)#.*($history)"
report "dates or session history in script comments" "no dates or session history in script comments"
# Formatting (scripts/format.sh --check, the repository's .swift-format); FORMAT_CHECK=0 skips it.
if [[ "${FORMAT_CHECK:-1}" == 1 ]]; then
  if "$root/scripts/format.sh" --check > "$tmp/format.out" 2>&1; then ok "Swift sources formatted (scripts/format.sh --check)"
  else bad "Swift sources not formatted: run scripts/format.sh"; tail -5 "$tmp/format.out" | sed 's/^/    /'; fi
fi

echo "conventions: $failures failure(s)"
((failures == 0))
