// The process's heap as the C library's allocator counts it, for figures such as bytes per flow.

internal import CPosix

public enum Heap {
    /// Bytes of heap in use (allocated chunks of every arena plus mmapped blocks: glibc's
    /// mallinfo2), or nil where the C library does not say. Takes the allocator's arena locks
    /// briefly; nothing is written anywhere.
    public static func bytesInUse() -> Int? {
        let n = cposix_heap_in_use()
        return n < 0 ? nil : Int(n)
    }
}
