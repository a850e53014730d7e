// The progress line of a long job (gen, replay, bench, and stats/show/repair/audit of a large
// trace): on stderr, only when stderr is a terminal, redrawn with \r at most ten times a
// second and cleared at the end, so a pipe or a log file never sees it.

import FlowTrace
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let total: Int
    let label: String
    let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var drawn = false
    /// Redraws at most this often.
    static let interval: UInt64 = 100_000_000

    init(total: Int, label: String, enabled: Bool = isatty(2) != 0) {
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, note: String = "") {
        guard enabled, Self.due(&lastDraw) else { return }
        let width = 30
        let filled = min(width, max(0, done) * width / total)
        let percent = min(100, max(0, done) * 100 / total)
        draw(
            "\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                + "] \(percent)% \(note)")
    }

    /// Progress in bytes: a percentage when the size is known, else the bytes read.
    func update(bytes: UInt64, of size: UInt64?, note: String = "") {
        guard enabled, Self.due(&lastDraw) else { return }
        if let size, size > 0 {
            let width = 30
            let f = min(1.0, Double(bytes) / Double(size))
            let filled = Int(f * Double(width))
            draw(
                "\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                    + "] \(Int(f * 100))% \(note)")
        } else {
            draw("\(label) \(bytes >> 20) MiB read \(note)")
        }
    }

    func finish() {
        guard enabled, drawn else { return }
        var line = "\r\u{1b}[K"
        line.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
        drawn = false
    }

    private func draw(_ text: String) {
        var line = "\r" + text + "\u{1b}[K"
        line.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
        drawn = true
    }

    private static func due(_ last: inout UInt64) -> Bool {
        let now = MonotonicClock.now()
        guard last == 0 || now - last >= interval else { return false }
        last = now
        return true
    }
}

/// The progress of reading traces: every TraceReader opened from now on reports the bytes it
/// has read (per buffer refill, never per record) to one bar. `onlyIf`: an extra condition
/// (show draws only when its own lines do not go to the terminal).
@discardableResult
func showReadProgress(label: String, onlyIf extra: Bool = true) -> ProgressBar? {
    guard isatty(2) != 0, extra else { return nil }
    let bar = ProgressBar(total: 1, label: label)
    TraceReader.progress = { name, read, size in bar.update(bytes: read, of: size, note: name) }
    atexit { clearProgressLine() }
    return bar
}

/// Clears a progress line left on the terminal (at exit, whatever path the tool leaves by).
func clearProgressLine() {
    var line = "\r\u{1b}[K"
    line.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
}

/// Whether stdout is a regular file (show's lines then do not share the terminal with the bar).
func stdoutIsFile() -> Bool {
    var st = stat()
    return fstat(1, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}
