// Linux errno numbers and names (asm-generic/errno-base.h, errno.h; 524 is the kernel-internal
// ENOTSUPP that netlink sometimes leaks), used through Errno (Errno.swift). The one table: the
// Wireshark plugin's errno names are printed from it too. Literal Linux numbers, whatever the
// host's <errno.h> says: they travel in messages and traces.

enum LinuxErrnoTable {
    static let names: [(UInt32, String)] = [
        (1, "EPERM"), (2, "ENOENT"), (3, "ESRCH"), (4, "EINTR"), (5, "EIO"), (6, "ENXIO"), (7, "E2BIG"),
        (8, "ENOEXEC"), (9, "EBADF"), (10, "ECHILD"), (11, "EAGAIN"), (12, "ENOMEM"), (13, "EACCES"),
        (14, "EFAULT"), (15, "ENOTBLK"), (16, "EBUSY"), (17, "EEXIST"), (18, "EXDEV"), (19, "ENODEV"),
        (20, "ENOTDIR"), (21, "EISDIR"), (22, "EINVAL"), (23, "ENFILE"), (24, "EMFILE"), (25, "ENOTTY"),
        (26, "ETXTBSY"), (27, "EFBIG"), (28, "ENOSPC"), (29, "ESPIPE"), (30, "EROFS"), (31, "EMLINK"),
        (32, "EPIPE"), (33, "EDOM"), (34, "ERANGE"), (35, "EDEADLK"), (36, "ENAMETOOLONG"), (37, "ENOLCK"),
        (38, "ENOSYS"), (39, "ENOTEMPTY"), (40, "ELOOP"), (42, "ENOMSG"), (43, "EIDRM"), (44, "ECHRNG"),
        (45, "EL2NSYNC"), (46, "EL3HLT"), (47, "EL3RST"), (48, "ELNRNG"), (49, "EUNATCH"), (50, "ENOCSI"),
        (51, "EL2HLT"), (52, "EBADE"), (53, "EBADR"), (54, "EXFULL"), (55, "ENOANO"), (56, "EBADRQC"),
        (57, "EBADSLT"), (59, "EBFONT"), (60, "ENOSTR"), (61, "ENODATA"), (62, "ETIME"), (63, "ENOSR"),
        (64, "ENONET"), (65, "ENOPKG"), (66, "EREMOTE"), (67, "ENOLINK"), (68, "EADV"), (69, "ESRMNT"),
        (70, "ECOMM"), (71, "EPROTO"), (72, "EMULTIHOP"), (73, "EDOTDOT"), (74, "EBADMSG"),
        (75, "EOVERFLOW"), (76, "ENOTUNIQ"), (77, "EBADFD"), (78, "EREMCHG"), (79, "ELIBACC"),
        (80, "ELIBBAD"), (81, "ELIBSCN"), (82, "ELIBMAX"), (83, "ELIBEXEC"), (84, "EILSEQ"),
        (85, "ERESTART"), (86, "ESTRPIPE"), (87, "EUSERS"), (88, "ENOTSOCK"), (89, "EDESTADDRREQ"),
        (90, "EMSGSIZE"), (91, "EPROTOTYPE"), (92, "ENOPROTOOPT"), (93, "EPROTONOSUPPORT"),
        (94, "ESOCKTNOSUPPORT"), (95, "EOPNOTSUPP"), (96, "EPFNOSUPPORT"), (97, "EAFNOSUPPORT"),
        (98, "EADDRINUSE"), (99, "EADDRNOTAVAIL"), (100, "ENETDOWN"), (101, "ENETUNREACH"),
        (102, "ENETRESET"), (103, "ECONNABORTED"), (104, "ECONNRESET"), (105, "ENOBUFS"), (106, "EISCONN"),
        (107, "ENOTCONN"), (108, "ESHUTDOWN"), (109, "ETOOMANYREFS"), (110, "ETIMEDOUT"),
        (111, "ECONNREFUSED"), (112, "EHOSTDOWN"), (113, "EHOSTUNREACH"), (114, "EALREADY"),
        (115, "EINPROGRESS"), (116, "ESTALE"), (117, "EUCLEAN"), (118, "ENOTNAM"), (119, "ENAVAIL"),
        (120, "EISNAM"), (121, "EREMOTEIO"), (122, "EDQUOT"), (123, "ENOMEDIUM"), (124, "EMEDIUMTYPE"),
        (125, "ECANCELED"), (126, "ENOKEY"), (127, "EKEYEXPIRED"), (128, "EKEYREVOKED"),
        (129, "EKEYREJECTED"), (130, "EOWNERDEAD"), (131, "ENOTRECOVERABLE"), (132, "ERFKILL"),
        (133, "EHWPOISON"), (524, "ENOTSUPP"),
    ]
}

extension Errno {
    @inlinable public static var EPERM: UInt32 { 1 }
    @inlinable public static var ENOENT: UInt32 { 2 }
    @inlinable public static var ESRCH: UInt32 { 3 }
    @inlinable public static var EINTR: UInt32 { 4 }
    @inlinable public static var EIO: UInt32 { 5 }
    @inlinable public static var ENXIO: UInt32 { 6 }
    @inlinable public static var E2BIG: UInt32 { 7 }
    @inlinable public static var ENOEXEC: UInt32 { 8 }
    @inlinable public static var EBADF: UInt32 { 9 }
    @inlinable public static var ECHILD: UInt32 { 10 }
    @inlinable public static var EAGAIN: UInt32 { 11 }
    @inlinable public static var ENOMEM: UInt32 { 12 }
    @inlinable public static var EACCES: UInt32 { 13 }
    @inlinable public static var EFAULT: UInt32 { 14 }
    @inlinable public static var ENOTBLK: UInt32 { 15 }
    @inlinable public static var EBUSY: UInt32 { 16 }
    @inlinable public static var EEXIST: UInt32 { 17 }
    @inlinable public static var EXDEV: UInt32 { 18 }
    @inlinable public static var ENODEV: UInt32 { 19 }
    @inlinable public static var ENOTDIR: UInt32 { 20 }
    @inlinable public static var EISDIR: UInt32 { 21 }
    @inlinable public static var EINVAL: UInt32 { 22 }
    @inlinable public static var ENFILE: UInt32 { 23 }
    @inlinable public static var EMFILE: UInt32 { 24 }
    @inlinable public static var ENOTTY: UInt32 { 25 }
    @inlinable public static var ETXTBSY: UInt32 { 26 }
    @inlinable public static var EFBIG: UInt32 { 27 }
    @inlinable public static var ENOSPC: UInt32 { 28 }
    @inlinable public static var ESPIPE: UInt32 { 29 }
    @inlinable public static var EROFS: UInt32 { 30 }
    @inlinable public static var EMLINK: UInt32 { 31 }
    @inlinable public static var EPIPE: UInt32 { 32 }
    @inlinable public static var EDOM: UInt32 { 33 }
    @inlinable public static var ERANGE: UInt32 { 34 }
    @inlinable public static var EDEADLK: UInt32 { 35 }
    @inlinable public static var ENAMETOOLONG: UInt32 { 36 }
    @inlinable public static var ENOLCK: UInt32 { 37 }
    @inlinable public static var ENOSYS: UInt32 { 38 }
    @inlinable public static var ENOTEMPTY: UInt32 { 39 }
    @inlinable public static var ELOOP: UInt32 { 40 }
    @inlinable public static var ENOMSG: UInt32 { 42 }
    @inlinable public static var EIDRM: UInt32 { 43 }
    @inlinable public static var ECHRNG: UInt32 { 44 }
    @inlinable public static var EL2NSYNC: UInt32 { 45 }
    @inlinable public static var EL3HLT: UInt32 { 46 }
    @inlinable public static var EL3RST: UInt32 { 47 }
    @inlinable public static var ELNRNG: UInt32 { 48 }
    @inlinable public static var EUNATCH: UInt32 { 49 }
    @inlinable public static var ENOCSI: UInt32 { 50 }
    @inlinable public static var EL2HLT: UInt32 { 51 }
    @inlinable public static var EBADE: UInt32 { 52 }
    @inlinable public static var EBADR: UInt32 { 53 }
    @inlinable public static var EXFULL: UInt32 { 54 }
    @inlinable public static var ENOANO: UInt32 { 55 }
    @inlinable public static var EBADRQC: UInt32 { 56 }
    @inlinable public static var EBADSLT: UInt32 { 57 }
    @inlinable public static var EBFONT: UInt32 { 59 }
    @inlinable public static var ENOSTR: UInt32 { 60 }
    @inlinable public static var ENODATA: UInt32 { 61 }
    @inlinable public static var ETIME: UInt32 { 62 }
    @inlinable public static var ENOSR: UInt32 { 63 }
    @inlinable public static var ENONET: UInt32 { 64 }
    @inlinable public static var ENOPKG: UInt32 { 65 }
    @inlinable public static var EREMOTE: UInt32 { 66 }
    @inlinable public static var ENOLINK: UInt32 { 67 }
    @inlinable public static var EADV: UInt32 { 68 }
    @inlinable public static var ESRMNT: UInt32 { 69 }
    @inlinable public static var ECOMM: UInt32 { 70 }
    @inlinable public static var EPROTO: UInt32 { 71 }
    @inlinable public static var EMULTIHOP: UInt32 { 72 }
    @inlinable public static var EDOTDOT: UInt32 { 73 }
    @inlinable public static var EBADMSG: UInt32 { 74 }
    @inlinable public static var EOVERFLOW: UInt32 { 75 }
    @inlinable public static var ENOTUNIQ: UInt32 { 76 }
    @inlinable public static var EBADFD: UInt32 { 77 }
    @inlinable public static var EREMCHG: UInt32 { 78 }
    @inlinable public static var ELIBACC: UInt32 { 79 }
    @inlinable public static var ELIBBAD: UInt32 { 80 }
    @inlinable public static var ELIBSCN: UInt32 { 81 }
    @inlinable public static var ELIBMAX: UInt32 { 82 }
    @inlinable public static var ELIBEXEC: UInt32 { 83 }
    @inlinable public static var EILSEQ: UInt32 { 84 }
    @inlinable public static var ERESTART: UInt32 { 85 }
    @inlinable public static var ESTRPIPE: UInt32 { 86 }
    @inlinable public static var EUSERS: UInt32 { 87 }
    @inlinable public static var ENOTSOCK: UInt32 { 88 }
    @inlinable public static var EDESTADDRREQ: UInt32 { 89 }
    @inlinable public static var EMSGSIZE: UInt32 { 90 }
    @inlinable public static var EPROTOTYPE: UInt32 { 91 }
    @inlinable public static var ENOPROTOOPT: UInt32 { 92 }
    @inlinable public static var EPROTONOSUPPORT: UInt32 { 93 }
    @inlinable public static var ESOCKTNOSUPPORT: UInt32 { 94 }
    @inlinable public static var EOPNOTSUPP: UInt32 { 95 }
    @inlinable public static var EPFNOSUPPORT: UInt32 { 96 }
    @inlinable public static var EAFNOSUPPORT: UInt32 { 97 }
    @inlinable public static var EADDRINUSE: UInt32 { 98 }
    @inlinable public static var EADDRNOTAVAIL: UInt32 { 99 }
    @inlinable public static var ENETDOWN: UInt32 { 100 }
    @inlinable public static var ENETUNREACH: UInt32 { 101 }
    @inlinable public static var ENETRESET: UInt32 { 102 }
    @inlinable public static var ECONNABORTED: UInt32 { 103 }
    @inlinable public static var ECONNRESET: UInt32 { 104 }
    @inlinable public static var ENOBUFS: UInt32 { 105 }
    @inlinable public static var EISCONN: UInt32 { 106 }
    @inlinable public static var ENOTCONN: UInt32 { 107 }
    @inlinable public static var ESHUTDOWN: UInt32 { 108 }
    @inlinable public static var ETOOMANYREFS: UInt32 { 109 }
    @inlinable public static var ETIMEDOUT: UInt32 { 110 }
    @inlinable public static var ECONNREFUSED: UInt32 { 111 }
    @inlinable public static var EHOSTDOWN: UInt32 { 112 }
    @inlinable public static var EHOSTUNREACH: UInt32 { 113 }
    @inlinable public static var EALREADY: UInt32 { 114 }
    @inlinable public static var EINPROGRESS: UInt32 { 115 }
    @inlinable public static var ESTALE: UInt32 { 116 }
    @inlinable public static var EUCLEAN: UInt32 { 117 }
    @inlinable public static var ENOTNAM: UInt32 { 118 }
    @inlinable public static var ENAVAIL: UInt32 { 119 }
    @inlinable public static var EISNAM: UInt32 { 120 }
    @inlinable public static var EREMOTEIO: UInt32 { 121 }
    @inlinable public static var EDQUOT: UInt32 { 122 }
    @inlinable public static var ENOMEDIUM: UInt32 { 123 }
    @inlinable public static var EMEDIUMTYPE: UInt32 { 124 }
    @inlinable public static var ECANCELED: UInt32 { 125 }
    @inlinable public static var ENOKEY: UInt32 { 126 }
    @inlinable public static var EKEYEXPIRED: UInt32 { 127 }
    @inlinable public static var EKEYREVOKED: UInt32 { 128 }
    @inlinable public static var EKEYREJECTED: UInt32 { 129 }
    @inlinable public static var EOWNERDEAD: UInt32 { 130 }
    @inlinable public static var ENOTRECOVERABLE: UInt32 { 131 }
    @inlinable public static var ERFKILL: UInt32 { 132 }
    @inlinable public static var EHWPOISON: UInt32 { 133 }
    @inlinable public static var ENOTSUPP: UInt32 { 524 }
}
