#!/usr/bin/env python3
"""GET_FLOWS in several parts and pages, for scripts/vm/tests/fidelity.sh:

    fidelity-parts.py KERNEL.jsonl TWIN.jsonl NLMON.jsonl

The files are `flowtrace show --json` lines of the kernel-mode daemon's recording (hairpin leg),
the twin's recording (both legs) and a capture on nlmon0 during the kernel run (its api leg).
Checks, counting from the records (spec/two-leg-contract.md, "Parts", "GET_FLOWS reply pages"):
  * both recordings hold a GET_FLOWS ENCAP answer of two or more parts, numbered 0…n-1 with
    MORE on every part but the last, and the same parts (flows per part) in both;
  * every GET_FLOWS API request gets the same reply from the kernel and the twin: the flows of
    each NLM_F_MULTI page, then DONE (or the same error);
  * the reply to the multi-part answer spans two or more pages and carries all its flows.
Exit status 1 with the reason when one does not hold.
"""

import json
import sys


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def answer_parts(lines):
    """ENCAP seq → [(part, more, flows)] of each GET_FLOWS answer, in recorded order."""
    calls = {}
    for l in lines:
        if l.get("kind") == "hairpin" and l.get("cmd") == "GET_FLOWS" and l.get("direction") == "to_kernel":
            calls.setdefault(l["seq"], []).append((l.get("part"), l.get("more", False), l.get("flows", 0)))
    return calls


def check_parts(name, calls):
    """The multi-part answers of one recording, after checking their numbering."""
    multi = {}
    for seq, parts in calls.items():
        if len(parts) == 1 and parts[0][0] is None:
            continue
        numbers = [p for p, _, _ in parts]
        if numbers != list(range(len(parts))):
            sys.exit(f"{name}: GET_FLOWS answer seq {seq}: parts {numbers}, not 0…{len(parts) - 1}")
        mores = [m for _, m, _ in parts]
        if mores != [True] * (len(parts) - 1) + [False]:
            sys.exit(f"{name}: GET_FLOWS answer seq {seq}: MORE {mores}, expected on all but the last part")
        multi[seq] = [n for _, _, n in parts]
    if not multi:
        sys.exit(f"{name}: no GET_FLOWS answer in several parts (answers: "
                 f"{ {s: len(p) for s, p in calls.items()} } parts)")
    return multi


def api_replies(lines):
    """[(request table, [flows per page…, 'DONE'] or ['error N'])] per GET_FLOWS request, in order."""
    out, open_calls = [], {}
    for l in lines:
        if l.get("leg") != "api":
            continue
        seq = l.get("nlmsg_seq")
        if l.get("kind") == "flowTable" and l.get("cmd") == "GET_FLOWS" and l.get("request"):
            open_calls[seq] = len(out)
            out.append((l.get("table"), []))
        elif seq in open_calls and l.get("direction") == "to_user":
            reply = out[open_calls[seq]][1]
            kind = l.get("kind")
            if kind == "flowTable":
                reply.append(l.get("flows", 0))
            elif kind == "done":
                reply.append("DONE")
                del open_calls[seq]
            elif kind == "error":
                reply.append(f"error {l.get('status')}")
                del open_calls[seq]
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    kernel, twin, nlmon = (records(p) for p in sys.argv[1:])
    k_multi = check_parts("kernel recording", answer_parts(kernel))
    t_multi = check_parts("twin recording", answer_parts(twin))
    if k_multi != t_multi:
        sys.exit(f"multi-part GET_FLOWS answers differ: kernel {k_multi}, twin {t_multi}")

    k_api, t_api = api_replies(nlmon), api_replies(twin)
    if len(k_api) != len(t_api):
        sys.exit(f"GET_FLOWS requests: {len(k_api)} in the nlmon capture, {len(t_api)} in the twin's recording")
    for i, (k, t) in enumerate(zip(k_api, t_api)):
        if k != t:
            sys.exit(f"GET_FLOWS request {i}: kernel reply (table, flows per page) {k}, twin {t}")
        r = t[1]
        if not (r[-1:] == ["DONE"] and len(r) >= 2 or len(r) == 1 and str(r[0]).startswith("error")):
            sys.exit(f"GET_FLOWS request {i}: reply {r}: neither pages then DONE nor one error")

    # The multi-part answers' API replies: the i-th GET_FLOWS ENCAP call is the i-th request
    # (every GET_FLOWS of the workload names a unft device, so each is forwarded).
    order = list(answer_parts(twin))
    if len(order) != len(t_api):
        sys.exit(f"{len(order)} GET_FLOWS ENCAP calls for {len(t_api)} API requests")
    for seq, parts in t_multi.items():
        table, reply = t_api[order.index(seq)]
        pages = [n for n in reply if isinstance(n, int)]
        if reply[-1:] != ["DONE"] or len(pages) < 2 or sum(pages) != sum(parts):
            sys.exit(f"GET_FLOWS seq {seq}: {len(parts)} parts of {parts} flows, but API reply {reply}")
        print(f"    GET_FLOWS seq {seq} (table {table}): answer in {len(parts)} parts of {parts} flows "
              f"in both recordings; API reply {len(pages)} pages ({sum(pages)} flows) + DONE, "
              f"the same from the kernel and the twin")
        print(f"VMTEST METRIC fidelity_getflows_parts {len(parts)}")
        print(f"VMTEST METRIC fidelity_getflows_pages {len(pages)}")
    print(f"    {len(t_api)} GET_FLOWS replies, kernel (nlmon0) and twin alike, page by page")


if __name__ == "__main__":
    main()
