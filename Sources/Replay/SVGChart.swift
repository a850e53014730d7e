// The bench results as one SVG file a browser opens and a report can carry: per trace, the
// latency percentiles of all calls per backend (log scale), the throughput per backend (the
// headline: calls / service time, with the min–max of the runs as a labelled whisker), the p99 of
// each command per backend, and the time per call in the service and in the backend itself.
// One colour per backend, the same in every panel, with a legend; every axis says what it
// measures and in which unit; the run count, machine, trace and FlowTrace version are printed
// in the chart. A percentile needs samples: a command (or a whole run) with fewer than
// `minimumSamples` timed calls gets "n = N" instead of a bar. Hand-written SVG 1.1, no script,
// no external fonts. Every bar carries data-panel and data-backend attributes (tests read them).

import FlowTrace

#if canImport(Glibc)
import Glibc
#endif

public enum SVGChart {
    /// What the chart says about how it was measured.
    public struct Context: Sendable {
        public var runs: Int
        public var warmup: Int
        /// uname -n and the CPU model (/proc/cpuinfo).
        public var machine: String
        public var version: String

        public init(
            runs: Int, warmup: Int, machine: String = SVGChart.machineDescription(),
            version: String = FlowTraceInfo.version
        ) {
            self.runs = runs
            self.warmup = warmup
            self.machine = machine
            self.version = version
        }
    }

    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    static let panelWidth = 330.0, panelHeight = 300.0, gap = 24.0, titleHeight = 58.0, legendHeight = 26.0
    /// Percentiles of fewer timed calls than this are not drawn.
    public static let minimumSamples = 100

    /// `context` nil: the run count from the results, this machine, this version.
    public static func render(_ results: [BackendBench], context: Context? = nil) -> String {
        let ctx = context ?? Context(runs: results.map(\.runs).max() ?? 0, warmup: 0)
        var files: [String] = []
        for r in results where !files.contains(r.file) { files.append(r.file) }
        // One colour per backend, in the order they were measured, for every panel and trace.
        var backends: [String] = []
        for r in results where !backends.contains(r.backend) { backends.append(r.backend) }
        let colours = Dictionary(
            uniqueKeysWithValues: backends.enumerated().map { ($0.element, palette[$0.offset % palette.count]) })
        let width = 5 * panelWidth + 6 * gap
        let height = legendHeight + Double(max(files.count, 1)) * (panelHeight + titleHeight + gap) + gap
        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(fmt(width))" height="\(fmt(height))" \
            viewBox="0 0 \(fmt(width)) \(fmt(height))" font-family="sans-serif" font-size="11">
            <title>flowtrace bench</title>
            <rect x="0" y="0" width="\(fmt(width))" height="\(fmt(height))" fill="#ffffff"/>

            """
        s += legend(backends, colours, x: gap, y: gap)
        var y = gap + legendHeight
        for f in files {
            let rs = results.filter { $0.file == f }
            let calls = rs.first.map { "\($0.calls) calls, \($0.messages) messages per run" } ?? ""
            s += text(gap, y + 16, "trace \(f) — \(calls)", size: 14, weight: "bold", cls: "trace")
            let runs = rs.map(\.runs).max() ?? ctx.runs
            s += text(
                gap, y + 34,
                "\(runs) timed run(s) after \(ctx.warmup) warm-up per backend, each backend from the trace's "
                    + "starting state, in process, preloaded, top speed · machine: \(ctx.machine) · FlowTrace \(ctx.version)",
                size: 11, cls: "context")
            let top = y + titleHeight
            s += latencyPanel(rs, colours, x: gap, y: top)
            s += throughputPanel(rs, colours, runs: runs, x: 2 * gap + panelWidth, y: top)
            s += commandPanel(rs, colours, runs: runs, x: 3 * gap + 2 * panelWidth, y: top)
            s += costPanel(rs, colours, x: 4 * gap + 3 * panelWidth, y: top)
            s += movesPanel(rs, colours, x: 5 * gap + 4 * panelWidth, y: top)
            y += titleHeight + panelHeight + gap
        }
        s += "</svg>\n"
        return s
    }

    /// "host (CPU model, N cores)" from uname and /proc/cpuinfo; parts that cannot be read are left out.
    public static func machineDescription() -> String {
        var u = utsname()
        uname(&u)
        let host = withUnsafeBytes(of: &u.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var cpu = "", cores = 0
        if let f = fopen("/proc/cpuinfo", "r") {
            defer { fclose(f) }
            var line: UnsafeMutablePointer<CChar>?
            var cap = 0
            while getline(&line, &cap, f) > 0 {
                guard let l = line else { break }
                let text = String(cString: l)
                if text.hasPrefix("model name") || (cpu.isEmpty && text.hasPrefix("Model")) {
                    if let colon = text.firstIndex(of: ":") {
                        let value =
                            text[text.index(after: colon)...].split(separator: "\n").first.map(String.init) ?? ""
                        cpu = value.trimmingSpaces
                    }
                }
                if text.hasPrefix("processor") { cores += 1 }
            }
            free(line)
        }
        var parts: [String] = []
        if !cpu.isEmpty { parts.append(cpu) }
        if cores > 0 { parts.append("\(cores) cores") }
        let name = host.isEmpty ? "unknown host" : host
        return parts.isEmpty ? name : "\(name) (\(parts.joined(separator: ", ")))"
    }

    // MARK: panels

    static func legend(_ backends: [String], _ colours: [String: String], x: Double, y: Double) -> String {
        var s = "<g class=\"legend\">\n"
        s += text(x, y + 10, "backend:", size: 11, weight: "bold")
        var lx = x + 62
        for b in backends {
            s +=
                "<rect class=\"legend-key\" data-backend=\"\(escape(b))\" x=\"\(fmt(lx))\" y=\"\(fmt(y))\" width=\"12\" height=\"12\" "
                + "fill=\"\(colours[b] ?? "#999")\"/>\n"
            s += text(lx + 16, y + 10, b, size: 11)
            lx += 30 + Double(b.count) * 7
        }
        return s + "</g>\n"
    }

    /// A group per percentile, a bar per backend, log-scaled time.
    static func latencyPanel(_ rs: [BackendBench], _ colours: [String: String], x: Double, y: Double) -> String {
        let names = ["p50", "p90", "p99", "p99.9"]
        let samples = rs.map { $0.overall.calls * max($0.runs, 1) }.min() ?? 0
        var groups = names.map { ($0, [Double]()) }
        for r in rs {
            let o = r.overall
            for (k, v) in [o.p50, o.p90, o.p99, o.p999].enumerated() { groups[k].1.append(Double(v)) }
        }
        guard samples >= minimumSamples else {
            return emptyPanel(
                title: "latency of all calls", note: "n = \(samples) timed calls: too few for percentiles",
                x: x, y: y, panel: "latency")
        }
        return barPanel(
            title: "latency of all calls", panel: "latency", groups: groups, backends: rs.map(\.backend),
            colours: colours, log: true, yLabel: "latency (log scale)", xLabel: "percentile, all timed runs",
            x: x, y: y, format: { latency($0) })
    }

    static func throughputPanel(_ rs: [BackendBench], _ colours: [String: String], runs: Int, x: Double, y: Double)
        -> String
    {
        let groups = [("all calls", rs.map(\.serviceRate))]
        let top = niceMax(rs.flatMap { $0.runRates + [$0.serviceRate] }.max() ?? 1)
        var s = barPanel(
            title: "throughput (service time)", panel: "throughput", groups: groups, backends: rs.map(\.backend),
            colours: colours, log: false, yLabel: "calls/s", xLabel: "backend; whisker: min–max over \(runs) runs",
            x: x, y: y, format: { count($0) }, fixedTop: top, groupLabels: false)
        // Whiskers: the slowest and fastest run, on each backend's bar.
        let plot = plotArea(x: x, y: y)
        let barWidth = plot.w * 0.8 / Double(max(rs.count, 1))
        for (i, r) in rs.enumerated() {
            guard let lo = r.runRates.min(), let hi = r.runRates.max() else { continue }
            let cx = plot.x + plot.w * 0.1 + barWidth * (Double(i) + 0.5)
            let y1 = plot.y + plot.h * (1 - lo / top), y2 = plot.y + plot.h * (1 - hi / top)
            s +=
                "<g class=\"whisker\" data-backend=\"\(escape(r.backend))\"><title>\(escape(r.backend)): min–max over "
                + "\(r.runRates.count) runs: \(count(lo))–\(count(hi)) calls/s</title>\n"
            s +=
                "<line x1=\"\(fmt(cx))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(cx))\" y2=\"\(fmt(y2))\" stroke=\"#333\" stroke-width=\"1.5\"/>\n"
            s +=
                "<line x1=\"\(fmt(cx - 5))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(cx + 5))\" y2=\"\(fmt(y1))\" stroke=\"#333\"/>\n"
            s +=
                "<line x1=\"\(fmt(cx - 5))\" y1=\"\(fmt(y2))\" x2=\"\(fmt(cx + 5))\" y2=\"\(fmt(y2))\" stroke=\"#333\"/>\n</g>\n"
            s += text(cx, plot.y + plot.h + 14, r.backend, anchor: "middle", size: 10)
        }
        s += text(
            plot.x + plot.w, y + 30, "bar: all runs together; whisker: min–max over \(runs) runs", anchor: "end",
            size: 9,
            cls: "error-bars")
        return s
    }

    /// p99 per command: a group per command, a bar per backend; "n = N" where too few calls.
    static func commandPanel(_ rs: [BackendBench], _ colours: [String: String], runs: Int, x: Double, y: Double)
        -> String
    {
        var commands: [String] = []
        for r in rs { for c in r.commands where !commands.contains(c.command) { commands.append(c.command) } }
        var groups: [(String, [Double])] = []
        var notes: [Int: String] = [:]
        for (g, name) in commands.enumerated() {
            var vs: [Double] = []
            var fewest = Int.max
            for r in rs {
                let c = r.commands.first { $0.command == name }
                let n = (c?.calls ?? 0) * max(r.runs, 1)
                fewest = min(fewest, n)
                vs.append(Double(c?.p99 ?? 0))
            }
            if fewest < minimumSamples {
                notes[g] = fewest == 1 ? "n = 1" : "n = \(fewest)"
                vs = vs.map { _ in 0 }
            }
            groups.append((short(name), vs))
        }
        return barPanel(
            title: "p99 latency per command", panel: "p99", groups: groups, backends: rs.map(\.backend),
            colours: colours, log: true, yLabel: "p99 latency (log scale)",
            xLabel: "command (n < \(minimumSamples) timed calls: no percentile)", x: x, y: y,
            format: { latency($0) }, notes: notes)
    }

    /// Mean time per call in the service and per operation inside the backend.
    static func costPanel(_ rs: [BackendBench], _ colours: [String: String], x: Double, y: Double) -> String {
        let groups = [
            ("service ns/call", rs.map { $0.overall.mean }),
            ("backend ns/op", rs.map { $0.overall.backendNanosecondsPerOperation }),
        ]
        return barPanel(
            title: "mean time: service vs backend", panel: "cost", groups: groups, backends: rs.map(\.backend),
            colours: colours, log: true, yLabel: "time (log scale)",
            xLabel: "per call in the service · per backend operation", x: x, y: y, format: { latency($0) })
    }

    /// TCAM entry moves per flow inserted or deleted: the update cost hardware pays (0 for the
    /// backends that move nothing).
    static func movesPanel(_ rs: [BackendBench], _ colours: [String: String], x: Double, y: Double) -> String {
        barPanel(
            title: "entry moves per update", panel: "moves", groups: [("moves/update", rs.map(\.movesPerUpdate))],
            backends: rs.map(\.backend), colours: colours, log: false, yLabel: "entries moved per flow updated",
            xLabel: "backend (SET_FLOWS + DEL_FLOWS flows)", x: x, y: y,
            format: { v in v == v.rounded() ? String(Int(v)) : String(Double(Int(v * 100)) / 100) }, groupLabels: false)
    }

    // MARK: drawing

    static func plotArea(x: Double, y: Double) -> (x: Double, y: Double, w: Double, h: Double) {
        (x + 66, y + 36, panelWidth - 76, panelHeight - 36 - 70)
    }

    static func emptyPanel(title: String, note: String, x: Double, y: Double, panel: String) -> String {
        var s = "<g class=\"panel\" data-panel=\"\(panel)\">\n"
        s +=
            "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(panelWidth))\" height=\"\(fmt(panelHeight))\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n"
        s += text(x + 8, y + 16, title, size: 12, weight: "bold")
        s += text(x + panelWidth / 2, y + panelHeight / 2, note, anchor: "middle", size: 11, cls: "sample-note")
        return s + "</g>\n"
    }

    /// Bars in groups; within a group one bar per backend, in the backend's colour.
    static func barPanel(
        title: String, panel: String, groups: [(String, [Double])], backends: [String],
        colours: [String: String], log: Bool, yLabel: String, xLabel: String, x: Double, y: Double,
        format: (Double) -> String, fixedTop: Double? = nil, groupLabels: Bool = true,
        notes: [Int: String] = [:]
    ) -> String {
        var s = "<g class=\"panel\" data-panel=\"\(panel)\">\n"
        s +=
            "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(panelWidth))\" height=\"\(fmt(panelHeight))\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n"
        s += text(x + 8, y + 16, title, size: 12, weight: "bold")
        let p = plotArea(x: x, y: y)
        let values = groups.flatMap { $0.1 }.filter { $0 > 0 }
        let top = fixedTop ?? (log ? pow10Ceil(values.max() ?? 10) : niceMax(values.max() ?? 1))
        // Below the smallest value, so its bar has a height (a value on the bottom line has none).
        let bottom = log ? pow10Floor((values.min() ?? 2) / 2) : 0
        func scale(_ v: Double) -> Double {
            if log {
                guard v > 0, top > bottom else { return 0 }
                return max(0, min(1, (log10(v) - log10(bottom)) / (log10(top) - log10(bottom))))
            }
            return top > 0 ? max(0, min(1, v / top)) : 0
        }
        // Axes, grid and their labels.
        var ticks: [Double] = []
        if log {
            var t = bottom
            while t <= top * 1.0001 { ticks.append(t); t *= 10 }
        } else {
            // Five steps of a nice maximum (1, 2, 2.5, 5 × 10^k) are round numbers.
            ticks = (0...5).map { top * Double($0) / 5 }
        }
        for t in ticks {
            let ty = p.y + p.h * (1 - scale(t))
            s +=
                "<line x1=\"\(fmt(p.x))\" y1=\"\(fmt(ty))\" x2=\"\(fmt(p.x + p.w))\" y2=\"\(fmt(ty))\" stroke=\"#e3e3e3\"/>\n"
            s += text(p.x - 4, ty + 4, format(t), anchor: "end", size: 10, cls: "tick")
        }
        s +=
            "<line x1=\"\(fmt(p.x))\" y1=\"\(fmt(p.y))\" x2=\"\(fmt(p.x))\" y2=\"\(fmt(p.y + p.h))\" stroke=\"#888\"/>\n"
        s +=
            "<line x1=\"\(fmt(p.x))\" y1=\"\(fmt(p.y + p.h))\" x2=\"\(fmt(p.x + p.w))\" y2=\"\(fmt(p.y + p.h))\" stroke=\"#888\"/>\n"
        let ly = p.y + p.h / 2, lx = x + 13
        s +=
            "<text class=\"axis-label\" data-axis=\"y\" x=\"\(fmt(lx))\" y=\"\(fmt(ly))\" text-anchor=\"middle\" font-size=\"10\" "
            + "transform=\"rotate(-90 \(fmt(lx)) \(fmt(ly)))\">\(escape(yLabel))</text>\n"
        s +=
            "<text class=\"axis-label\" data-axis=\"x\" x=\"\(fmt(p.x + p.w / 2))\" y=\"\(fmt(y + panelHeight - 8))\" "
            + "text-anchor=\"middle\" font-size=\"10\">\(escape(xLabel))</text>\n"
        // Bars.
        let groupWidth = p.w / Double(max(groups.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(backends.count, 1))
        for (g, (name, vs)) in groups.enumerated() {
            let gx = p.x + groupWidth * Double(g) + groupWidth * 0.1
            if let note = notes[g] {
                s += text(gx + groupWidth * 0.4, p.y + p.h - 6, note, anchor: "middle", size: 9, cls: "sample-note")
            } else {
                for (k, v) in vs.enumerated() where k < backends.count {
                    let h = p.h * scale(v)
                    let b = backends[k]
                    s +=
                        "<rect class=\"bar\" data-panel=\"\(panel)\" data-backend=\"\(escape(b))\" "
                        + "x=\"\(fmt(gx + barWidth * Double(k)))\" y=\"\(fmt(p.y + p.h - h))\" width=\"\(fmt(max(barWidth - 1, 1)))\" "
                        + "height=\"\(fmt(h))\" fill=\"\(colours[b] ?? "#999")\"><title>\(escape(b)) \(escape(name)): "
                        + "\(escape(format(v)))</title></rect>\n"
                }
            }
            guard groupLabels else { continue }
            if groups.count > 4 {
                // Many groups: slanted labels, so long command names do not run into each other.
                let lx = gx + groupWidth * 0.4, ly = p.y + p.h + 12
                s +=
                    "<text x=\"\(fmt(lx))\" y=\"\(fmt(ly))\" text-anchor=\"end\" font-size=\"9\" "
                    + "transform=\"rotate(-35 \(fmt(lx)) \(fmt(ly)))\">\(escape(name))</text>\n"
            } else {
                s += text(gx + groupWidth * 0.4, p.y + p.h + 14, name, anchor: "middle", size: 10)
            }
        }
        s += "</g>\n"
        return s
    }

    static func text(
        _ x: Double, _ y: Double, _ t: String, anchor: String = "start", size: Int = 11,
        weight: String = "normal", cls: String? = nil
    ) -> String {
        "<text" + (cls.map { " class=\"\($0)\"" } ?? "") + " x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" "
            + "font-size=\"\(size)\" font-weight=\"\(weight)\">" + escape(t) + "</text>\n"
    }

    static func escape(_ t: String) -> String {
        var out = ""
        for c in t.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // XML 1.0 allows no other control characters, even escaped.
            case _ where c.value < 0x20 && c != "\t" && c != "\n": out += "?"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func fmt(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e12 else { return "0" }
        return String(Double(Int((x * 10).rounded())) / 10)
    }

    static func short(_ command: String) -> String {
        command.hasPrefix("GET_") && command != "GET_FLOWS" ? String(command.dropFirst(4)) : command
    }

    static func latency(_ ns: Double) -> String {
        if ns < 1_000 { return "\(Int(ns)) ns" }
        if ns < 1_000_000 { return trim(ns / 1_000) + " µs" }
        if ns < 1_000_000_000 { return trim(ns / 1_000_000) + " ms" }
        return trim(ns / 1_000_000_000) + " s"
    }

    static func count(_ x: Double) -> String {
        if x >= 1e6 { return trim(x / 1e6) + "M" }
        if x >= 1e3 { return trim(x / 1e3) + "k" }
        return trim(x)
    }

    static func trim(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e15 else { return x.isFinite ? String(x) : "-" }
        let r = (x * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static func pow10Ceil(_ x: Double) -> Double {
        var t = 1.0
        while t < x { t *= 10 }
        return t
    }

    static func pow10Floor(_ x: Double) -> Double {
        var t = 1.0
        while t * 10 <= x { t *= 10 }
        return max(t, 1)
    }

    static func niceMax(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        var base = 1.0
        while base * 10 <= x { base *= 10 }
        for m in [1.0, 2, 2.5, 5, 10] where base * m >= x { return base * m }
        return base * 10
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s = s.dropLast() }
        return String(s)
    }
}
