import Testing
import LibFlowTable
#if canImport(Glibc)
import Glibc
#endif

/// The one errno table (Sources/LibFlowTable/Netlink/Errno.swift) against the host's <errno.h>
/// (this runs on Linux, where the numbers are the ones that travel in messages) and the
/// printing/parsing rules the listings, reports and fault specs rely on.
struct ErrnoTests {
    @Test func numbersMatchTheLinuxHeaders() {
        let host: [(String, Int32)] = [
            ("EPERM", EPERM), ("ENOENT", ENOENT), ("EAGAIN", EAGAIN), ("EBUSY", EBUSY), ("EEXIST", EEXIST),
            ("ENODEV", ENODEV), ("EINVAL", EINVAL), ("ENOSPC", ENOSPC), ("ERANGE", ERANGE), ("EMSGSIZE", EMSGSIZE),
            ("EOPNOTSUPP", EOPNOTSUPP), ("ENOBUFS", ENOBUFS), ("ENOTCONN", ENOTCONN), ("ETIMEDOUT", ETIMEDOUT),
            ("ECANCELED", ECANCELED), ("EHWPOISON", EHWPOISON),
        ]
        for (name, n) in host {
            #expect(Errno.number(name) == UInt32(n), "\(name)")
            #expect(Errno.symbol(UInt32(n)) == name, "\(name)")
        }
        // The named numbers the daemon, the twin, validation and the tools answer with.
        let named: [(String, UInt32, Int32)] = [
            ("EPERM", Errno.EPERM, EPERM), ("ENOENT", Errno.ENOENT, ENOENT), ("EBUSY", Errno.EBUSY, EBUSY),
            ("EEXIST", Errno.EEXIST, EEXIST), ("ENODEV", Errno.ENODEV, ENODEV), ("EINVAL", Errno.EINVAL, EINVAL),
            ("ENOSPC", Errno.ENOSPC, ENOSPC), ("EMSGSIZE", Errno.EMSGSIZE, EMSGSIZE),
            ("EOPNOTSUPP", Errno.EOPNOTSUPP, EOPNOTSUPP), ("ENOTCONN", Errno.ENOTCONN, ENOTCONN),
            ("ETIMEDOUT", Errno.ETIMEDOUT, ETIMEDOUT), ("ECANCELED", Errno.ECANCELED, ECANCELED),
            ("EHWPOISON", Errno.EHWPOISON, EHWPOISON),
        ]
        for (name, constant, n) in named {
            #expect(constant == UInt32(n) && Errno.name(constant) == name, "\(name)")
        }
        #expect(Errno.ENOTSUPP == 524)
    }

    @Test func unsignedFieldsDisplayAsSignedOnes() {
        // ENCAP STATUS and RESULT ERRNO are u32: shown as the listener's log always showed them.
        #expect(Errno.display(unsigned: 0) == "OK")
        #expect(Errno.display(unsigned: Errno.EEXIST) == "EEXIST")
        #expect(Errno.display(unsigned: 41) == "errno 41")
        #expect(Errno.display(unsigned: 4_000_000_000) == "errno 4000000000")
    }

    @Test func everyNameRoundTripsAndNumbersAreSorted() {
        var last: UInt32 = 0
        for (n, name) in Errno.names {
            #expect(n > last, "table out of order at \(name)")
            last = n
            #expect(Errno.number(name) == n)
            #expect(Errno.number(name.lowercased()) == n)
            #expect(Errno.name(n) == name)
        }
        #expect(Errno.names.count == 132)  // 1…133 without 41 and 58, plus ENOTSUPP 524
    }

    @Test func displayAndParseRules() {
        #expect(Errno.display(0) == "OK")
        #expect(Errno.display(17) == "EEXIST")
        #expect(Errno.display(41) == "errno 41")  // no Linux name
        #expect(Errno.display(-17) == "errno -17")  // a negative value is not an errno
        #expect(Errno.display(Int32.min) == "errno -2147483648")
        #expect(Errno.name(4000) == "4000")
        #expect(Errno.number("EWOULDBLOCK") == 11 && Errno.name(11) == "EAGAIN")
        #expect(Errno.number("enotsup") == 95 && Errno.name(95) == "EOPNOTSUPP")
        #expect(Errno.number("0") == nil && Errno.number("4096") == nil && Errno.number("4095") == 4095)
        #expect(Errno.number("ENOSUCH") == nil)
    }
}
