// A file (or pipe) read through one reusable buffer, so a reader's memory stays constant on
// any file size: the buffer grows only to the largest block seen, and a block larger than
// `maxWindow` is refused before anything is allocated for it. read(2) rather than mmap so
// pipes (`flowtrace read -` < trace) work the same, and a file that shrinks under us yields
// a short read instead of SIGBUS. The bytes come through a TraceByteStream: a gzip-compressed
// file reads as the trace it holds.

import Posix

final class ChunkedInput {
    let fd: Int32
    let closeWhenDone: Bool
    let name: String
    /// The largest window `ensure` will grow to.
    let maxWindow: Int

    // Unchecked exclusivity: a reader is used by one thread and these are plain loads and
    // stores, never held across a call; the runtime's checks would be a visible share of a record's cost.
    @exclusivity(unchecked) private var base: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    /// Unconsumed bytes are base[start..<end].
    @exclusivity(unchecked) private var start = 0
    @exclusivity(unchecked) private var end = 0
    /// File offset of base[start].
    @exclusivity(unchecked) private(set) var position: UInt64 = 0
    @exclusivity(unchecked) private(set) var atEOF = false
    private var closed = false
    private let stream: TraceByteStream

    init(fd: Int32, closeWhenDone: Bool, name: String, chunkSize: Int, maxWindow: Int) {
        self.fd = fd
        self.closeWhenDone = closeWhenDone
        self.name = name
        self.capacity = max(4096, chunkSize)
        self.maxWindow = max(self.capacity, maxWindow)
        stream = TraceByteStream(fd: fd, name: name)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        closeFile()
        base.deallocate()
    }

    func closeFile() {
        if !closed && closeWhenDone { _ = Sys.close(fd) }
        closed = true
    }

    /// Ends the reading at bad bytes at `offset`: closes the file; the error names it.
    func stop(_ message: String, at offset: UInt64, _ kind: TraceFileError.Kind) -> TraceFileError {
        closeFile()
        return TraceFileError(kind, message, path: name, offset: offset)
    }

    /// Ends the reading at a block (or record) cut short at the current position: closes the
    /// file and says where the cut is.
    func stopTruncated(blockType: UInt32?, declaredLength: UInt64?) -> TraceTruncation {
        let cut = TraceTruncation(
            fileEnd: position + UInt64(available), blockOffset: position,
            blockType: blockType, declaredLength: declaredLength)
        closeFile()
        return cut
    }

    /// Bytes available from the current position without reading.
    @inline(__always) var available: Int { end - start }

    /// The bytes at the current position; valid until the next `ensure` or `consume`.
    @inline(__always) var window: UnsafeRawPointer { UnsafeRawPointer(base + start) }

    /// Makes `n` bytes (n ≤ maxWindow) available at the current position, reading as needed.
    /// Returns how many are available: fewer than `n` only at end of file.
    @inline(__always)
    func ensure(_ n: Int) throws(TraceFileError) -> Int {
        if end - start >= n { return end - start }
        return try refill(n)
    }

    private func refill(_ n: Int) throws(TraceFileError) -> Int {
        guard n <= maxWindow else {
            // Callers check declared lengths against the limit first; this is the backstop.
            throw TraceFileError(
                .malformed, "a block of \(n) bytes exceeds the reader's \(maxWindow)-byte limit",
                path: name, offset: position)
        }
        if start + n > capacity {
            if n > capacity {
                // Grow to the block size (rounded to a chunk multiple), never past maxWindow.
                var newCapacity = capacity
                while newCapacity < n { newCapacity = min(newCapacity * 2, maxWindow) }
                let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
                fresh.copyMemory(from: base + start, byteCount: end - start)
                base.deallocate()
                base = fresh
                capacity = newCapacity
            } else {
                // Slide the unconsumed tail to the front; the caller's old views die here.
                (base).copyMemory(from: base + start, byteCount: end - start)
            }
            end -= start
            start = 0
        }
        while end - start < n && !atEOF {
            let got = try stream.read(base + end, capacity - end)
            if got < 0 {
                throw TraceFileError(
                    .io(Int32(-got)), "read failed", path: name, offset: position + UInt64(end - start))
            }
            if got == 0 { atEOF = true } else { end += got }
        }
        return end - start
    }

    /// Whether the file is gzip-compressed (known after the first `ensure`).
    var isCompressed: Bool { stream.isCompressed }

    /// Set when a gzip-compressed input ends before its gzip stream does.
    var compressionCut: String? { stream.gzipCut }

    /// Moves the position past `n` available bytes.
    @inline(__always) func consume(_ n: Int) {
        start += n
        position += UInt64(n)
    }
}
