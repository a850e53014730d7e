#!/usr/bin/env python3
"""The hairpin leg across two network namespaces, at the netlink level (run by
scripts/vm/tests/netns.sh before any daemon starts; standard library only, nltest.py's
sockets and numbers). Each socket is made in its namespace (setns of this thread, then back):

  * a listener in A and one in B register both;
  * a call in A reaches A's listener only, with SEQ 1; a call in B reaches B's, with SEQ 1
    too (SEQs count per namespace: a listener's stream has no gaps);
  * B's listener answering A's SEQ is refused (ENOENT: no call of B waits for it), and A's
    call still ends with A's answer.

    netns-cross.py --header H A B          exit status 0 when every check passed
"""

import argparse
import ctypes
import errno
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nltest as N  # noqa: E402

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd, what):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns {what}: {os.strerror(e)}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--header", required=True)
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args()
    N.load_header(args.header)
    C = N.C
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    s = N.Sock()
    N.T.api = N.resolve(s, C.NFL_GENL_NAME)
    N.T.hp = N.resolve(s, C.NFLH_GENL_NAME)
    s.close()
    GET_TABLES = C.NFL_TABLE_CMD_GET_TABLES

    def made_in(ns, what):
        """what() run with this thread in namespace ns: the sockets it makes stay there."""
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            setns(fd, ns)
        finally:
            os.close(fd)
        try:
            return what()
        finally:
            setns(home, "back")

    checks = 0

    def ok(what):
        nonlocal checks
        checks += 1
        print(f"    ok: {what}")

    LA = made_in(args.a, N.Listener)
    N.expect_ack(LA.register())
    LB = made_in(args.b, N.Listener)
    N.expect_ack(LB.register())
    ok(f"a listener in {args.a} (port {LA.port}) and one in {args.b} (port {LB.port})")

    ifa = made_in(args.a, lambda: socket.if_nametoindex("unft0"))
    ifb = made_in(args.b, lambda: socket.if_nametoindex("unft0"))
    N.check(ifa == ifb, f"unft0 has ifindex {ifa} in {args.a}, {ifb} in {args.b}")

    callA = made_in(args.a, lambda: N.Call(GET_TABLES, N.preamble(ifa)))
    eA = LA.next_encap()
    N.check(eA.seq == 1, f"{args.a}'s first ENCAP has SEQ {eA.seq}, expected 1")
    N.check(not LB.drain(0.3), f"{args.b}'s listener received {args.a}'s call")
    ok(f"{args.a}'s call reached {args.a}'s listener only, SEQ 1")

    N.expect_error(LB.answer(eA.cmd, eA.seq, attr=N.tables_payload()), errno.ENOENT, "no call waits")
    ok(f"{args.b}'s listener answering {args.a}'s SEQ {eA.seq}: ENOENT")

    callB = made_in(args.b, lambda: N.Call(GET_TABLES, N.preamble(ifb)))
    eB = LB.next_encap()
    N.check(eB.seq == 1, f"{args.b}'s first ENCAP has SEQ {eB.seq}, expected 1 (SEQs count per namespace)")
    N.check(not LA.drain(0.3), f"{args.a}'s listener received {args.b}'s call")
    ok(f"{args.b}'s call reached {args.b}'s listener only, SEQ 1 as well")

    N.expect_ack(LA.answer(eA.cmd, eA.seq, attr=N.tables_payload()))
    N.expect_ack(LB.answer(eB.cmd, eB.seq, attr=N.tables_payload()))
    for name, call in ((args.a, callA), (args.b, callB)):
        replies, fin = call.result()
        N.expect_ack(fin)
        N.check(len(replies) == 1, f"{name}'s GET_TABLES: {len(replies)} replies, expected 1")
    ok("both calls answered by their own listener")

    LA.close()
    LB.close()
    print(f"netns-cross: {checks} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, OSError, TimeoutError) as e:
        print(f"netns-cross: FAIL: {e}")
        sys.exit(1)
