#!/usr/bin/env python3
"""Speed of the Flow Table API through unft.ko and flow-table-hairpind, in the VM, over one
socket per measurement (one process for all, so process start-up is not measured):

  * genl_rtt_us       a plain generic netlink request/response: nlctrl CTRL_CMD_GETFAMILY
  * api_rtt_us        GET_TABLES on a unft port: client -> unft -> daemon -> unft -> client
  * api_rtt_ratio     api_rtt_us / genl_rtt_us, measured in alternating blocks (--blocks) so
                      both see the same host load; api_rtt_ratio_min/_max: the lowest and
                      highest per-block ratio (how noisy the run was)
  * api_small_rtt_us  GET_TABLE_GRAPH, a reply nearer the baseline's size (sizes printed too)
  * api_handler_us, api_listener_us, api_wake_us, api_in_unft_us   where GET_TABLES' time goes
                      (unft's debugfs timing; see kmod/README.md)
  * switch_rtt_us     the floor a user-space listener adds: a one-byte ping-pong over pipes
                      with a child process (two task switches per round trip), minus the same
                      writes and reads in one process (switch_pipe_self_us)
  * set_flows_per_s   batched SET_FLOWS (pre-encoded by `flow-table-ctl encode`), then the
                      same flows deleted with DEL_FLOWS (del_flows_per_s)

    nlbench.py --dev unft0 [--n 1000] [--set-hex FILE --del-hex FILE --batch-flows N --rounds R]

Prints "VMTEST METRIC name value" lines (scripts/vm/run.sh shows them). Exit status 1 when a
request failed: numbers of failing calls mean nothing.
"""

import argparse
import os
import struct
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import nltest  # noqa: E402  (Sock, resolve, the net_flow.h constants)
from nltest import C, Sock, resolve, preamble, string, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME  # noqa: E402


PREFIX = ""


def metric(name, value):
    print(f"VMTEST METRIC {PREFIX}{name} {value}", flush=True)


def unft_times():
    """unft's own accounting of answered calls (debugfs): calls, total, listener, wake ns."""
    out = []
    for name in ("timed_calls", "time_total_ns", "time_listener_ns", "time_wake_ns"):
        try:
            with open(f"/sys/kernel/debug/unft/{name}") as f:
                out.append(int(f.read()))
        except OSError:
            return None
    return out


def warm(sock, ftype, cmd, version, payload, n, name=None):
    """A few calls to warm caches and the daemon's paths; prints the sizes when named."""
    for _ in range(min(20, n)):
        replies, fin = sock.transact(ftype, cmd, version, payload)
        if fin.error:
            raise SystemExit(f"nlbench: warm-up call failed: error {fin.error} {fin.ext_msg!r}")
    if name:     # the sizes, so the two round trips can be compared fairly
        metric(f"{name}_request_bytes", 20 + len(payload))
        metric(f"{name}_reply_bytes", sum(m.len for m in replies))


def timed(sock, ftype, cmd, version, payload, n):
    """Seconds for n request/ACK round trips (each waits for its final NLMSG_ERROR)."""
    t0 = time.perf_counter()
    for _ in range(n):
        _, fin = sock.transact(ftype, cmd, version, payload)
        if fin.error:
            raise SystemExit(f"nlbench: call failed: error {fin.error} {fin.ext_msg!r}")
    return time.perf_counter() - t0


def rtt(sock, ftype, cmd, version, payload, n, name=None):
    """Mean microseconds of n request/ACK round trips after a warm-up."""
    warm(sock, ftype, cmd, version, payload, n, name)
    return timed(sock, ftype, cmd, version, payload, n) / n * 1e6


def interleaved(sock, a, b, n, blocks):
    """Mean microseconds of n round trips of call a and of call b, measured in alternating
    blocks (a, b, a, b, ...): on a shared host the load changes within seconds, and a ratio of
    two numbers measured at different times would carry that change. Also returns the per-block
    ratios b/a (their spread shows how noisy the run was)."""
    per = max(1, n // blocks)
    ta = tb = 0.0
    ratios = []
    for _ in range(blocks):
        x = timed(sock, *a, per)
        y = timed(sock, *b, per)
        ta += x
        tb += y
        ratios.append(y / x)
    return ta / (per * blocks) * 1e6, tb / (per * blocks) * 1e6, ratios


def pingpong(n):
    """Microseconds of a one-byte round trip to a child process over two pipes (each a task
    switch there and back on the guest's one CPU) and of the same write/read pairs within one
    process: the difference is what two task switches cost under TCG, with an interpreter's
    working set to bring back each time (QEMU's soft TLB is flushed on every switch)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(a_w)   # else the parent closing it would never end the loop
            os.close(b_r)
            while True:
                if not os.read(a_r, 1):
                    break
                os.write(b_w, b"x")
        finally:
            os._exit(0)
    os.close(a_r)
    os.close(b_w)
    for _ in range(20):
        os.write(a_w, b"x"); os.read(b_r, 1)
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(a_w, b"x"); os.read(b_r, 1)
    two = time.perf_counter() - t0
    os.close(a_w)
    os.waitpid(pid, 0)
    s_r, s_w = os.pipe()
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(s_w, b"x"); os.read(s_r, 1)
        os.write(s_w, b"x"); os.read(s_r, 1)
    one = time.perf_counter() - t0
    for fd in (b_r, s_r, s_w):
        os.close(fd)
    return two / n * 1e6, one / n * 1e6


def raw_call(sock, raw, family_id):
    """Sends a message encoded by flow-table-ctl with our family id and a fresh seq."""
    seq = nltest.next_seq()
    msg = bytearray(raw)
    struct.pack_into("=HHII", msg, 4, family_id, struct.unpack_from("=H", msg, 6)[0], seq, 0)
    sock.s.sendto(bytes(msg), (0, 0))
    while True:
        m = sock.next(lambda m: m.seq == seq, 60.0)
        if m.type == nltest.NLMSG_ERROR:
            return m


def batches(sock, api_id, set_msgs, del_msgs, flows, rounds):
    t_set = t_del = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for raw in set_msgs:
            fin = raw_call(sock, raw, api_id)
            if fin.error:
                raise SystemExit(f"nlbench: SET_FLOWS failed: error {fin.error} {fin.ext_msg!r}")
        t1 = time.perf_counter()
        for raw in del_msgs:
            fin = raw_call(sock, raw, api_id)
            if fin.error:
                raise SystemExit(f"nlbench: DEL_FLOWS failed: error {fin.error} {fin.ext_msg!r}")
        t2 = time.perf_counter()
        t_set += t1 - t0
        t_del += t2 - t1
    return flows * rounds / t_set, flows * rounds / t_del


def read_hex(path):
    return [bytes.fromhex(line.strip()) for line in open(path) if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--header", default=os.path.join(here, "../../kmod/include/uapi/net_flow.h"))
    p.add_argument("--dev", default="unft0")
    p.add_argument("--n", type=int, default=1000, help="round trips per latency measurement")
    p.add_argument("--set-hex", help="SET_FLOWS messages, one hex line each (flow-table-ctl encode)")
    p.add_argument("--del-hex", help="the matching DEL_FLOWS messages")
    p.add_argument("--batch-flows", type=int, default=0, help="flows in all --set-hex messages together")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--blocks", type=int, default=5,
                   help="alternating blocks the baseline and GET_TABLES round trips are measured in")
    p.add_argument("--pingpong", action="store_true",
                   help="also measure two task switches (switch_rtt_us): the floor a listener adds")
    p.add_argument("--metric-prefix", default="", help="prefix of the metric names")
    a = p.parse_args()
    global PREFIX
    PREFIX = a.metric_prefix
    nltest.load_header(a.header)
    with open(f"/sys/class/net/{a.dev}/ifindex") as f:
        ifindex = int(f.read())
    s = Sock(rcvbuf=16 << 20)
    api = resolve(s, C.NFL_GENL_NAME)

    getfamily = (GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, string(CTRL_ATTR_FAMILY_NAME, "nlctrl"))
    get_tables = (api.id, C.NFL_TABLE_CMD_GET_TABLES, C.NFL_GENL_VERSION, preamble(ifindex))
    warm(s, *getfamily, a.n, "genl")
    t0 = unft_times()
    warm(s, *get_tables, a.n, "api")
    genl, call, ratios = interleaved(s, getfamily, get_tables, a.n, a.blocks)
    t1 = unft_times()
    print("nlbench: GET_TABLES/GETFAMILY per block:", " ".join(f"{r:.2f}" for r in ratios), flush=True)
    metric("api_rtt_ratio_min", f"{min(ratios):.1f}")
    metric("api_rtt_ratio_max", f"{max(ratios):.1f}")
    # A call with a reply nearer the baseline's size (GET_TABLES answers ~1.7 KB, GETFAMILY
    # nlctrl ~140 bytes): GET_TABLE_GRAPH.
    small = rtt(s, api.id, C.NFL_TABLE_CMD_GET_TABLE_GRAPH, C.NFL_GENL_VERSION, preamble(ifindex), a.n,
                "api_small")
    metric("genl_rtt_us", f"{genl:.1f}")
    metric("api_rtt_us", f"{call:.1f}")
    metric("api_rtt_ratio", f"{call / genl:.1f}")
    metric("api_small_rtt_us", f"{small:.1f}")
    metric("api_small_rtt_ratio", f"{small / genl:.1f}")
    if t0 and t1 and t1[0] > t0[0]:
        # Where a call's time goes: unft's handler from entry to reply (the warm-up calls
        # included); of it, ENCAP queued -> answer accepted (a task switch and the daemon's
        # work) and answer accepted -> caller running (the daemon's return from its system call,
        # a task switch); the rest is unft's own work. Outside the handler: the client's system
        # calls and the genetlink core, as for the plain round trip.
        n = t1[0] - t0[0]
        total, listener, wake = ((t1[k] - t0[k]) / n / 1e3 for k in (1, 2, 3))
        metric("api_handler_us", f"{total:.1f}")
        metric("api_listener_us", f"{listener:.1f}")
        metric("api_wake_us", f"{wake:.1f}")
        metric("api_in_unft_us", f"{total - listener - wake:.1f}")
    if a.pingpong:
        two, one = pingpong(a.n)
        metric("switch_pingpong_us", f"{two:.1f}")
        metric("switch_pipe_self_us", f"{one:.1f}")
        metric("switch_rtt_us", f"{two - one:.1f}")
    if a.set_hex and a.del_hex and a.batch_flows > 0:
        set_msgs, del_msgs = read_hex(a.set_hex), read_hex(a.del_hex)
        per_set, per_del = batches(s, api.id, set_msgs, del_msgs, a.batch_flows, a.rounds)
        metric("set_flows_per_s", f"{per_set:.0f}")
        metric("del_flows_per_s", f"{per_del:.0f}")
        metric("set_flows_batch", f"{a.batch_flows // max(1, len(set_msgs))}")
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
