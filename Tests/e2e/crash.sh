#!/usr/bin/env bash
# Crash safety: a recording daemon killed with -9 at random moments of a running load, many
# times. Every file it leaves must open in our reader and in tshark up to its last whole record
# (both count the same records), lose at most the flush window (spec/trace-format.md: 256
# records / 64 KiB / 100 ms), and `flowtrace repair` must turn it, and a copy torn inside a
# block (what a kill inside write(2) leaves), into a file both read cleanly with the same count.
# CRASH_KILLS (default 30) and CRASH_SEED (default 1) make a run repeatable.
set -eu
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="$bin/flowtrace"; daemon="$bin/flow-table-hairpind"
kills="${CRASH_KILLS:-30}"; RANDOM="${CRASH_SEED:-1}"
source "$root/Tests/e2e/lib/daemon.bash"   # $tmp, pids, wait_for_log
fail() { echo "FAIL (kill $k, seed ${CRASH_SEED:-1}): $*"; exit 1; }
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (scripts/install-deps.sh installs it)"; exit 1; }
export HOME="$tmp/home"; mkdir -p "$HOME"
k=0
clients=4
# Our reader's record count (snapshot included) and its truncation notice; tshark's count.
ours() { "$ft" show "$1" --snapshot 2> "$tmp/show.err" | wc -l; }
theirs() { tshark -r "$1" 2> "$tmp/tshark.err" | wc -l; }
# first_answer FILE: waits (up to 20 s) until the trace FILE holds an answered call.
first_answer() {
  local n
  for _ in $(seq 400); do
    # (Early on the file may hold no record yet, and audit no JSON: that counts as 0.)
    n=$("$ft" audit "$1" --json 2> /dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['answered'])" 2> /dev/null) || n=0
    (( n > 0 )) && return 0
    sleep 0.05
  done
  fail "no answered call in $1 20 s after the load started"
}
flush_bound=256     # PcapngFlushPolicy.default.maxRecords: the most a kill -9 may lose
lost_max=0; lost_min=$flush_bound; lost_total=0; torn=0; whole=0
for k in $(seq "$kills"); do
  f="$tmp/kill$k.pcapng"
  "$daemon" --twin --record "$f" 2> "$tmp/daemon.err" & d=$!; pids+=("$d")
  wait_for_log "$tmp/daemon.err" "twin listening on" "$d"
  "$ft" load --clients "$clients" --calls 10000000 --json > "$tmp/load.json" 2> /dev/null & l=$!; pids+=("$l")
  # 0.1 to 1.6 s into the load's answers: counted from the first answered call in the trace,
  # not from the start of the clients (their start-up and the daemon's first call can outlast
  # the shortest delay on a busy machine, and then no client has an answer to lose).
  first_answer "$f"
  sleep "$(printf '0.%03d' $((RANDOM % 1000)))"; sleep "0.$((1 + RANDOM % 6))"
  kill -9 "$d"; wait "$d" 2> /dev/null || true
  wait "$l" 2> /dev/null || true   # the clients see the connection close and report
  answered=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['answered'])" "$tmp/load.json")
  (( answered > 0 )) || fail "the load got no answer before the kill"

  # 1. The file as the kill left it: both readers agree up to the last whole record.
  n_ours=$(ours "$f"); n_theirs=$(theirs "$f")
  [[ $n_ours == "$n_theirs" ]] || fail "$f: flowtrace reads $n_ours records, tshark $n_theirs ($(cat "$tmp/tshark.err"))"
  if grep -q "truncated at byte" "$tmp/show.err"; then torn=$((torn + 1)); else whole=$((whole + 1)); fi
  # Every call the clients were answered is in the trace but for the flush window, and the
  # trace holds nothing but the load's calls (the daemon was found ready by its log line, not
  # by calls): every API request is one of them (the mix is set,get,del: no GET_TABLES), and
  # answered calls beyond the clients' count are at most one per client (the twin records an
  # answer before it sends it; the kill may fall in between).
  read -r calls_in_trace in_trace < <("$ft" audit "$f" --json | python3 -c "import json,sys; a=json.load(sys.stdin); print(a['calls'], a['answered'])") \
    || fail "$f: flowtrace audit gave no counts"
  lost=$(( answered - in_trace ))
  # The load's own setup look-up (nlctrl) is not a call.
  (( lost <= flush_bound )) || fail "$f: the clients got $answered answers, the trace holds $in_trace (lost $lost > $flush_bound)"
  (( lost >= -clients )) || fail "$f: the trace holds $in_trace answered calls, the clients got only $answered"
  requests=$(api_requests "$f"); tables=$(api_requests "$f" GET_TABLES)
  (( requests == calls_in_trace && tables == 0 )) \
    || fail "$f: $requests API requests ($tables GET_TABLES) for $calls_in_trace calls of the load"
  (( lost < lost_min )) && lost_min=$lost
  (( lost > lost_max )) && lost_max=$lost
  (( lost > 0 )) && lost_total=$((lost_total + lost))

  # 2. repair: whole → identical copy (exit 0); a cut file → its whole blocks (exit 1).
  set +e; "$ft" repair "$f" -w "$tmp/fixed.pcapng" > "$tmp/repair.out"; rc=$?; set -e
  (( rc == 0 || rc == 1 )) || fail "repair exit status $rc: $(cat "$tmp/repair.out")"
  [[ $(ours "$tmp/fixed.pcapng") == "$n_ours" ]] || fail "the repaired file reads differently"
  [[ ! -s $tmp/show.err ]] || fail "the repaired file is not clean: $(cat "$tmp/show.err")"
  tshark -r "$tmp/fixed.pcapng" > /dev/null 2>&1 || fail "tshark reports an error on the repaired file"

  # 3. The same file torn inside a block (a kill inside write(2)): cut at a random byte of
  # its last quarter.
  size=$(stat -c %s "$f")
  cut=$(( size * 3 / 4 + (RANDOM * 32768 + RANDOM) % (size / 4) ))
  head -c "$cut" "$f" > "$tmp/torn.pcapng"
  n_ours=$(ours "$tmp/torn.pcapng"); n_theirs=$(theirs "$tmp/torn.pcapng")
  [[ $n_ours == "$n_theirs" ]] || fail "torn at $cut: flowtrace reads $n_ours records, tshark $n_theirs"
  set +e; "$ft" repair "$tmp/torn.pcapng" -w "$tmp/fixed.pcapng" > "$tmp/repair.out"; rc=$?; set -e
  if (( rc == 1 )); then
    grep -q "dropped .* bytes from byte" "$tmp/repair.out" || fail "repair does not say what it dropped"
  elif (( rc != 0 )); then
    fail "repair of the torn copy: exit $rc"
  fi
  [[ $(ours "$tmp/fixed.pcapng") == "$n_ours" ]] || fail "torn at $cut: the repaired copy has a different count"
  [[ ! -s $tmp/show.err ]] || fail "torn at $cut: the repaired copy is not clean: $(cat "$tmp/show.err")"
  tshark -r "$tmp/fixed.pcapng" > /dev/null 2>&1 || fail "torn at $cut: tshark reports an error on the repaired copy"
  [[ $(theirs "$tmp/fixed.pcapng") == "$n_ours" ]] || fail "torn at $cut: tshark counts the repaired copy differently"
  rm -f "$f" "$tmp/torn.pcapng" "$tmp/fixed.pcapng"
  pids=()
done
echo "crash: $kills kills survived ($torn left a torn block, $whole whole files); answered calls missing from the trace: at most $lost_max per kill, $lost_total in all (bound $flush_bound records), fewest $lost_min (bound -$clients); every torn copy repaired"
