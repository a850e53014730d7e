// The errno numbers the listener puts on the wire (ENCAP STATUS, RESULT ERRNO) or reads from
// netlink ACKs. Always Linux numbers, whatever the host's <errno.h> says: they travel in
// messages and traces.

import LibFlowTable

public enum ListenerErrno {
    public static let EPERM: UInt32 = 1
    public static let ENOENT: UInt32 = 2
    public static let EBUSY: UInt32 = 16
    public static let EEXIST: UInt32 = 17
    public static let ENODEV: UInt32 = 19
    public static let EINVAL: UInt32 = 22
    public static let ENOSPC: UInt32 = 28
    public static let EMSGSIZE: UInt32 = 90
    public static let EOPNOTSUPP: UInt32 = 95
    public static let ENOTCONN: UInt32 = 107
    public static let ETIMEDOUT: UInt32 = 110
    public static let ECANCELED: UInt32 = 125

    /// The symbolic name for logs and statistics ("EEXIST"), or "errno N".
    public static func name(_ errno: UInt32) -> String {
        errno <= UInt32(Int32.max) ? Errno.display(Int32(errno)) : "errno \(errno)"
    }
}
