#!/usr/bin/env bash
# flowtrace stats --failed: on our fixtures, the failed requests it lists are exactly the API
# calls whose final answer `flowtrace show --json` gives as an error (same call, request frame,
# errno and text), and a trace cut after a request lists that request as unanswered.
set -eu
bin="${FLOWTRACE_BIN:?}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="$bin/flowtrace"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "failed.sh: FAIL: $*"; exit 1; }

for t in error-session.pcapng error-session-acked-answers.pcapng; do
  "$ft" stats --failed --json "$root/traces/$t" > "$tmp/failed.json" || fail "$t: stats --failed"
  "$ft" show --json "$root/traces/$t" > "$tmp/show.jsonl" || fail "$t: show"
  python3 - "$tmp/failed.json" "$tmp/show.jsonl" "$t" <<'PY' || fail "$t: --failed disagrees with show"
import json, sys
failed = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]
errno = {"EINVAL": 22, "EEXIST": 17, "ENOENT": 2, "EOPNOTSUPP": 95, "ENOSPC": 28, "ENOTCONN": 107, "ETIMEDOUT": 110}
# What show says: the API leg's final errors, by call, with the frame of their request.
want = {}
for l in lines:
    if l.get("leg") == "api" and l.get("kind") == "error" and l.get("call"):
        want[l["call"]] = (l["request_in"], l["frame"], l["status"], l.get("message"))
got = {}
for r in failed["failed"]:
    if r["family"] != "net_flow_nl":
        sys.exit(f"unexpected family {r['family']}")
    got[r["call"]] = (r["frame"], r["error_frame"], r["error"], r.get("message"))
if not want:
    sys.exit("the fixture has no failed API call")
if got != want:
    sys.exit(f"stats --failed {sorted(got.items())[:3]} vs show {sorted(want.items())[:3]}")
if failed["unanswered"]:
    sys.exit(f"unanswered requests in a whole trace: {failed['unanswered'][:3]}")
print(f"{sys.argv[3]}: {len(got)} failed requests, as show says")
PY
done

# Cut after the first API request: it has no answer.
"$ft" show --json "$root/traces/error-session.pcapng" > "$tmp/show.jsonl"
read -r first call < <(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    l = json.loads(l)
    if l.get("leg") == "api" and l.get("kind") == "flowTable" and l.get("request"):
        print(l["frame"], l["call"]); break' "$tmp/show.jsonl")
editcap -r "$root/traces/error-session.pcapng" "$tmp/cut.pcapng" "1-$first" 2>/dev/null || fail "editcap"
"$ft" stats --failed "$tmp/cut.pcapng" > "$tmp/cut.txt" || fail "stats --failed on the cut trace"
grep -q "0 requests failed, 1 got no answer" "$tmp/cut.txt" || { cat "$tmp/cut.txt"; fail "the cut request is not listed"; }
grep -qE "^$first +#$call +net_flow_nl " "$tmp/cut.txt" || { cat "$tmp/cut.txt"; fail "the cut request's frame"; }
echo "failed.sh: ok"
