#!/usr/bin/env python3
"""Kernel test client for unft.ko (spec/two-leg-contract.md), standard library only.

Plays both sides of the hairpin over raw NETLINK_GENERIC sockets: the Flow Table API
client (net_flow_nl) on one socket per call, the listener (nfl_hairpin) on another,
with threads where a call blocks until the listener answers. Family ids are resolved
through nlctrl; every net_flow number comes from kmod/include/uapi/net_flow.h, parsed
at start-up (no number is copied here).

    nltest.py [--header H] [--dev unft0 --dev2 unft1]     run the tests, TAP-like output
    nltest.py listen --ready FILE                         register as listener, then sleep
    nltest.py call --expect ERRNO                         one GET_TABLES that must fail so

Exit status 0 when every test passed.
"""

import argparse
import errno
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback

# ---- netlink and generic-netlink constants (linux/netlink.h, linux/genetlink.h) ----
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33
NLMSG_ERROR, NLMSG_DONE = 2, 3
F_REQUEST, F_MULTI, F_ACK = 0x1, 0x2, 0x4
F_CAPPED, F_ACK_TLVS = 0x100, 0x200
F_DUMP = 0x300              # NLM_F_ROOT | NLM_F_MATCH
NLA_F_NESTED = 0x8000
NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS = 1, 2
NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MISS_NEST = 5, 6
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_VERSION = 1, 2, 3
CTRL_ATTR_MAXATTR, CTRL_ATTR_OPS = 5, 6
CTRL_ATTR_OP_ID, CTRL_ATTR_OP_FLAGS = 1, 2
GENL_ADMIN_PERM = 0x01
NLMSG_HDRLEN, GENL_HDRLEN = 16, 4

DEBUGFS = "/sys/kernel/debug/unft"
PARAM_TIMEOUT = "/sys/module/unft/parameters/timeout_ms"


class C:
    """The constants of net_flow.h, filled by load_header()."""


def load_header(path):
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    env = {}
    for m in re.finditer(r"^#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*$", text, re.M):
        name, val = m.group(1), m.group(2)
        if val.startswith('"'):
            env[name] = val.strip('"')
        elif re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", val):
            env[name] = int(val, 0)
    for m in re.finditer(r"enum\s*\w*\s*\{(.*?)\};", text, re.S):
        value = -1
        for entry in m.group(1).split(","):
            entry = entry.strip()
            if not entry:
                continue
            if "=" in entry:
                name, expr = (x.strip() for x in entry.split("=", 1))
                if not re.fullmatch(r"[\w\s()+\-<|]+", expr):
                    raise ValueError(f"unexpected enum expression {expr!r}")
                value = eval(expr, {"__builtins__": {}}, dict(env))
            else:
                name = entry
                value += 1
            env[name] = value
    for k, v in env.items():
        setattr(C, k, v)
    for need in ("NFL_GENL_NAME", "NFLH_GENL_NAME", "NFL_FLOWS", "NFLH_ENCAP_SEQ",
                 "NFL_TABLE_CMD_DEL_FLOWS", "NFLH_CMD_ENCAP", "NFL_FLOWS_ERROR_CONT_LOG"):
        if not hasattr(C, need):
            raise SystemExit(f"nltest: {need} not found in {path}")


# ---- attributes ----

def nla(t, payload=b""):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def u32(t, v):
    return nla(t, struct.pack("=I", v))


def u64(t, v):
    return nla(t, struct.pack("=Q", v))


def string(t, s):
    return nla(t, s.encode() + b"\0")


def flag(t):
    return nla(t)


def nest(t, *kids):
    return nla(t | NLA_F_NESTED, b"".join(kids))


def parse(buf):
    """[(type, payload, raw)] with raw = the attribute padded, as on the wire."""
    out, off = [], 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("=HH", buf, off)
        if n < 4 or off + n > len(buf):
            raise ValueError(f"bad attribute at {off}: len {n}")
        out.append((t & 0x3FFF, buf[off + 4:off + n], buf[off:off + ((n + 3) & ~3)]))
        off += (n + 3) & ~3
    return out


def amap(buf):
    d = {}
    for t, p, _ in parse(buf):
        d.setdefault(t, p)
    return d


def get_u32(p):
    return struct.unpack("=I", p)[0]


def get_u64(p):
    return struct.unpack("=Q", p)[0]


def inner(flow_raw):
    """The payload of a padded attribute."""
    n = struct.unpack_from("=H", flow_raw)[0]
    return flow_raw[4:n]


# ---- messages and sockets ----

class Msg:
    def __init__(self, raw):
        self.raw = raw
        self.len, self.type, self.flags, self.seq, self.pid = struct.unpack_from("=IHHII", raw)
        self.error = None
        self.ext_msg = None
        self.ext_offs = None
        self.miss_type = self.miss_nest = None
        self.cmd = self.version = None
        self.payload = b""
        if self.type == NLMSG_ERROR:
            self.error = struct.unpack_from("=i", raw, 16)[0]
            olen = struct.unpack_from("=I", raw, 20)[0]
            off = 20 + NLMSG_HDRLEN
            if not (self.flags & F_CAPPED) and self.error != 0:
                off = 20 + ((olen + 3) & ~3)
            if self.flags & F_ACK_TLVS:
                tl = amap(raw[off:self.len])
                if NLMSGERR_ATTR_MSG in tl:
                    self.ext_msg = tl[NLMSGERR_ATTR_MSG].rstrip(b"\0").decode()
                if NLMSGERR_ATTR_OFFS in tl:
                    self.ext_offs = get_u32(tl[NLMSGERR_ATTR_OFFS])
                if NLMSGERR_ATTR_MISS_TYPE in tl:
                    self.miss_type = get_u32(tl[NLMSGERR_ATTR_MISS_TYPE])
                if NLMSGERR_ATTR_MISS_NEST in tl:
                    self.miss_nest = get_u32(tl[NLMSGERR_ATTR_MISS_NEST])
        elif self.type == NLMSG_DONE:
            self.payload = raw[16:self.len]
            # A failed dump: its negative errno, then (NLM_F_ACK_TLVS) its text.
            if self.len >= 20:
                self.error = struct.unpack_from("=i", raw, 16)[0]
            if self.flags & F_ACK_TLVS:
                tl = amap(raw[20:self.len])
                if NLMSGERR_ATTR_MSG in tl:
                    self.ext_msg = tl[NLMSGERR_ATTR_MSG].rstrip(b"\0").decode()
        elif self.type >= 16:
            self.cmd, self.version = raw[16], raw[17]
            self.payload = raw[20:self.len]

    def __repr__(self):
        if self.type == NLMSG_ERROR:
            return f"<ERROR {self.error} seq {self.seq} msg {self.ext_msg!r}>"
        return f"<msg type {self.type} cmd {self.cmd} flags {self.flags:#x} seq {self.seq} len {self.len}>"


_seq_lock = threading.Lock()
_seq = [int(time.time()) & 0xFFFF | 0x10000]


def next_seq():
    with _seq_lock:
        _seq[0] += 1
        return _seq[0]


def genl_message(ftype, cmd, version, payload, flags=F_REQUEST | F_ACK, seq=0, *, nlmsg_len=None, reserved=0,
                 genl=True):
    """One generic netlink message: nlmsghdr, genlmsghdr (unless `genl` is false), `payload`.
    `nlmsg_len` and `reserved` may lie (kfuzz.py's header mutations); by default they are right."""
    body = (struct.pack("=BBH", cmd, version, reserved) if genl else b"") + payload
    n = NLMSG_HDRLEN + len(body) if nlmsg_len is None else nlmsg_len
    return struct.pack("=IHHII", n, ftype, flags, seq, 0) + body


class Sock:
    def __init__(self, rcvbuf=None, small_rcvbuf=None):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        if small_rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, small_rcvbuf)
        self.s.bind((0, 0))
        self.port = self.s.getsockname()[0]
        self.backlog = []

    def close(self):
        self.s.close()

    def send(self, ftype, cmd, version, payload, flags=F_REQUEST | F_ACK, seq=None):
        seq = next_seq() if seq is None else seq
        self.s.sendto(genl_message(ftype, cmd, version, payload, flags, seq), (0, 0))
        return seq

    def recv(self, timeout):
        self.s.settimeout(timeout)
        try:
            data = self.s.recv(1 << 18)
        except socket.timeout:
            return []
        msgs, off = [], 0
        while off + 16 <= len(data):
            n = struct.unpack_from("=I", data, off)[0]
            if n < 16:
                break
            msgs.append(Msg(data[off:off + n]))
            off += (n + 3) & ~3
        return msgs

    def next(self, pred, timeout=10.0):
        for i, m in enumerate(self.backlog):
            if pred(m):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching netlink message")
            for m in self.recv(left):
                self.backlog.append(m)
            for i, m in enumerate(self.backlog):
                if pred(m):
                    return self.backlog.pop(i)

    def transact(self, ftype, cmd, version, payload, flags=F_REQUEST | F_ACK, timeout=20.0):
        """Sends a request; returns (replies before the final message, that message): the
        NLMSG_ERROR, or for a dump (F_DUMP) its NLMSG_DONE (a dump is never ACKed)."""
        seq = self.send(ftype, cmd, version, payload, flags)
        replies = []
        while True:
            m = self.next(lambda m: m.seq == seq, timeout)
            if m.type == NLMSG_ERROR or (m.type == NLMSG_DONE and flags & F_DUMP == F_DUMP):
                return replies, m
            replies.append(m)

    def drain(self, timeout=0.2):
        out = list(self.backlog)
        self.backlog = []
        while True:
            got = self.recv(timeout)
            if not got:
                return out
            out += got


class Family:
    def __init__(self, fid, version, maxattr, ops):
        self.id, self.version, self.maxattr, self.ops = fid, version, maxattr, ops


GENL_NAMSIZ = 16


def genl_name(name):
    """The name the kernel can register: GENL_NAMSIZ counts the NUL, so at most 15 characters
    ("nfl_hairpin" has 16; unft registers it cut, see kmod/unft_hairpin.c)."""
    return name[:GENL_NAMSIZ - 1]


def resolve(sock, name):
    name = genl_name(name)
    replies, fin = sock.transact(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1,
                                 string(CTRL_ATTR_FAMILY_NAME, name))
    if fin.error:
        raise AssertionError(f"nlctrl: family {name}: error {fin.error}")
    a = amap(replies[0].payload)
    ops = {}
    for _, op, _ in parse(a.get(CTRL_ATTR_OPS, b"")):
        o = amap(op)
        ops[get_u32(o[CTRL_ATTR_OP_ID])] = get_u32(o.get(CTRL_ATTR_OP_FLAGS, b"\0\0\0\0"))
    return Family(struct.unpack("=H", a[CTRL_ATTR_FAMILY_ID][:2])[0], get_u32(a[CTRL_ATTR_VERSION]),
                  get_u32(a[CTRL_ATTR_MAXATTR]), ops)


# ---- the two families ----

class T:
    """Test state shared by the tests."""
    api = hp = None
    if0 = if1 = None
    listener = None
    next_seq = 1          # the SEQ the next forwarded call must carry


def preamble(ifindex):
    return u32(C.NFL_IDENTIFIER_TYPE, C.NFL_IDENTIFIER_IFINDEX) + u32(C.NFL_IDENTIFIER, ifindex)


def api_call(sock, cmd, payload, flags=F_REQUEST | F_ACK, timeout=20.0):
    return sock.transact(T.api.id, cmd, C.NFL_GENL_VERSION, payload, flags, timeout)


def field_ref(instance, header, field, width, value, mask):
    typ = {1: C.NFL_FIELD_REF_ATTR_TYPE_U8, 2: C.NFL_FIELD_REF_ATTR_TYPE_U16,
           4: C.NFL_FIELD_REF_ATTR_TYPE_U32, 8: C.NFL_FIELD_REF_ATTR_TYPE_U64}[width]
    return nest(C.NFL_FIELD_REF,
                u32(C.NFL_FIELD_REF_INSTANCE, instance), u32(C.NFL_FIELD_REF_HEADER, header),
                u32(C.NFL_FIELD_REF_FIELD, field), u32(C.NFL_FIELD_REF_MASK_TYPE, C.NFL_MASK_TYPE_MASK),
                u32(C.NFL_FIELD_REF_TYPE, typ),
                nla(C.NFL_FIELD_REF_VALUE, value.to_bytes(width, "little")),
                nla(C.NFL_FIELD_REF_MASK, mask.to_bytes(width, "little")))


def flow(table, uid, prio, port=2, error=None):
    kids = []
    if error is not None:
        kids.append(u32(C.NFL_ATTR_ERROR, error))
    kids += [u32(C.NFL_ATTR_TABLE, table), u32(C.NFL_ATTR_UID, uid), u32(C.NFL_ATTR_PRIORITY, prio),
             nest(C.NFL_ATTR_MATCHES, field_ref(1, 1, 3, 2, 0x0800, 0xFFFF)),
             nest(C.NFL_ATTR_ACTIONS,
                  nest(C.NFL_ACTION, u32(C.NFL_ACTION_ATTR_UID, 5),
                       nest(C.NFL_ACTION_ATTR_SIGNATURE,
                            nest(C.NFL_ACTION_ARG, u32(C.NFL_ACTION_ARG_TYPE, C.NFL_ACTION_ARG_TYPE_U32),
                                 nla(C.NFL_ACTION_ARG_VALUE, struct.pack("=I", port))))))]
    return nest(C.NFL_FLOW, *kids)


def tables_payload():
    return nest(C.NFL_TABLES, nest(
        C.NFL_TABLE, string(C.NFL_TABLE_ATTR_NAME, "acl"), u32(C.NFL_TABLE_ATTR_UID, 1),
        u32(C.NFL_TABLE_ATTR_SOURCE, 1), u32(C.NFL_TABLE_ATTR_APPLY, 1),
        u32(C.NFL_TABLE_ATTR_SIZE, 0xFFFFFFFF),
        nest(C.NFL_TABLE_ATTR_MATCHES, nest(
            C.NFL_FIELD_REF, u32(C.NFL_FIELD_REF_INSTANCE, 1), u32(C.NFL_FIELD_REF_HEADER, 1),
            u32(C.NFL_FIELD_REF_FIELD, 3), u32(C.NFL_FIELD_REF_MASK_TYPE, C.NFL_MASK_TYPE_EXACT),
            u32(C.NFL_FIELD_REF_TYPE, C.NFL_FIELD_REF_ATTR_TYPE_UNSPEC))),
        nest(C.NFL_TABLE_ATTR_ACTIONS, u32(C.NFL_ACTION_ATTR_UID, 5))))


def headers_payload():
    return nest(C.NFL_HEADERS, nest(
        C.NFL_HEADER, string(C.NFL_HEADER_ATTR_NAME, "ethernet"), u32(C.NFL_HEADER_ATTR_UID, 1),
        nest(C.NFL_HEADER_ATTR_FIELDS,
             nest(C.NFL_FIELD, string(C.NFL_FIELD_ATTR_NAME, "ethertype"),
                  u32(C.NFL_FIELD_ATTR_UID, 3), u32(C.NFL_FIELD_ATTR_BITWIDTH, 16)))))


class Encap:
    """An ENCAP message as the listener received it."""

    def __init__(self, m):
        self.msg = m
        top = parse(m.payload)
        if len(top) != 1 or top[0][0] != C.NFLH_ENCAP:
            raise AssertionError(f"ENCAP request without exactly one ENCAP attribute: {top}")
        self.raw = m.payload
        self.attrs = parse(top[0][1])
        d = {}
        for t, p, _ in self.attrs:
            if t in d:
                raise AssertionError(f"ENCAP attribute {t} twice")
            d[t] = p
        self.d = d
        self.cmd = get_u32(d[C.NFLH_ENCAP_CMD])
        self.seq = get_u64(d[C.NFLH_ENCAP_SEQ])
        self.part = get_u32(d[C.NFLH_ENCAP_PART]) if C.NFLH_ENCAP_PART in d else None
        self.more = C.NFLH_ENCAP_MORE in d
        self.attr = d.get(C.NFLH_ENCAP_ATTR)

    def flows(self):
        """The FLOW elements (raw) of ATTR.FLOWS."""
        a = amap(self.attr)
        return [raw for _, _, raw in parse(a.get(C.NFL_FLOWS, b""))]


class Listener(Sock):
    def __init__(self):
        super().__init__(rcvbuf=8 << 20)

    def register(self, port=None):
        kids = [u32(C.NFLH_LISTENER_ATTR_TYPE, C.NFLH_LISTENER_TYPE_ENCAP)]
        if port is not None:     # must be ignored: unft registers the sender's port
            kids.append(u32(C.NFLH_LISTENER_ATTR_PORT, port))
        _, fin = self.transact(T.hp.id, C.NFLH_CMD_SET_LISTENER, C.NFLH_GENL_VERSION,
                               nest(C.NFLH_LISTENER, *kids))
        return fin

    def next_encap(self, timeout=10.0):
        m = self.next(lambda m: m.type == T.hp.id and m.cmd == C.NFLH_CMD_ENCAP and m.seq == 0, timeout)
        return Encap(m)

    def answer(self, cmd, seq, status=0, attr=None, results=None, part=None, more=False, msg=None,
               cmd_type=None, sock=None, ack=True):
        """ack: NLM_F_REQUEST|NLM_F_ACK, returns the final NLMSG_ERROR (ACK or error). Without
        (NLM_F_REQUEST only, as flow-table-hairpind answers): returns the answer's nlmsg_seq;
        only a refused answer gets a message back (no_reply / the error by that seq)."""
        kids = [u32(C.NFLH_ENCAP_CMD_TYPE, C.NFLH_ENCAP_CMD_TYPE_NFL_COMMAND if cmd_type is None else cmd_type),
                u32(C.NFLH_ENCAP_CMD, cmd), u32(C.NFLH_ENCAP_STATUS, status), u64(C.NFLH_ENCAP_SEQ, seq)]
        if part is not None:
            kids.append(u32(C.NFLH_ENCAP_PART, part))
        if more:
            kids.append(flag(C.NFLH_ENCAP_MORE))
        if msg is not None:
            kids.append(string(C.NFLH_ENCAP_ERROR_MSG, msg))
        if results is not None:
            kids.append(nest(C.NFLH_ENCAP_RESULTS, *[
                nest(C.NFLH_RESULT, u32(C.NFLH_RESULT_INDEX, i), u32(C.NFLH_RESULT_ERRNO, e)) for i, e in results]))
        if attr is not None:
            kids.append(nest(C.NFLH_ENCAP_ATTR, attr))
        if not ack:
            return (sock or self).send(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION,
                                       nest(C.NFLH_ENCAP, *kids), flags=F_REQUEST)
        _, fin = (sock or self).transact(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION,
                                         nest(C.NFLH_ENCAP, *kids))
        return fin


class Call(threading.Thread):
    """One API call in a thread (it blocks until the listener answers)."""

    def __init__(self, cmd, payload, sock=None, flags=F_REQUEST | F_ACK):
        super().__init__(daemon=True)
        self.sock = sock or Sock()
        self.cmd, self.payload, self.flags = cmd, payload, flags
        self.replies = self.final = self.exc = None
        self.elapsed = None
        self.start()

    def run(self):
        t0 = time.monotonic()
        try:
            self.replies, self.final = api_call(self.sock, self.cmd, self.payload, self.flags)
        except Exception as e:  # reported by result()
            self.exc = e
        self.elapsed = time.monotonic() - t0

    def result(self, timeout=30.0):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("API call did not return")
        if self.exc:
            raise self.exc
        return self.replies, self.final


# ---- helpers for checks ----

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(fin, err, text=None):
    check(fin.type == NLMSG_ERROR, f"expected NLMSG_ERROR, got {fin}")
    check(fin.error == -err, f"expected -{errno.errorcode.get(err, err)}, got {fin.error} "
          f"({errno.errorcode.get(-fin.error, '?')}) msg {fin.ext_msg!r}")
    if text is not None:
        check(fin.ext_msg is not None and text in fin.ext_msg,
              f"extack text {fin.ext_msg!r} does not contain {text!r}")


def expect_ack(fin):
    check(fin.type == NLMSG_ERROR and fin.error == 0, f"expected ACK, got {fin}")


def expect_seq(e):
    check(e.seq == T.next_seq, f"ENCAP SEQ {e.seq}, expected {T.next_seq}")
    T.next_seq += 1


def forwarded(cmd, payload, **kw):
    """Starts a call and returns it with the ENCAP it reached the listener as (SEQ checked)."""
    c = Call(cmd, payload, **kw)
    e = T.listener.next_encap()
    expect_seq(e)
    return c, e


def dbg(name):
    with open(os.path.join(DEBUGFS, name)) as f:
        return int(f.read().strip())


def dbg_set(name, value):
    with open(os.path.join(DEBUGFS, name), "w") as f:
        f.write(str(value))


def set_timeout(ms):
    with open(PARAM_TIMEOUT, "w") as f:
        f.write(str(ms))


def encap_request_bytes(cmd, seq, attr, part=None, more=False):
    kids = [u32(C.NFLH_ENCAP_CMD_TYPE, C.NFLH_ENCAP_CMD_TYPE_NFL_COMMAND), u32(C.NFLH_ENCAP_CMD, cmd),
            u64(C.NFLH_ENCAP_SEQ, seq)]
    if part is not None:
        kids.append(u32(C.NFLH_ENCAP_PART, part))
    if more:
        kids.append(flag(C.NFLH_ENCAP_MORE))
    kids.append(nest(C.NFLH_ENCAP_ATTR, attr))
    return nest(C.NFLH_ENCAP, *kids)


def check_encap_header(e):
    m = e.msg
    check(m.flags == 0, f"ENCAP request nlmsg_flags {m.flags:#x}, expected 0 (no NLM_F_REQUEST)")
    check(m.seq == 0 and m.pid == 0, f"ENCAP request nlmsg_seq {m.seq} nlmsg_pid {m.pid}, expected 0 0")
    check(m.version == C.NFLH_GENL_VERSION, f"ENCAP genl version {m.version}")


def cut(flows, budget):
    """The twin's part cut: ranges of flows by encoded size."""
    ranges, start, size = [], 0, 0
    for i, f in enumerate(flows):
        if size + len(f) > budget and i > start:
            ranges.append((start, i))
            start, size = i, 0
        size += len(f)
    ranges.append((start, len(flows)))
    return ranges


# ---- the tests ----

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def families_registered():
    s = Sock()
    T.api = resolve(s, C.NFL_GENL_NAME)
    T.hp = resolve(s, C.NFLH_GENL_NAME)
    s.close()
    check(T.api.id >= GENL_ID_CTRL + 1 and T.hp.id >= GENL_ID_CTRL + 1, "family ids are not dynamic")
    check(T.api.id != T.hp.id, "both families got the same id")
    check(T.api.version == C.NFL_GENL_VERSION and T.hp.version == C.NFLH_GENL_VERSION, "versions")
    check(T.api.maxattr == C.NFL_MAX and T.hp.maxattr == C.NFLH_MAX, "maxattr")
    check(sorted(T.api.ops) == list(range(C.NFL_CMD_MAX + 1)), f"net_flow_nl ops {sorted(T.api.ops)}")
    check(sorted(T.hp.ops) == [C.NFLH_CMD_SET_LISTENER, C.NFLH_CMD_GET_LISTENER, C.NFLH_CMD_ENCAP],
          f"nfl_hairpin ops {sorted(T.hp.ops)}")
    check(all(f & GENL_ADMIN_PERM for f in list(T.api.ops.values()) + list(T.hp.ops.values())),
          "an operation lacks GENL_ADMIN_PERM")
    print(f"# {C.NFL_GENL_NAME} id {T.api.id}, {C.NFLH_GENL_NAME} id {T.hp.id}")
    if genl_name(C.NFLH_GENL_NAME) != C.NFLH_GENL_NAME:
        print(f"# NOTE: {C.NFLH_GENL_NAME!r} exceeds GENL_NAMSIZ; registered as {genl_name(C.NFLH_GENL_NAME)!r}")


@test
def devices_exist():
    check(T.if0 and T.if1 and T.if0 != T.if1, f"ifindexes {T.if0} {T.if1}")
    with open(f"/sys/class/net/{ARGS.dev}/type") as f:
        check(f.read().strip() == "1", "unft0 is not an Ethernet-type device")


@test
def no_listener_enotconn():
    s = Sock()
    _, fin = s.transact(T.hp.id, C.NFLH_CMD_GET_LISTENER, C.NFLH_GENL_VERSION, b"")
    expect_error(fin, errno.ENOENT, "no hairpin listener")
    t0 = time.monotonic()
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0))
    dt = time.monotonic() - t0
    expect_error(fin, errno.ENOTCONN, "listener")
    check(dt < 0.5, f"ENOTCONN took {dt:.3f} s")
    s.close()


@test
def listener_registration():
    L = Listener()
    expect_ack(L.register(port=4242))
    T.listener = L
    s = Sock()
    replies, fin = s.transact(T.hp.id, C.NFLH_CMD_GET_LISTENER, C.NFLH_GENL_VERSION, b"")
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].cmd == C.NFLH_CMD_GET_LISTENER, f"GET_LISTENER replies {replies}")
    la = amap(amap(replies[0].payload)[C.NFLH_LISTENER])
    check(get_u32(la[C.NFLH_LISTENER_ATTR_TYPE]) == C.NFLH_LISTENER_TYPE_ENCAP, "listener TYPE")
    check(get_u32(la[C.NFLH_LISTENER_ATTR_PORT]) == L.port,
          f"listener PORT {get_u32(la[C.NFLH_LISTENER_ATTR_PORT])}, sender's port {L.port}")
    check(dbg("listener") == L.port, "debugfs listener")
    other = Listener()
    expect_error(other.register(), errno.EBUSY, "registered already")
    other.close()
    expect_ack(L.register())          # idempotent from the same port
    s.close()


def discovery(cmd, ifindex, payload):
    L = T.listener
    c, e = forwarded(cmd, preamble(ifindex))
    check_encap_header(e)
    check(e.raw == encap_request_bytes(cmd, e.seq, preamble(ifindex)),
          f"ENCAP request bytes differ: {e.raw.hex()}")
    expect_ack(L.answer(cmd, e.seq, 0, preamble(ifindex) + payload))
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1, f"{len(replies)} replies")
    r = replies[0]
    check(r.type == T.api.id and r.cmd == cmd and r.flags == 0, f"reply {r}")
    check(r.pid == c.sock.port, f"reply nlmsg_pid {r.pid}, client port {c.sock.port}")
    check(r.payload == preamble(ifindex) + payload, "reply payload is not preamble + the answer's payload")
    c.sock.close()
    return c.elapsed


@test
def discovery_get_tables():
    dt = discovery(C.NFL_TABLE_CMD_GET_TABLES, T.if0, tables_payload())
    print(f"# GET_TABLES round trip {dt * 1000:.1f} ms")


@test
def discovery_get_headers_second_device():
    discovery(C.NFL_TABLE_CMD_GET_HEADERS, T.if1, headers_payload())


def batch(cmd, flows, strategy, answer_status, results, msg=None):
    """A SET/DEL batch; returns (replies, final) of the client and the ENCAP request."""
    L = T.listener
    payload = preamble(T.if0)
    if strategy is not None:
        payload += u32(C.NFL_FLOWS_ERROR, strategy)
    payload += nest(C.NFL_FLOWS, *flows)
    c, e = forwarded(cmd, payload)
    check_encap_header(e)
    want = preamble(T.if0) + u32(C.NFL_FLOWS_ERROR, C.NFL_FLOWS_ERROR_ABORT if strategy is None else strategy) \
        + nest(C.NFL_FLOWS, *flows)
    check(e.raw == encap_request_bytes(cmd, e.seq, want), "ENCAP request bytes differ")
    expect_ack(L.answer(cmd, e.seq, answer_status, preamble(T.if0), results=results, msg=msg))
    replies, fin = c.result()
    c.sock.close()
    return replies, fin


def report_bytes(cmd, failed):
    """The expected report message payload: [(flow_raw, errno)]."""
    return preamble(T.if0) + nest(C.NFL_FLOWS, *[
        nest(C.NFL_FLOW, u32(C.NFL_ATTR_ERROR, err) + inner(f)) for f, err in failed])


def three_flows():
    return [flow(1, 10, 5), flow(1, 11, 5), flow(1, 12, 6)]


@test
def set_flows_cont_log_reports_failed_flow():
    fl = three_flows()
    replies, fin = batch(C.NFL_TABLE_CMD_SET_FLOWS, fl, C.NFL_FLOWS_ERROR_CONT_LOG, 0,
                         [(0, 0), (1, errno.EEXIST), (2, 0)])
    expect_ack(fin)
    check(len(replies) == 1, f"{len(replies)} report messages")
    r = replies[0]
    check(r.cmd == C.NFL_TABLE_CMD_SET_FLOWS and r.flags == 0, f"report {r}")
    check(r.payload == report_bytes(C.NFL_TABLE_CMD_SET_FLOWS, [(fl[1], errno.EEXIST)]),
          "report is not FLOWS{FLOW{ERROR=EEXIST, flow 1 as sent}}")


@test
def set_flows_abort_error_with_text():
    text = "flow 1 (table 1 uid 11): duplicate uid"
    replies, fin = batch(C.NFL_TABLE_CMD_SET_FLOWS, three_flows(), None, errno.EEXIST,
                         [(0, errno.ECANCELED), (1, errno.EEXIST), (2, errno.ECANCELED)], msg=text)
    check(not replies, f"ABORT sent replies {replies}")
    expect_error(fin, errno.EEXIST)
    check(fin.ext_msg == text, f"extack text {fin.ext_msg!r}")


@test
def set_flows_abort_log_reports_then_error():
    fl = three_flows()
    text = "flow 1 (table 1 uid 11): duplicate uid"
    replies, fin = batch(C.NFL_TABLE_CMD_SET_FLOWS, fl, C.NFL_FLOWS_ERROR_ABORT_LOG, errno.EEXIST,
                         [(0, errno.ECANCELED), (1, errno.EEXIST), (2, errno.ECANCELED)], msg=text)
    expect_error(fin, errno.EEXIST)
    check(fin.ext_msg == text, f"extack text {fin.ext_msg!r}")
    check(len(replies) == 1 and replies[0].payload == report_bytes(
        C.NFL_TABLE_CMD_SET_FLOWS, [(fl[1], errno.EEXIST)]), "ABORT_LOG report")


@test
def del_flows_continue_acks():
    replies, fin = batch(C.NFL_TABLE_CMD_DEL_FLOWS, three_flows(), C.NFL_FLOWS_ERROR_CONTINUE, 0,
                         [(0, 0), (1, errno.ENOENT), (2, 0)])
    expect_ack(fin)
    check(not replies, f"CONTINUE sent replies {replies}")


def get_flows_request(table, lo=None, hi=None):
    sel = [u32(C.NFL_TABLE_FLOWS_TABLE, table)]
    if lo is not None:
        sel.append(u32(C.NFL_TABLE_FLOWS_MINPRIO, lo))
    if hi is not None:
        sel.append(u32(C.NFL_TABLE_FLOWS_MAXPRIO, hi))
    return preamble(T.if0) + nest(C.NFL_FLOWS, *sel)


def answer_in_parts(L, e, flows, budget=60 * 1024):
    ranges = cut(flows, budget)
    for k, (a, b) in enumerate(ranges):
        more = k < len(ranges) - 1
        part = k if len(ranges) > 1 else None
        expect_ack(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, *flows[a:b]),
                            part=part, more=more))
    return len(ranges)


@test
def get_flows_big_answer_in_parts_to_multi_pages():
    L = T.listener
    flows = [flow(1, 1000 + i, i // 10) for i in range(1200)]
    req = get_flows_request(1, 0, 0xFFFFFFFF)
    # A dump, asked with NLM_F_ACK as YNL asks: pages, NLMSG_DONE, and no ACK.
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, req, sock=Sock(), flags=F_REQUEST | F_ACK | F_DUMP)
    check(e.raw == encap_request_bytes(C.NFL_TABLE_CMD_GET_FLOWS, e.seq, req), "GET_FLOWS ENCAP bytes")
    nparts = answer_in_parts(L, e, flows)
    check(nparts >= 3, f"only {nparts} answer parts")
    replies, done = c.result()
    check(done.type == NLMSG_DONE, f"the dump ended with {done}, not NLMSG_DONE")
    check(done.flags & F_MULTI and done.payload == b"\0\0\0\0", f"NLMSG_DONE {done} {done.payload!r}")
    pages = replies
    got = []
    for p in pages:
        check(p.type == T.api.id and p.cmd == C.NFL_TABLE_CMD_GET_FLOWS and p.flags & F_MULTI, f"page {p}")
        a = parse(p.payload)
        check([t for t, _, _ in a] == [C.NFL_IDENTIFIER_TYPE, C.NFL_IDENTIFIER, C.NFL_FLOWS], "page layout")
        check(a[0][2] + a[1][2] == preamble(T.if0), "page preamble")
        fl = [raw for _, _, raw in parse(a[2][1])]
        check(sum(len(f) for f in fl) <= 4096 or len(fl) == 1, "page holds more than 4096 bytes of flows")
        got += fl
    check(got == flows, f"{len(got)} flows came back, {len(flows)} were answered (or order/bytes differ)")
    want_pages = len(cut(flows, 4096))
    check(len(pages) == want_pages, f"{len(pages)} pages, expected {want_pages}")
    print(f"# GET_FLOWS: {len(flows)} flows, {nparts} answer parts, {len(pages)} reply pages, "
          f"{c.elapsed * 1000:.0f} ms")
    # Nothing follows the DONE (no ACK, although NLM_F_ACK was set), and the next request on
    # the socket gets its own answer.
    left = c.sock.drain(0.3)
    check(not left, f"after the dump's NLMSG_DONE: {left}")
    c2, e = forwarded(C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0), sock=c.sock)
    expect_ack(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + tables_payload()))
    replies, fin = c2.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].cmd == C.NFL_TABLE_CMD_GET_TABLES, f"after the dump: {replies}")
    c.sock.close()


@test
def get_flows_do_one_reply_or_emsgsize():
    L = T.listener
    # A do: one reply (flags 0) with every flow, then the ACK.
    flows = [flow(1, 100 + i, i) for i in range(200)]
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(1))
    answer_in_parts(L, e, flows)
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].flags == 0 and replies[0].cmd == C.NFL_TABLE_CMD_GET_FLOWS,
          f"a do's replies {replies}")
    a = parse(replies[0].payload)
    check([t for t, _, _ in a] == [C.NFL_IDENTIFIER_TYPE, C.NFL_IDENTIFIER, C.NFL_FLOWS], "reply layout")
    check([raw for _, _, raw in parse(a[2][1])] == flows, "the do's reply does not carry every flow")
    c.sock.close()
    # More than one FLOWS nest holds: EMSGSIZE, asking for a dump.
    flows = [flow(1, 1000 + i, i // 10) for i in range(1200)]
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(1))
    answer_in_parts(L, e, flows)
    replies, fin = c.result()
    expect_error(fin, errno.EMSGSIZE, "ask for a dump (NLM_F_DUMP)")
    check(not replies, f"replies before EMSGSIZE: {replies[:3]}")
    c.sock.close()
    # Other commands have no dump.
    s = Sock()
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0), flags=F_REQUEST | F_ACK | F_DUMP)
    expect_error(fin, errno.EOPNOTSUPP)
    s.close()


@test
def get_flows_reply_larger_than_rcvbuf_enobufs():
    L = T.listener
    flows = [flow(2, i + 1, 1) for i in range(400)]
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(2), sock=Sock(small_rcvbuf=16384))
    answer_in_parts(L, e, flows)
    replies, fin = c.result()
    expect_error(fin, errno.ENOBUFS, "SO_RCVBUF")
    check(not replies, f"pages were queued before ENOBUFS: {replies[:3]}")
    c.sock.close()


@test
def get_flows_empty_answer_one_page():
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(3), flags=F_REQUEST | F_DUMP)
    expect_ack(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS)))
    replies, fin = c.result()
    check(fin.type == NLMSG_DONE and len(replies) == 1, f"replies {replies} then {fin}")
    check(replies[0].payload == preamble(T.if0) + nest(C.NFL_FLOWS), "empty page")
    c.sock.close()


@test
def get_flows_unknown_table_status():
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(77))
    expect_ack(L.answer(e.cmd, e.seq, errno.ENOENT, msg="table 77 does not exist"))
    replies, fin = c.result()
    expect_error(fin, errno.ENOENT, "table 77 does not exist")
    check(not replies, "replies before the error")
    c.sock.close()


@test
def get_flows_dump_failure_is_an_error_with_text():
    # A dump's failure is the NLMSG_ERROR a do gets, with its extended ack, on 6.1 as on 6.12
    # (unft_flows_start answers it itself: 6.1 gives a dump's start no extended ack): the
    # listener's error, and a request refused before it is forwarded (selector without TABLE).
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(77), flags=F_REQUEST | F_ACK | F_DUMP)
    expect_ack(L.answer(e.cmd, e.seq, errno.ENOENT, msg="table 77 does not exist"))
    replies, fin = c.result()
    check(not replies, f"pages before the error: {replies}")
    expect_error(fin, errno.ENOENT, "table 77 does not exist")
    left = c.sock.drain()
    check(not left, f"something after the failed dump's error: {left}")
    c.sock.close()
    s = Sock()
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_FLOWS, preamble(T.if0) + nest(C.NFL_FLOWS, u32(C.NFL_TABLE_FLOWS_MINPRIO, 1)),
                      flags=F_REQUEST | F_DUMP)
    expect_error(fin, errno.EINVAL, "required attribute TABLE is missing")
    check(fin.miss_type == C.NFL_TABLE_FLOWS_TABLE and fin.miss_nest == 36 and fin.ext_offs == 36,
          f"missing-attribute extended ack: type {fin.miss_type} nest {fin.miss_nest} offset {fin.ext_offs}")
    left = s.drain()
    check(not left, f"something after the failed dump's error: {left}")
    s.close()


def set_flows_in_parts(nflows, budget, answer_parts):
    L = T.listener
    fl = [flow(1, 5000 + i, 7) for i in range(nflows)]
    payload = preamble(T.if0) + u32(C.NFL_FLOWS_ERROR, C.NFL_FLOWS_ERROR_CONT_LOG) + nest(C.NFL_FLOWS, *fl)
    check(len(nest(C.NFL_FLOWS, *fl)) <= 0xFFFF, "test batch does not fit one FLOWS nest")
    c = Call(C.NFL_TABLE_CMD_SET_FLOWS, payload)
    ranges = cut(fl, budget)
    got, seq = [], None
    for k, (a, b) in enumerate(ranges):
        e = L.next_encap()
        if k == 0:
            expect_seq(e)
            seq = e.seq
        check(e.seq == seq, "parts with different SEQ")
        check(e.part == k and e.more == (k < len(ranges) - 1), f"part {e.part} more {e.more}, expected {k}")
        want = preamble(T.if0) + u32(C.NFL_FLOWS_ERROR, C.NFL_FLOWS_ERROR_CONT_LOG) + nest(C.NFL_FLOWS, *fl[a:b])
        check(e.raw == encap_request_bytes(C.NFL_TABLE_CMD_SET_FLOWS, seq, want, part=k, more=e.more),
              f"part {k} bytes (flows {a}..{b})")
        got += e.flows()
    check(got == fl, "parts do not add up to the request's flows")
    failed = nflows // 2
    results = [(i, errno.ENOSPC if i == failed else 0) for i in range(nflows)]
    step = (nflows + answer_parts - 1) // answer_parts
    for k in range(answer_parts):
        chunk = results[k * step:(k + 1) * step]
        expect_ack(L.answer(C.NFL_TABLE_CMD_SET_FLOWS, seq, 0, preamble(T.if0), results=chunk,
                            part=k if answer_parts > 1 else None, more=k < answer_parts - 1))
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].payload == report_bytes(
        C.NFL_TABLE_CMD_SET_FLOWS, [(fl[failed], errno.ENOSPC)]), "report of the failed flow")
    c.sock.close()
    return len(ranges)


@test
def set_flows_big_batch_in_parts():
    n = set_flows_in_parts(470, 60 * 1024, 1)
    check(n == 2, f"{n} request parts, expected 2")


@test
def set_flows_parts_with_small_budget_knob():
    dbg_set("part_budget", 1024)
    try:
        n = set_flows_in_parts(20, 1024, 2)
    finally:
        dbg_set("part_budget", 60 * 1024)
    check(n >= 3, f"only {n} parts")


@test
def answer_parts_out_of_order_einval():
    L = T.listener
    failed0 = dbg("failed")
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(1))
    fin = L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, flow(1, 1, 1)), part=1, more=True)
    expect_error(fin, errno.EINVAL, "part 1 arrived, part 0 was expected")
    replies, cfin = c.result()
    expect_error(cfin, errno.EINVAL, "part 1 arrived, part 0 was expected")
    check(dbg("failed") == failed0 + 1, "debugfs failed counter")
    # The call is over: a correct part now is refused.
    expect_error(L.answer(e.cmd, e.seq, 0, preamble(T.if0)), errno.ENOENT)
    c.sock.close()


@test
def answer_wrong_cmd_einval():
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_ACTIONS, preamble(T.if0))
    expect_error(L.answer(C.NFL_TABLE_CMD_GET_TABLES, e.seq, 0, preamble(T.if0)), errno.EINVAL, "CMD")
    _, fin = c.result()
    expect_error(fin, errno.EINVAL, "the request had")
    c.sock.close()


@test
def malformed_answer_fails_call_einval():
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(1))
    bad = nest(C.NFL_FLOW, u32(C.NFL_ATTR_TABLE, 1), u32(C.NFL_ATTR_PRIORITY, 1))
    fin = L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, bad))
    expect_error(fin, errno.EINVAL, "ENCAP.ATTR.FLOWS.FLOW[0] at byte")
    _, cfin = c.result()
    expect_error(cfin, errno.EINVAL, "required attribute UID is missing")
    c.sock.close()
    c, e = forwarded(C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0))
    expect_error(L.answer(e.cmd, e.seq, 5000), errno.EINVAL, "not an errno")
    _, cfin = c.result()
    expect_error(cfin, errno.EINVAL, "STATUS 5000")
    c.sock.close()


@test
def timeout_then_late_answer_enoent():
    L = T.listener
    t0 = dbg("timeouts")
    set_timeout(300)
    try:
        c, e = forwarded(C.NFL_TABLE_CMD_GET_ACTIONS, preamble(T.if0))
        _, fin = c.result()
        expect_error(fin, errno.ETIMEDOUT, "did not answer in time")
        check(0.25 <= c.elapsed < 3.0, f"ETIMEDOUT after {c.elapsed:.3f} s with timeout_ms 300")
        expect_error(L.answer(e.cmd, e.seq, 0, preamble(T.if0)), errno.ENOENT, f"seq {e.seq}")
        check(dbg("timeouts") == t0 + 1, "debugfs timeouts counter")
    finally:
        dbg_set("timeout_ms", 5000)          # the debugfs knob is the same variable
    with open(PARAM_TIMEOUT) as f:
        check(f.read().strip() == "5000", "debugfs timeout_ms and the module parameter differ")
    print(f"# timeout after {c.elapsed * 1000:.0f} ms (timeout_ms 300)")


@test
def unknown_seq_enoent():
    expect_error(T.listener.answer(C.NFL_TABLE_CMD_GET_TABLES, 999999, 0, preamble(T.if0)),
                 errno.ENOENT, "999999")


def no_reply(sock, nlseq, timeout=0.3):
    """Nothing arrives for the message with nlmsg_seq nlseq. unft sends an answer's ACK before
    the caller wakes, so once the call has returned a short wait is enough."""
    try:
        m = sock.next(lambda m: m.seq == nlseq, timeout)
    except TimeoutError:
        return
    raise AssertionError(f"unasked reply to nlmsg_seq {nlseq}: {m}")


@test
def answers_without_ack():
    """flow-table-hairpind answers without NLM_F_ACK: an accepted answer (whole or in parts)
    gets nothing back and completes the call; a refused one still gets its error."""
    L = T.listener
    answers0 = dbg("answers")
    c, e = forwarded(C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0))
    nlseq = L.answer(e.cmd, e.seq, 0, preamble(T.if0) + tables_payload(), ack=False)
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].payload == preamble(T.if0) + tables_payload(), f"replies {replies}")
    no_reply(L, nlseq)
    check(dbg("answers") == answers0 + 1, "debugfs answers counter")
    c.sock.close()
    # In two parts: neither part is ACKed.
    c, e = forwarded(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(1))
    s0 = L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, flow(1, 1, 1)), part=0, more=True, ack=False)
    s1 = L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, flow(1, 2, 2)), part=1, ack=False)
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].flags == 0, f"GET_FLOWS replies {replies}")
    got = [raw for p in replies for _, _, raw in parse(amap(p.payload).get(C.NFL_FLOWS, b""))]
    check(got == [flow(1, 1, 1), flow(1, 2, 2)], f"GET_FLOWS answered in two parts gave {len(got)} flows")
    no_reply(L, s0, 0.05)
    no_reply(L, s1)
    c.sock.close()
    # Refused without NLM_F_ACK: unknown SEQ → -ENOENT, naming the SEQ.
    nlseq = L.answer(C.NFL_TABLE_CMD_GET_TABLES, 999998, 0, preamble(T.if0), ack=False)
    expect_error(L.next(lambda m: m.seq == nlseq, 5.0), errno.ENOENT, "999998")
    # A broken answer without NLM_F_ACK: -EINVAL to the listener and the caller.
    c, e = forwarded(C.NFL_TABLE_CMD_GET_ACTIONS, preamble(T.if0))
    nlseq = L.answer(C.NFL_TABLE_CMD_GET_TABLES, e.seq, 0, preamble(T.if0), ack=False)
    expect_error(L.next(lambda m: m.seq == nlseq, 5.0), errno.EINVAL, "CMD")
    _, fin = c.result()
    expect_error(fin, errno.EINVAL, "the request had")
    no_reply(L, nlseq, 0.05)     # one error, no second message
    c.sock.close()


@test
def answer_from_other_socket_eperm():
    L = T.listener
    c, e = forwarded(C.NFL_TABLE_CMD_GET_HDR_GRAPH, preamble(T.if0))
    stranger = Sock()
    graph = nest(C.NFL_HEADER_GRAPH)
    expect_error(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + graph, sock=stranger), errno.EPERM,
                 "listener's socket")
    stranger.close()
    expect_ack(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + graph))
    replies, fin = c.result()
    expect_ack(fin)
    check(len(replies) == 1 and replies[0].payload == preamble(T.if0) + graph, "reply after EPERM")
    c.sock.close()


@test
def concurrent_calls_answered_out_of_order():
    L = T.listener
    calls = [Call(C.NFL_TABLE_CMD_GET_FLOWS, get_flows_request(10 + i)) for i in range(6)]
    got = [L.next_encap() for _ in calls]
    seqs = sorted(e.seq for e in got)
    check(seqs == list(range(T.next_seq, T.next_seq + len(calls))), f"SEQs {seqs}")
    T.next_seq += len(calls)
    for e in reversed(got):
        sel = amap(amap(e.attr)[C.NFL_FLOWS])
        table = get_u32(sel[C.NFL_TABLE_FLOWS_TABLE])
        expect_ack(L.answer(e.cmd, e.seq, 0, preamble(T.if0) + nest(C.NFL_FLOWS, flow(table, table * 100, 1))))
    for i, c in enumerate(calls):
        replies, fin = c.result()
        expect_ack(fin)
        fl = [raw for _, _, raw in parse(amap(replies[0].payload)[C.NFL_FLOWS])]
        check(fl == [flow(10 + i, (10 + i) * 100, 1)], f"call {i} got another call's answer")
        c.sock.close()


@test
def malformed_requests_einval():
    s = Sock()
    req0 = dbg("requests")
    # No preamble.
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, b"")
    expect_error(fin, errno.EINVAL, "preamble")
    check(fin.miss_type == C.NFL_IDENTIFIER_TYPE and fin.miss_nest is None,
          f"missing-attribute extack type {fin.miss_type} nest {fin.miss_nest}")
    # A flow without UID: the path and byte of the decoder.
    bad = nest(C.NFL_FLOW, u32(C.NFL_ATTR_TABLE, 1), u32(C.NFL_ATTR_PRIORITY, 1))
    head = preamble(T.if0) + u32(C.NFL_FLOWS_ERROR, 0)
    payload = head + nest(C.NFL_FLOWS, flow(1, 1, 1), bad)
    _, fin = api_call(s, C.NFL_TABLE_CMD_SET_FLOWS, payload)
    at = NLMSG_HDRLEN + GENL_HDRLEN + len(head) + 4 + len(flow(1, 1, 1))
    expect_error(fin, errno.EINVAL, f"FLOWS.FLOW[1] at byte {at}: required attribute UID is missing")
    check(fin.ext_offs == at, f"extack offset {fin.ext_offs}, expected {at}")
    # NL_SET_ERR_ATTR_MISS: the missing type and the nest it is missing from.
    check(fin.miss_type == C.NFL_ATTR_UID and fin.miss_nest == at,
          f"missing-attribute extack type {fin.miss_type} nest {fin.miss_nest}, expected {C.NFL_ATTR_UID} at {at}")
    # A u32 with two bytes (policy).
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES,
                      u32(C.NFL_IDENTIFIER_TYPE, 1) + nla(C.NFL_IDENTIFIER, b"\1\0"))
    expect_error(fin, errno.EINVAL)
    check(fin.ext_msg, "no extack text for a bad length")
    # A repeated attribute.
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0) + u32(C.NFL_IDENTIFIER, T.if0))
    expect_error(fin, errno.EINVAL, "appears more than once")
    # A nest without NLA_F_NESTED.
    _, fin = api_call(s, C.NFL_TABLE_CMD_SET_FLOWS, preamble(T.if0) + nla(C.NFL_FLOWS, flow(1, 1, 1)))
    expect_error(fin, errno.EINVAL)
    # Unknown attribute type.
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0) + u32(C.NFL_MAX + 1, 0))
    expect_error(fin, errno.EINVAL)
    # FLOWS_ERROR out of range.
    _, fin = api_call(s, C.NFL_TABLE_CMD_SET_FLOWS,
                      preamble(T.if0) + u32(C.NFL_FLOWS_ERROR, C.NFL_FLOWS_ERROR_CONT_LOG + 1))
    expect_error(fin, errno.EINVAL, "FLOWS_ERROR at byte")
    # A GET_FLOWS selector without TABLE.
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_FLOWS,
                      preamble(T.if0) + nest(C.NFL_FLOWS, u32(C.NFL_TABLE_FLOWS_MINPRIO, 1)))
    expect_error(fin, errno.EINVAL, "required attribute TABLE is missing")
    # Identifier type, unknown ifindex, a device that is not unft.
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, u32(C.NFL_IDENTIFIER_TYPE, 7) + u32(C.NFL_IDENTIFIER, T.if0))
    expect_error(fin, errno.EINVAL, "identifier type 7")
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(999999))
    expect_error(fin, errno.EINVAL, "no device with ifindex 999999")
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(1))
    expect_error(fin, errno.EINVAL, "not a unft device")
    # Commands unft does not implement.
    _, fin = api_call(s, C.NFL_TABLE_CMD_UPDATE_FLOWS, preamble(T.if0))
    expect_error(fin, errno.EOPNOTSUPP, "UPDATE_FLOWS")
    _, fin = api_call(s, C.NFL_TABLE_CMD_DESTROY_TABLE, preamble(T.if0))
    expect_error(fin, errno.EOPNOTSUPP)
    _, fin = api_call(s, 42, preamble(T.if0))
    expect_error(fin, errno.EOPNOTSUPP)
    # A hairpin ENCAP without STATUS is not an answer.
    fin = T.listener.transact(T.hp.id, C.NFLH_CMD_ENCAP, C.NFLH_GENL_VERSION, nest(
        C.NFLH_ENCAP, u32(C.NFLH_ENCAP_CMD_TYPE, 1), u32(C.NFLH_ENCAP_CMD, 0), u64(C.NFLH_ENCAP_SEQ, 1)))[1]
    expect_error(fin, errno.EINVAL, "STATUS")
    check(dbg("requests") == req0, "a malformed request was forwarded")
    s.close()


@test
def unprivileged_eperm():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s = Sock()
            _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0))
            expect_error(fin, errno.EPERM)
            _, fin = s.transact(T.hp.id, C.NFLH_CMD_GET_LISTENER, C.NFLH_GENL_VERSION, b"")
            expect_error(fin, errno.EPERM)
            _, fin = s.transact(T.hp.id, C.NFLH_CMD_SET_LISTENER, C.NFLH_GENL_VERSION, nest(
                C.NFLH_LISTENER, u32(C.NFLH_LISTENER_ATTR_TYPE, C.NFLH_LISTENER_TYPE_ENCAP)))
            expect_error(fin, errno.EPERM)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "unprivileged child did not see EPERM")


@test
def listener_closed_mid_call_enotconn():
    L = T.listener
    lost0 = dbg("listener_lost")
    check(open(PARAM_TIMEOUT).read().strip() == "5000", "timeout_ms is not 5000")
    c, e = forwarded(C.NFL_TABLE_CMD_GET_TABLES, preamble(T.if0))
    t0 = time.monotonic()
    L.close()
    T.listener = None
    _, fin = c.result()
    dt = time.monotonic() - t0
    expect_error(fin, errno.ENOTCONN, "closed")
    check(dt < 1.5, f"ENOTCONN {dt:.3f} s after the close")
    check(dbg("listener_lost") == lost0 + 1 and dbg("listener") == 0, "debugfs listener")
    s = Sock()
    _, fin = s.transact(T.hp.id, C.NFLH_CMD_GET_LISTENER, C.NFLH_GENL_VERSION, b"")
    expect_error(fin, errno.ENOENT)
    s.close()
    c.sock.close()
    # A new listener takes over; SEQ goes on.
    T.listener = Listener()
    expect_ack(T.listener.register())
    discovery(C.NFL_TABLE_CMD_GET_TABLE_GRAPH, T.if0, nest(C.NFL_TABLE_GRAPH))
    print(f"# ENOTCONN {dt * 1000:.0f} ms after the listener closed")


@test
def idle_counters():
    T.listener.close()
    T.listener = None
    time.sleep(0.1)
    check(dbg("pending") == 0, f"pending {dbg('pending')}")
    check(dbg("live") == 0, f"live allocations {dbg('live')}")
    check(dbg("requests") == T.next_seq - 1, f"requests {dbg('requests')}, SEQ reached {T.next_seq - 1}")


def run_tests():
    failed = 0
    print(f"1..{len(TESTS)}")
    for i, fn in enumerate(TESTS, 1):
        t0 = time.monotonic()
        try:
            fn()
            print(f"ok {i} - {fn.__name__} ({(time.monotonic() - t0) * 1000:.0f} ms)", flush=True)
        except Exception as e:
            failed += 1
            print(f"not ok {i} - {fn.__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
    print(f"# {len(TESTS) - failed} passed, {failed} failed")
    return failed == 0


def call(expect):
    """One GET_TABLES that is expected to end with errno `expect` (used around rmmod)."""
    s = Sock()
    T.api = resolve(s, C.NFL_GENL_NAME)
    with open(f"/sys/class/net/{ARGS.dev}/ifindex") as f:
        ifindex = int(f.read())
    t0 = time.monotonic()
    _, fin = api_call(s, C.NFL_TABLE_CMD_GET_TABLES, preamble(ifindex))
    dt = time.monotonic() - t0
    want = getattr(errno, expect)
    print(f"    call: error {fin.error} ({errno.errorcode.get(-fin.error, 'ACK')}) after {dt:.3f} s, "
          f"text {fin.ext_msg!r}")
    return 0 if fin.error == -want else 1


def listen(ready):
    s = Sock()
    T.hp = resolve(s, C.NFLH_GENL_NAME)
    s.close()
    L = Listener()
    expect_ack(L.register())
    with open(ready, "w") as f:
        f.write(f"{L.port}\n")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        L.drain(1.0)


def main():
    global ARGS
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="test", choices=["test", "listen", "call"])
    p.add_argument("--expect", default="ESHUTDOWN", help="call: the errno name expected")
    p.add_argument("--header", default=os.path.join(here, "../../kmod/include/uapi/net_flow.h"))
    p.add_argument("--dev", default="unft0")
    p.add_argument("--dev2", default="unft1")
    p.add_argument("--ready", default="/tmp/unft-listener.ready")
    ARGS = p.parse_args()
    load_header(ARGS.header)
    if ARGS.mode == "listen":
        listen(ARGS.ready)
        return 0
    if ARGS.mode == "call":
        return call(ARGS.expect)
    for name, attr in (("if0", ARGS.dev), ("if1", ARGS.dev2)):
        with open(f"/sys/class/net/{attr}/ifindex") as f:
            setattr(T, name, int(f.read()))
    return 0 if run_tests() else 1


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
