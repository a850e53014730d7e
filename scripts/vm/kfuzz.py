#!/usr/bin/env python3
"""Hostile messages against unft.ko (issue 7, kernel part), standard library only.

Seedable structured mutations of valid messages of both families (numbers from
kmod/include/uapi/net_flow.h, via nltest.py), sent over raw NETLINK_GENERIC sockets:

    kfuzz.py api      --seed S --n N    mutated API requests; a listener thread in this
                                        process answers what unft forwards (valid answers)
    kfuzz.py hairpin  --seed S --n N    mutated ENCAP answers to real pending calls, answers
                                        for unknown SEQs, from a port that is not the
                                        listener, mutated SET/GET_LISTENER
    kfuzz.py race     --seed S --n N    listener re-registration races: threads registering,
                                        closing and re-registering while calls are in flight
    kfuzz.py unpriv   --seed S --n N    the same mutated messages from a process without
                                        CAP_NET_ADMIN (setuid nobody; and a socket opened
                                        as root, used after the drop): EPERM for every
                                        message the core routes to an operation (a dump
                                        request on 6.2 and later: EOPNOTSUPP, see below)
    kfuzz.py client   --seed S --n N --set-hex F --del-hex F --mset-hex F --tag K
                                        one of several concurrent client processes against a
                                        running flow-table-hairpind: valid batches (must be
                                        ACKed) mixed with mutated requests

Every message that netlink routes to unft must get its final answer (ACK or NLMSG_ERROR) and
the sending call must return within timeout_ms plus a margin; errnos must be among the
expected ones. Messages the netlink core itself drops (nlmsg_len beyond the datagram,
shorter than a header) are counted as such after a ping on the same socket shows the socket
still answers. Counts per category and outcome are printed ("#   category  N  outcomes"), the
total per phase as "VMTEST METRIC kfuzz_<phase>_total N".
Exit status 1 on any violation.
"""

import argparse
import collections
import errno
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import nltest as N  # noqa: E402
from nltest import C, Sock, nla, u32, u64, string, nest, flag  # noqa: E402
from nltest import genl_message as message  # noqa: E402

NLA_F_NET_BYTEORDER = 0x4000
NLM_F_DUMP = 0x300
# Since 6.2 the genetlink core looks an operation up as do or dump before it checks the
# permission, and neither family has a dump: a dump request gets EOPNOTSUPP, privileged or not
# (6.1 checks the permission first: EPERM).
_rel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
DUMP_BEFORE_PERM = _rel >= (6, 2)

# ---- attribute trees: [type, nested, payload(bytes) | children(list)] ----


def tree(buf, depth=0):
    """Attributes as nodes; nests deeper than 64 stay raw bytes (flag kept in the type)."""
    out, off = [], 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("=HH", buf, off)
        if n < 4 or off + n > len(buf):
            break
        p = buf[off + 4:off + n]
        if t & N.NLA_F_NESTED and depth < 64:
            out.append([t & 0x3FFF, True, tree(p, depth + 1)])
        elif t & N.NLA_F_NESTED:
            out.append([t, False, p])
        else:
            out.append([t & 0x3FFF, False, p])
        off += (n + 3) & ~3
    return out


def flat(nodes):
    out = b""
    for t, nested, v in nodes:
        if nested:
            out += nla(t | N.NLA_F_NESTED, flat(v))
        else:
            out += nla(t, v)
    return out


def all_paths(nodes, prefix=()):
    """Every node as (parent list, index)."""
    out = []
    for i, nd in enumerate(nodes):
        out.append((nodes, i))
        if nd[1]:
            out += all_paths(nd[2], prefix + (i,))
    return out


def nests(nodes):
    out = [nodes]
    for nd in nodes:
        if nd[1]:
            out += nests(nd[2])
    return out


def deep_copy(nodes):
    return [[t, n, deep_copy(v) if n else v] for t, n, v in nodes]


# ---- the mutations, each (rng, nodes) -> (nodes, raw-edit or None) ----

EDGE_U32 = [0, 1, 2, 3, 7, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 4095, 4096]


def m_missing(rng, nodes):
    ps = all_paths(nodes)
    if ps:
        lst, i = rng.choice(ps)
        del lst[i]
    return nodes


def m_unknown(rng, nodes):
    lst = rng.choice(nests(nodes))
    t = rng.choice([0, rng.randint(1, 40), rng.randint(41, 0x3FFF), 0x3FFF])
    payload = rng.choice([b"", struct.pack("=I", rng.getrandbits(32)), os.urandom(rng.randint(1, 40))])
    if rng.random() < 0.3:
        node = [t, True, tree(payload)]          # an unknown nest
    else:
        node = [t, False, payload]
    lst.insert(rng.randint(0, len(lst)), node)
    return nodes


def m_duplicate(rng, nodes):
    ps = all_paths(nodes)
    if ps:
        lst, i = rng.choice(ps)
        lst.insert(i + 1, deep_copy([lst[i]])[0])
    return nodes


def m_scalar_len(rng, nodes):
    ps = [(l, i) for l, i in all_paths(nodes) if not l[i][1]]
    if ps:
        lst, i = rng.choice(ps)
        n = rng.choice([0, 1, 2, 3, 5, 6, 7, 8, 9, 12, 16, 255])
        lst[i][2] = (lst[i][2] + os.urandom(n))[:n]
    return nodes


def m_value(rng, nodes):
    ps = [(l, i) for l, i in all_paths(nodes) if not l[i][1] and len(l[i][2]) in (4, 8)]
    if ps:
        lst, i = rng.choice(ps)
        if len(lst[i][2]) == 4:
            lst[i][2] = struct.pack("=I", rng.choice(EDGE_U32 + [rng.getrandbits(32)]))
        else:
            lst[i][2] = struct.pack("=Q", rng.choice([0, 1, 2**63, 2**64 - 1, rng.getrandbits(64)]))
    return nodes


def m_string(rng, nodes):
    ps = [(l, i) for l, i in all_paths(nodes) if not l[i][1] and l[i][2].endswith(b"\0") and len(l[i][2]) > 1]
    if ps:
        lst, i = rng.choice(ps)
        lst[i][2] = rng.choice([lst[i][2][:-1], b"a\0b\0", b"x" * rng.randint(200, 3000) + b"\0", b"\0", b"\xff\xfe\0"])
    else:
        return m_scalar_len(rng, nodes)
    return nodes


def m_nested_flag(rng, nodes):
    ps = all_paths(nodes)
    if ps:
        lst, i = rng.choice(ps)
        nd = lst[i]
        if nd[1]:
            nd[1], nd[2] = False, flat(nd[2])          # a nest without NLA_F_NESTED
        else:
            nd[1], nd[2] = True, tree(nd[2]) if len(nd[2]) >= 4 else []   # a scalar as a nest
    return nodes


def m_deep(rng, nodes):
    """A chain of nests, hundreds or thousands deep, somewhere in the message."""
    lst = rng.choice(nests(nodes))
    depth = rng.choice([3, 11, 12, 50, 500, 4000, 16000])
    t = rng.choice([lst[0][0] if lst else 1, 1, 2, 3, 8])
    raw = u32(t, 1)
    room = 0xFFF0 - len(flat(nodes)) - 64               # every enclosing nla_len is 16 bits
    for _ in range(max(0, min(depth, room // 4))):
        raw = nla(t | N.NLA_F_NESTED, raw)
    lst.insert(rng.randint(0, len(lst)), [t | N.NLA_F_NESTED, False, raw[4:]])
    return nodes


def m_empty_nest(rng, nodes):
    ps = [(l, i) for l, i in all_paths(nodes) if l[i][1]]
    if ps:
        lst, i = rng.choice(ps)
        lst[i][2] = []
    return nodes


def m_byteorder(rng, nodes):
    ps = all_paths(nodes)
    if ps:
        lst, i = rng.choice(ps)
        lst[i][0] |= NLA_F_NET_BYTEORDER
    return nodes


def m_shuffle(rng, nodes):
    lst = rng.choice(nests(nodes))
    rng.shuffle(lst)
    return nodes


TREE_MUTATIONS = {
    "missing_attr": m_missing, "unknown_attr": m_unknown, "duplicate_attr": m_duplicate,
    "wrong_scalar_len": m_scalar_len, "edge_value": m_value, "bad_string": m_string,
    "nested_flag": m_nested_flag, "deep_nesting": m_deep, "empty_nest": m_empty_nest,
    "byteorder_flag": m_byteorder, "reordered": m_shuffle,
}


# Raw edits on the encoded attributes (lengths that lie).
def r_nla_len(rng, raw):
    """One attribute header's nla_len set to a lie (too short, too long, 0..3)."""
    offs, off = [], 0

    def walk(buf, base):
        o = 0
        while o + 4 <= len(buf):
            n, t = struct.unpack_from("=HH", buf, o)
            if n < 4 or o + n > len(buf):
                return
            offs.append((base + o, n))
            if t & N.NLA_F_NESTED:
                walk(buf[o + 4:o + n], base + o + 4)
            o += (n + 3) & ~3
    walk(raw, 0)
    if not offs:
        return raw
    at, n = rng.choice(offs)
    lie = rng.choice([0, 1, 3, 4, n - 1, n + 1, n + 4, n + 100, 0xFFFF])
    b = bytearray(raw)
    struct.pack_into("=H", b, at, max(0, min(lie, 0xFFFF)))
    return bytes(b)


def r_truncate(rng, raw):
    return raw[:rng.randint(0, max(0, len(raw) - 1))]


def r_bitflip(rng, raw):
    b = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        if b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def r_trailing(rng, raw):
    return raw + os.urandom(rng.choice([1, 2, 3, 4, 7, 16]))


RAW_MUTATIONS = {"nla_len_lie": r_nla_len, "truncated_attrs": r_truncate, "bit_flips": r_bitflip,
                 "trailing_bytes": r_trailing}

# Header mutations: (category, function(rng, fields) -> fields); fields = dict.
HEADER_MUTATIONS = ["cmd", "version", "nlmsg_flags", "nlmsg_len_short", "nlmsg_len_long", "no_genl_header",
                    "wrong_family", "reserved"]


# ---- results ----

class Tally:
    def __init__(self, phase):
        self.phase = phase
        self.count = collections.Counter()           # category -> messages
        self.outcome = collections.Counter()         # errno name -> messages
        self.by_cat = collections.defaultdict(collections.Counter)
        self.failures = []
        self.lock = threading.Lock()

    def add(self, cat, outcome):
        with self.lock:
            self.count[cat] += 1
            self.outcome[outcome] += 1
            self.by_cat[cat][outcome] += 1

    def fail(self, what):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(what)
            print(f"kfuzz: FAIL: {what}", flush=True)

    def report(self):
        total = sum(self.count.values())
        print(f"# kfuzz {self.phase}: {total} messages")
        for cat in sorted(self.count):
            outs = ", ".join(f"{k} {v}" for k, v in sorted(self.by_cat[cat].items()))
            print(f"#   {cat:22s} {self.count[cat]:6d}   {outs}")
        print(f"VMTEST METRIC kfuzz_{self.phase}_total {total}", flush=True)
        return not self.failures


def errname(e):
    if e == 0:
        return "ACK"
    if -e == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(-e, str(e))


# ---- sending one message and collecting what came back ----

PING_SEQ_BASE = 0x7F000000


class Client(Sock):
    def __init__(self, privileged=True):
        # SO_RCVBUFFORCE needs CAP_NET_ADMIN
        super().__init__(rcvbuf=4 << 20) if privileged else super().__init__(small_rcvbuf=1 << 20)
        self.pings = 0

    def exchange(self, raw, seq, budget):
        """Sends raw (may hold several messages) then an nlctrl ping; returns (finals by seq,
        other messages, seconds the send took). The ping is processed after raw (netlink runs a
        socket's messages in order inside sendmsg), so everything raw caused is queued by then."""
        t0 = time.monotonic()
        try:
            self.s.sendto(raw, (0, 0))
        except OSError as e:
            return {"sendto": e.errno}, [], time.monotonic() - t0
        dt = time.monotonic() - t0
        self.pings += 1
        pseq = PING_SEQ_BASE + self.pings
        ping = message(N.GENL_ID_CTRL, N.CTRL_CMD_GETFAMILY, 1, string(N.CTRL_ATTR_FAMILY_NAME, "nlctrl"),
                       N.F_REQUEST | N.F_ACK, pseq)
        self.s.sendto(ping, (0, 0))
        finals, others = {}, []
        # A GET_FLOWS dump ends at its NLMSG_DONE (never ACKed), which the kernel makes only
        # as the pages are read: its pages may come after the ping's ACK, so reading goes on
        # until every dump that began has ended.
        dumping = set()
        done = False
        deadline = time.monotonic() + budget
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer to the ping" if not done else f"dumps without NLMSG_DONE: {dumping}")
            got = self.recv(left)
            for m in got:
                if m.seq == pseq:
                    if m.type == N.NLMSG_ERROR:
                        done = True
                    continue
                if m.type == N.NLMSG_ERROR:
                    finals.setdefault(m.seq, m.error)
                    dumping.discard(m.seq)
                elif m.type == N.NLMSG_DONE:
                    finals.setdefault(m.seq, struct.unpack_from("=i", m.raw, 16)[0] if m.len >= 20 else 0)
                    dumping.discard(m.seq)
                else:
                    if m.flags & N.F_MULTI and m.seq not in finals:
                        dumping.add(m.seq)
                    others.append(m)
            if done and not dumping:
                return finals, others, dt


def sane(raw):
    """Does netlink route this single message to a family handler (and answer it)?"""
    if len(raw) < 16:
        return False
    n, _, flags, _, _ = struct.unpack_from("=IHHII", raw)
    if n < 16 or n > len(raw):
        return False
    return bool(flags & N.F_REQUEST) and bool(flags & N.F_ACK)


# ---- seeds: valid messages of both families ----

class Seeds:
    def __init__(self, if0, if1, extra_api=()):
        fl = [N.flow(1, 10, 5), N.flow(1, 11, 5), N.flow(2, 12, 6, port=3)]
        pre = N.preamble(if0)
        self.api = []
        for cmd in range(C.NFL_TABLE_CMD_GET_TABLE_GRAPH + 1):
            self.api.append((cmd, pre))
        self.api.append((C.NFL_TABLE_CMD_GET_TABLES, pre + N.tables_payload()))
        self.api.append((C.NFL_TABLE_CMD_GET_HEADERS, N.preamble(if1) + N.headers_payload()))
        self.api.append((C.NFL_TABLE_CMD_GET_FLOWS, pre + nest(C.NFL_FLOWS, u32(C.NFL_TABLE_FLOWS_TABLE, 1),
                                                         u32(C.NFL_TABLE_FLOWS_MINPRIO, 1),
                                                         u32(C.NFL_TABLE_FLOWS_MAXPRIO, 9))))
        for cmd in (C.NFL_TABLE_CMD_SET_FLOWS, C.NFL_TABLE_CMD_DEL_FLOWS):
            for strat in (None, C.NFL_FLOWS_ERROR_CONT_LOG, C.NFL_FLOWS_ERROR_ABORT_LOG):
                p = pre + (u32(C.NFL_FLOWS_ERROR, strat) if strat is not None else b"")
                self.api.append((cmd, p + nest(C.NFL_FLOWS, *fl)))
        for raw in extra_api:
            self.api.append((raw[16], raw[20:]))


# ---- a listener that answers what unft forwards ----

class AutoListener(threading.Thread):
    """Answers every ENCAP request with a valid answer (an empty GET_FLOWS page, results of 0,
    a discovery payload). Its own messages' answers must all be ACKs."""

    def __init__(self, tally, mutate=None):
        super().__init__(daemon=True)
        self.L = N.Listener()
        N.expect_ack(self.L.register())
        self.tally = tally
        self.stop = threading.Event()
        self.answered = 0
        self.mutate = mutate
        self.start()

    def valid_answer(self, e):
        if e.cmd in (C.NFL_TABLE_CMD_SET_FLOWS, C.NFL_TABLE_CMD_DEL_FLOWS):
            n = len(e.flows())
            return dict(status=0, attr=N.preamble(ifindex_of(e)),
                        results=[(i, 0) for i in range(n)])
        if e.cmd == C.NFL_TABLE_CMD_GET_FLOWS:
            return dict(status=0, attr=N.preamble(ifindex_of(e)) + nest(C.NFL_FLOWS, N.flow(1, 77, 1)))
        return dict(status=0, attr=N.preamble(ifindex_of(e)) + nest(C.NFL_TABLES))

    def run(self):
        while not self.stop.is_set():
            try:
                e = self.L.next_encap(timeout=0.2)
            except TimeoutError:
                continue
            except Exception as x:            # a malformed ENCAP request from unft is a failure
                self.tally.fail(f"listener: bad ENCAP request from unft: {x}")
                continue
            try:
                if e.part is not None and e.more:
                    continue                  # answer once, after the last part
                a = self.valid_answer(e)
                fin = self.L.answer(e.cmd, e.seq, a["status"], a.get("attr"), results=a.get("results"))
                if fin.error != 0:
                    self.tally.fail(f"listener: a valid answer to seq {e.seq} got {errname(fin.error)} {fin.ext_msg!r}")
                self.answered += 1
            except Exception as x:
                self.tally.fail(f"listener: {x}")

    def close(self):
        self.stop.set()
        self.join(5)
        self.L.close()


def ifindex_of(e):
    a = N.amap(e.attr or b"")
    return N.get_u32(a[C.NFL_IDENTIFIER]) if C.NFL_IDENTIFIER in a else 0


# ---- mutated API requests ----

API_OK = {"ACK", "EINVAL", "EOPNOTSUPP", "ENOENT", "ENOBUFS", "EMSGSIZE"}
# The genetlink core answers some policy failures with ERANGE (a binary too long, a flag with
# a payload, a nest shorter than a header): listed, and fixed in unft (see kmod/README.md).


def mutate_api(rng, seeds, api_id, seq):
    """One mutated API message: (category, raw bytes)."""
    cmd, payload = rng.choice(seeds.api)
    kind = rng.random()
    flags = N.F_REQUEST | N.F_ACK
    if kind < 0.55:
        cat = rng.choice(sorted(TREE_MUTATIONS))
        nodes = TREE_MUTATIONS[cat](rng, tree(payload))
        if rng.random() < 0.2:                          # a second mutation on top
            nodes = TREE_MUTATIONS[rng.choice(sorted(TREE_MUTATIONS))](rng, nodes)
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, flat(nodes), flags, seq)
    if kind < 0.8:
        cat = rng.choice(sorted(RAW_MUTATIONS))
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, RAW_MUTATIONS[cat](rng, payload), flags, seq)
    cat = rng.choice(HEADER_MUTATIONS)
    if cat == "cmd":
        return cat, message(api_id, rng.choice([8, 9, 10, 11, 12, 42, 255]), C.NFL_GENL_VERSION, payload, flags, seq)
    if cat == "version":
        return cat, message(api_id, cmd, rng.choice([0, 2, 255]), payload, flags, seq)
    if cat == "reserved":
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, payload, flags, seq, reserved=rng.getrandbits(16))
    if cat == "nlmsg_flags":
        f = rng.choice([0, N.F_REQUEST, N.F_ACK, N.F_REQUEST | N.F_ACK | NLM_F_DUMP, N.F_REQUEST | NLM_F_DUMP,
                        N.F_REQUEST | N.F_ACK | 0x800, 0xFFFF])
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, payload, f, seq)
    if cat == "nlmsg_len_short":
        body = 4 + len(payload)
        n = rng.choice([0, 1, 15, 16, 17, 19, 20, 21, 16 + body - 1, 16 + body - 4])
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, payload, flags, seq, nlmsg_len=max(0, n))
    if cat == "nlmsg_len_long":
        n = 16 + 4 + len(payload) + rng.choice([1, 4, 100, 65536])
        return cat, message(api_id, cmd, C.NFL_GENL_VERSION, payload, flags, seq, nlmsg_len=n)
    if cat == "no_genl_header":
        return cat, message(api_id, 0, 0, b"", flags, seq, genl=False) + os.urandom(rng.randint(0, 3))
    # wrong_family: an API payload sent to nfl_hairpin
    return cat, message(T.hp.id, rng.choice([0, 1, 2, 3, 9]), C.NFLH_GENL_VERSION, payload, flags, seq)


class T:
    api = hp = None


def phase_api(a, tally):
    rng = random.Random(a.seed)
    seeds = Seeds(a.if0, a.if1)
    lst = AutoListener(tally)
    cli = Client()
    budget = a.timeout_ms / 1000 + 3
    n = 0
    try:
        while n < a.n:
            # Sometimes several messages in one datagram (netlink runs them one by one).
            k = 1 if rng.random() < 0.85 else rng.randint(2, 4)
            msgs = []
            for _ in range(k):
                seq = N.next_seq()
                cat, raw = mutate_api(rng, seeds, T.api.id, seq)
                msgs.append((cat, seq, raw))
            cats = [c for c, _, _ in msgs]
            if k > 1:
                # only whole messages in a batch: a lying length would swallow the next one
                msgs = [(c, s, r) for c, s, r in msgs if sane(r) and struct.unpack_from("=I", r)[0] == len(r)]
                if not msgs:
                    continue
                cats = ["batched_" + c for c, _, _ in msgs]
                raw = b"".join(r + b"\0" * ((4 - len(r) % 4) % 4) for _, _, r in msgs)
            else:
                raw = msgs[0][2]
            finals, others, dt = cli.exchange(raw, msgs[0][1], budget)
            if "sendto" in finals:
                for c in cats:
                    tally.add(c, "sendto_" + errname(-finals["sendto"]))
                n += len(msgs)
                continue
            if dt > budget:
                tally.fail(f"{cats}: sendmsg took {dt:.2f} s (timeout_ms {a.timeout_ms})")
            for (c, seq, r), cat in zip(msgs, cats):
                if seq in finals:
                    out = errname(finals[seq])
                    ok = API_OK | ({"EPERM", "EBUSY"} if cat.endswith("wrong_family") else set())
                    # A second dump on the socket while one runs (several in one datagram).
                    if len(r) >= 8 and struct.unpack_from("=H", r, 6)[0] & NLM_F_DUMP == NLM_F_DUMP:
                        ok = ok | {"EBUSY"}
                    if out not in ok:
                        tally.fail(f"{cat}: unexpected {out} for {r[:64].hex()}")
                elif sane(r):
                    out = "UNANSWERED"
                    tally.fail(f"{cat}: no final answer for a routed request {r[:80].hex()}")
                else:
                    out = "dropped_by_core" if not others else "reply_without_ack"
                tally.add(cat, out)
            n += len(msgs)
    finally:
        cli.close()
        lst.close()
    print(f"# the listener answered {lst.answered} forwarded calls")
    if lst.answered == 0:
        tally.fail("no mutated request was forwarded: the mutations are all trivially rejected")


# ---- the hairpin leg: mutated answers to real pending calls ----

HP_OK = {"ACK", "EINVAL", "ENOENT", "EPERM", "EMSGSIZE", "EOPNOTSUPP", "EBUSY"}


def answer_tree(e, status=0):
    """A valid answer to ENCAP e as (payload bytes)."""
    ifx = ifindex_of(e)
    kids = [u32(C.NFLH_ENCAP_CMD_TYPE, C.NFLH_ENCAP_CMD_TYPE_NFL_COMMAND), u32(C.NFLH_ENCAP_CMD, e.cmd),
            u32(C.NFLH_ENCAP_STATUS, status), u64(C.NFLH_ENCAP_SEQ, e.seq)]
    if e.cmd in (C.NFL_TABLE_CMD_SET_FLOWS, C.NFL_TABLE_CMD_DEL_FLOWS):
        kids.append(nest(C.NFLH_ENCAP_RESULTS, *[nest(C.NFLH_RESULT, u32(C.NFLH_RESULT_INDEX, i),
                                                      u32(C.NFLH_RESULT_ERRNO, 0)) for i in range(len(e.flows()))]))
        kids.append(nest(C.NFLH_ENCAP_ATTR, N.preamble(ifx)))
    elif e.cmd == C.NFL_TABLE_CMD_GET_FLOWS:
        kids.append(nest(C.NFLH_ENCAP_ATTR, N.preamble(ifx) + nest(C.NFL_FLOWS, N.flow(1, 5, 1), N.flow(1, 6, 2))))
    else:
        kids.append(nest(C.NFLH_ENCAP_ATTR, N.preamble(ifx) + N.tables_payload()))
    return nest(C.NFLH_ENCAP, *kids)


def seq_node(nodes):
    for nd in nodes:
        if nd[0] == C.NFLH_ENCAP and nd[1]:
            for k in nd[2]:
                if k[0] == C.NFLH_ENCAP_SEQ:
                    return k
    return None


def mutate_answer(rng, e):
    payload = answer_tree(e)
    kind = rng.random()
    if kind < 0.6:
        cat = rng.choice(sorted(TREE_MUTATIONS))
        nodes = tree(payload)
        keep = seq_node(nodes)
        nodes = TREE_MUTATIONS[cat](rng, nodes)
        # mostly keep the SEQ right, so the mutation reaches the call
        s = seq_node(nodes)
        if s is not None and keep is not None and not s[1] and rng.random() < 0.8:
            s[2] = struct.pack("=Q", e.seq)
        return "answer_" + cat, flat(nodes), N.F_REQUEST | N.F_ACK
    if kind < 0.85:
        cat = rng.choice(sorted(RAW_MUTATIONS))
        return "answer_" + cat, RAW_MUTATIONS[cat](rng, payload), N.F_REQUEST | N.F_ACK
    nodes = tree(payload)
    enc = nodes[0][2]
    what = rng.choice(["parts", "status", "results"])
    if what == "parts":
        enc.append([C.NFLH_ENCAP_PART, False, struct.pack("=I", rng.choice([1, 2, 0xFFFFFFFF]))])
        if rng.random() < 0.5:
            enc.append([C.NFLH_ENCAP_MORE, False, b""])
    elif what == "status":
        for k in enc:
            if k[0] == C.NFLH_ENCAP_STATUS:
                k[2] = struct.pack("=I", rng.choice([4095, 4096, 0xFFFFFFFF, 22, 17]))
        enc.append([C.NFLH_ENCAP_ERROR_MSG, False, rng.choice([b"x" * 1000 + b"\0", b"no nul", b"\0"])])
    else:
        enc.append([C.NFLH_ENCAP_RESULTS, True, [[C.NFLH_RESULT, True, [
            [C.NFLH_RESULT_INDEX, False, struct.pack("=I", rng.choice([0, 3, 1000, 0xFFFFFFFF]))],
            [C.NFLH_RESULT_ERRNO, False, struct.pack("=I", rng.choice([0, 17, 4096, 0xFFFFFFFF]))]]]]])
    return "answer_" + what, flat(nodes), N.F_REQUEST | N.F_ACK


def phase_hairpin(a, tally):
    rng = random.Random(a.seed ^ 0x5A5A)
    seeds = Seeds(a.if0, a.if1)
    L = N.Listener()
    N.expect_ack(L.register())
    stranger = Client()
    budget = a.timeout_ms / 1000 + 3
    n = 0
    calls = 0
    try:
        while n < a.n:
            cmd, payload = rng.choice(seeds.api[:len(seeds.api)])
            c = N.Call(cmd, payload)
            calls += 1
            try:
                e = L.next_encap(timeout=budget)
            except TimeoutError:
                tally.fail(f"cmd {cmd}: no ENCAP request reached the listener")
                c.result(budget + 5)
                continue
            while e.more:                      # a request in parts: take them all
                e = L.next_encap(timeout=budget)
            # 1..4 hostile messages for this call, then a valid answer (refused if the call ended).
            for _ in range(rng.randint(1, 4)):
                which = rng.random()
                seq = N.next_seq()
                if which < 0.6:
                    cat, body, flags = mutate_answer(rng, e)
                    raw = message(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION, body, flags, seq)
                    sock = L
                elif which < 0.7:
                    cat = "answer_unknown_seq"
                    bogus = rng.choice([0, e.seq + 1000, 2**64 - 1, rng.getrandbits(64)])
                    raw = message(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION,
                                  answer_tree(e).replace(struct.pack("=Q", e.seq), struct.pack("=Q", bogus)),
                                  N.F_REQUEST | N.F_ACK, seq)
                    sock = L
                elif which < 0.8:
                    cat = "answer_not_listener"
                    raw = message(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION, answer_tree(e),
                                  N.F_REQUEST | N.F_ACK, seq)
                    sock = stranger
                elif which < 0.9:
                    cat = "listener_cmd_mutated"
                    lcmd = rng.choice([C.NFLH_CMD_SET_LISTENER, C.NFLH_CMD_GET_LISTENER, 0, 4, 200])
                    body = nest(C.NFLH_LISTENER, u32(C.NFLH_LISTENER_ATTR_TYPE, C.NFLH_LISTENER_TYPE_ENCAP),
                                u32(C.NFLH_LISTENER_ATTR_PORT, rng.getrandbits(32)))
                    m = rng.choice(sorted(TREE_MUTATIONS))
                    body = flat(TREE_MUTATIONS[m](rng, tree(body)))
                    raw = message(T.hp.id, lcmd, C.NFLH_GENL_VERSION, body, N.F_REQUEST | N.F_ACK, seq)
                    sock = rng.choice([L, stranger])
                else:
                    cat = "encap_as_request"
                    raw = message(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION,
                                  N.encap_request_bytes(e.cmd, e.seq, N.preamble(a.if0)), N.F_REQUEST | N.F_ACK, seq)
                    sock = rng.choice([L, stranger])
                n += 1
                finals, others, dt = exchange_on(sock, raw, budget)
                if seq in finals:
                    out = errname(finals[seq])
                    if out not in HP_OK:
                        tally.fail(f"{cat}: unexpected {out}")
                    if cat == "answer_not_listener" and out != "EPERM":
                        tally.fail(f"answer from a stranger: {out}, expected EPERM")
                    if cat == "answer_unknown_seq" and out not in ("ENOENT",):
                        tally.fail(f"answer for an unknown SEQ: {out}, expected ENOENT")
                elif sane(raw):
                    out = "UNANSWERED"
                    tally.fail(f"{cat}: no final answer {raw[:80].hex()}")
                else:
                    out = "dropped_by_core"
                tally.add(cat, out)
                # The listener's own socket must not have lost its registration.
            # The valid answer: ACK if the call still waited, ENOENT if a mutation ended it.
            seq = N.next_seq()
            raw = message(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION, answer_tree(e), N.F_REQUEST | N.F_ACK, seq)
            finals, _, _ = exchange_on(L, raw, budget)
            out = errname(finals.get(seq, -9999))
            # EINVAL: a mutation started a multi-part answer this one does not continue.
            if out not in ("ACK", "ENOENT", "EINVAL"):
                tally.fail(f"the valid answer after the mutations: {out}")
            tally.add("valid_answer_after", out)
            replies, fin = c.result(budget + 5)
            if fin is None:
                tally.fail("a call got no final answer")
            else:
                tally.add("api_call_outcome", errname(fin.error))
                # Any errno a mutated STATUS carried may come back; nothing outside -4095..0.
                if not -4095 <= fin.error <= 0:
                    tally.fail(f"call {cmd}: outcome {errname(fin.error)} {fin.ext_msg!r}")
            c.sock.close()
            n += 1
    finally:
        stranger.close()
        L.close()
    print(f"# {calls} calls were hairpinned during the hairpin phase")


def exchange_on(sock, raw, budget):
    """Client.exchange for any Sock (the listener's own socket included)."""
    if not hasattr(sock, "pings"):
        sock.pings = 0
    return Client.exchange(sock, raw, 0, budget)


# ---- listener re-registration races ----

def phase_race(a, tally):
    rng = random.Random(a.seed ^ 0xA5A5)
    stop = threading.Event()
    budget = a.timeout_ms / 1000 + 3
    registered = collections.Counter()

    def registrar(k):
        r = random.Random(a.seed * 31 + k)
        while not stop.is_set():
            L = N.Listener()
            try:
                fin = L.register()
                out = errname(fin.error)
                registered[out] += 1
                tally.add("set_listener_race", out)
                if out not in ("ACK", "EBUSY"):
                    tally.fail(f"SET_LISTENER in a race: {out}")
                if fin.error:
                    time.sleep(r.uniform(0, 0.01))
                if fin.error == 0:
                    # answer a few calls, sometimes none, then go away
                    end = time.monotonic() + r.uniform(0.0, 0.15)
                    while time.monotonic() < end:
                        try:
                            e = L.next_encap(timeout=0.02)
                        except TimeoutError:
                            continue
                        except Exception:
                            continue
                        if e.more or r.random() < 0.3:
                            continue
                        try:
                            f = L.answer(e.cmd, e.seq, 0, N.preamble(ifindex_of(e)),
                                         results=[(i, 0) for i in range(len(e.flows()))]
                                         if e.cmd in (C.NFL_TABLE_CMD_SET_FLOWS, C.NFL_TABLE_CMD_DEL_FLOWS) else None)
                            tally.add("answer_in_race", errname(f.error))
                        except Exception as x:
                            tally.fail(f"answer in the race: {x}")
            finally:
                L.close()

    def caller(k):
        r = random.Random(a.seed * 17 + k)
        seeds = Seeds(a.if0, a.if1)
        s = Client()
        while not stop.is_set():
            cmd, payload = r.choice(seeds.api)
            t0 = time.monotonic()
            try:
                _, fin = N.api_call(s, cmd, payload, timeout=budget)
            except TimeoutError:
                tally.fail(f"race: call {cmd} unanswered after {budget} s")
                continue
            dt = time.monotonic() - t0
            out = errname(fin.error)
            tally.add("call_in_race", out)
            if out not in ("ACK", "ENOTCONN", "ETIMEDOUT", "EINVAL"):
                tally.fail(f"race: call outcome {out} {fin.ext_msg!r}")
            if dt > budget:
                tally.fail(f"race: call took {dt:.2f} s")
        s.close()

    ths = [threading.Thread(target=registrar, args=(k,), daemon=True) for k in range(3)]
    ths += [threading.Thread(target=caller, args=(k,), daemon=True) for k in range(3)]
    for t in ths:
        t.start()
    t_end = time.monotonic() + a.seconds
    while time.monotonic() < t_end and tally.count["call_in_race"] < a.n:
        time.sleep(0.1)
    stop.set()
    for t in ths:
        t.join(budget + 5)
        if t.is_alive():
            tally.fail("a race thread did not finish")
    print(f"# registrations: {dict(registered)}")
    if registered["ACK"] < 2:
        tally.fail("the race never re-registered a listener")


# ---- without CAP_NET_ADMIN ----

def phase_unpriv(a, tally):
    rng = random.Random(a.seed ^ 0x3C3C)
    seeds = Seeds(a.if0, a.if1)
    pre_sock = Client()          # opened as root, used after the drop
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with open("/proc/self/status") as f:
                eff = [l for l in f if l.startswith("CapEff")][0].split()[1]
            if int(eff, 16) != 0:
                raise SystemExit(f"capabilities left after setuid: {eff}")
            mine = Client(privileged=False)
            bad = []
            counts = collections.Counter()
            for i in range(a.n):
                sock = mine if i % 2 == 0 else pre_sock
                label = "own_socket" if sock is mine else "root_opened_socket"
                seq = N.next_seq()
                if rng.random() < 0.6:
                    cat, raw = mutate_api(rng, seeds, T.api.id, seq)
                    fam = "api"
                else:
                    cmd = rng.choice([C.NFLH_CMD_SET_LISTENER, C.NFLH_CMD_GET_LISTENER, C.NFLH_CMD_ENCAP])
                    body = rng.choice([nest(C.NFLH_LISTENER, u32(C.NFLH_LISTENER_ATTR_TYPE, 1)),
                                       nest(C.NFLH_ENCAP, u32(C.NFLH_ENCAP_STATUS, 0), u64(C.NFLH_ENCAP_SEQ, 1)),
                                       b""])
                    cat, raw, fam = "hairpin_cmd", message(T.hp.id, cmd, 1, body, N.F_REQUEST | N.F_ACK, seq), "hairpin"
                finals, _, _ = sock.exchange(raw, seq, 5)
                out = errname(finals[seq]) if seq in finals else ("UNANSWERED" if sane(raw) else "dropped_by_core")
                counts[f"{fam}_{label} {out}"] += 1
                # Routed to an operation (a known cmd with a genl header): EPERM, nothing else.
                routed = sane(raw) and len(raw) >= 20 and struct.unpack_from("=I", raw)[0] >= 20
                ftype = struct.unpack_from("=H", raw, 4)[0] if len(raw) >= 20 else 0
                known = len(raw) >= 20 and ((ftype == T.api.id and raw[16] <= C.NFL_CMD_MAX) or
                                            (ftype == T.hp.id and raw[16] in (C.NFLH_CMD_SET_LISTENER,
                                                                              C.NFLH_CMD_GET_LISTENER,
                                                                              C.NFLH_CMD_ENCAP)))
                dump = len(raw) >= 16 and (struct.unpack_from("=H", raw, 6)[0] & NLM_F_DUMP) == NLM_F_DUMP
                want = "EOPNOTSUPP" if dump and DUMP_BEFORE_PERM else "EPERM"
                if routed and known and out != want:
                    bad.append(f"{cat}: {out} without CAP_NET_ADMIN, expected {want}")
                if out == "ACK" and len(raw) >= 16 and struct.unpack_from("=H", raw, 6)[0] & N.F_REQUEST:
                    bad.append(f"{cat}: ACK without CAP_NET_ADMIN")
            os.write(w, repr((dict(counts), bad[:20])).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    pre_sock.close()
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        tally.fail("the unprivileged child failed")
        return
    counts, bad = eval(data.decode(), {"__builtins__": {}})
    for k, v in counts.items():
        cat, out = k.split(" ")
        for _ in range(v):
            tally.add(cat, out)
    for b in bad:
        tally.fail(b)


# ---- one concurrent client process against the real daemon ----

def with_strategy(raw, strategy):
    """raw (a SET/DEL message) with FLOWS_ERROR = strategy."""
    nodes = tree(raw[20:])
    for nd in nodes:
        if nd[0] == C.NFL_FLOWS_ERROR:
            nd[2] = struct.pack("=I", strategy)
            break
    else:
        nodes.insert(2, [C.NFL_FLOWS_ERROR, False, struct.pack("=I", strategy)])
    return raw[:20] + flat(nodes)


def phase_client(a, tally):
    rng = random.Random(a.seed * 1000 + a.tag)
    seeds = Seeds(a.if0, a.if1)
    sets = [bytes.fromhex(l.strip()) for l in open(a.set_hex) if l.strip()]
    dels = [bytes.fromhex(l.strip()) for l in open(a.del_hex) if l.strip()]
    msets = [bytes.fromhex(l.strip()) for l in open(a.mset_hex) if l.strip()] if a.mset_hex else []
    cli = Client()
    budget = a.timeout_ms / 1000 + 3
    n = 0
    rounds = 0
    # A DEL_FLOWS with CONTINUE clears this process's uids whatever a mutated batch installed.
    cleanup = [with_strategy(r, C.NFL_FLOWS_ERROR_CONTINUE) for r in dels]
    while n < a.n:
        # A valid batch (this process's own uids): ACK, then deleted: ACK.
        for raws, cat in ((cleanup, "valid_cleanup_del"), (sets, "valid_set_flows"), (dels, "valid_del_flows")):
            for raw in raws:
                seq = N.next_seq()
                msg = message(T.api.id, raw[16], raw[17], raw[20:], N.F_REQUEST | N.F_ACK, seq)
                finals, _, dt = cli.exchange(msg, seq, budget)
                out = errname(finals.get(seq, -9999))
                tally.add(cat, out)
                n += 1
                if out != "ACK":
                    tally.fail(f"client {a.tag}: {cat} got {out}")
        rounds += 1
        for _ in range(10):
            seq = N.next_seq()
            if rng.random() < 0.3:
                cmd, payload = rng.choice(seeds.api[:6])
                raw, cat = message(T.api.id, cmd, C.NFL_GENL_VERSION, payload, N.F_REQUEST | N.F_ACK, seq), "valid_discovery"
            else:
                cat, raw = mutate_api(rng, seeds, T.api.id, seq)
                # mutate real batches too (the daemon sees what unft forwards): SET_FLOWS of
                # uids no valid batch uses (a mutated one may install flows, in any table)
                if rng.random() < 0.3 and msets:
                    base = rng.choice(msets)
                    nodes = TREE_MUTATIONS[(c := rng.choice(sorted(TREE_MUTATIONS)))](rng, tree(base[20:]))
                    raw, cat = message(T.api.id, base[16], C.NFL_GENL_VERSION, flat(nodes), N.F_REQUEST | N.F_ACK, seq), "batch_" + c
            finals, _, dt = cli.exchange(raw, seq, budget)
            if seq in finals:
                out = errname(finals[seq])
            elif sane(raw):
                out = "UNANSWERED"
                tally.fail(f"client {a.tag}: {cat}: no final answer")
            else:
                out = "dropped_by_core"
            if cat.startswith("valid") and out != "ACK":
                tally.fail(f"client {a.tag}: {cat} got {out}")
            if out in ("ETIMEDOUT", "ENOTCONN", "ESHUTDOWN", "EINTR", "ENOMEM"):
                tally.fail(f"client {a.tag}: {cat} got {out} (daemon running)")
            if dt > budget:
                tally.fail(f"client {a.tag}: {cat} took {dt:.2f} s")
            tally.add(cat, out)
            n += 1
    cli.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["api", "hairpin", "race", "unpriv", "client"])
    p.add_argument("--header", default=os.path.join(here, "../../kmod/include/uapi/net_flow.h"))
    p.add_argument("--dev", default="unft0")
    p.add_argument("--dev2", default="unft1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=20, help="race: at most this long")
    p.add_argument("--set-hex")
    p.add_argument("--del-hex")
    p.add_argument("--mset-hex", help="client: SET_FLOWS messages to mutate (uids no valid batch uses)")
    p.add_argument("--tag", type=int, default=0)
    a = p.parse_args()
    N.load_header(a.header)
    for name, dev in (("if0", a.dev), ("if1", a.dev2)):
        with open(f"/sys/class/net/{dev}/ifindex") as f:
            setattr(a, name, int(f.read()))
    with open(N.PARAM_TIMEOUT) as f:
        a.timeout_ms = int(f.read())
    s = Sock()
    T.api = N.T.api = N.resolve(s, C.NFL_GENL_NAME)
    T.hp = N.T.hp = N.resolve(s, C.NFLH_GENL_NAME)
    s.close()
    tally = Tally(a.phase if a.phase != "client" else f"client{a.tag}")
    print(f"# kfuzz {a.phase} seed {a.seed} n {a.n} timeout_ms {a.timeout_ms}", flush=True)
    t0 = time.monotonic()
    try:
        {"api": phase_api, "hairpin": phase_hairpin, "race": phase_race, "unpriv": phase_unpriv,
         "client": phase_client}[a.phase](a, tally)
    except Exception as x:
        traceback.print_exc()
        tally.fail(f"{a.phase}: {x}")
    ok = tally.report()
    print(f"# kfuzz {a.phase}: {time.monotonic() - t0:.1f} s, {'PASS' if ok else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
