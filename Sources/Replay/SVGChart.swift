// The bench results as one SVG file a browser opens: per trace, the latency percentiles of all
// commands per backend (log scale), the throughput per backend (median, min–max whisker), and
// the p99 of each command per backend. Hand-written SVG 1.1, no script, no external fonts.

#if canImport(Glibc)
import Glibc
#endif

public enum SVGChart {
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    static let panelWidth = 320.0, panelHeight = 290.0, gap = 24.0, titleHeight = 34.0

    public static func render(_ results: [BackendBench]) -> String {
        var files: [String] = []
        for r in results where !files.contains(r.file) { files.append(r.file) }
        let width = 3 * panelWidth + 4 * gap
        let height = Double(max(files.count, 1)) * (panelHeight + titleHeight + gap) + gap
        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(fmt(width))" height="\(fmt(height))" \
            viewBox="0 0 \(fmt(width)) \(fmt(height))" font-family="sans-serif" font-size="11">
            <title>flowtrace bench</title>
            <rect x="0" y="0" width="\(fmt(width))" height="\(fmt(height))" fill="#ffffff"/>

            """
        var y = gap
        for f in files {
            let rs = results.filter { $0.file == f }
            s += text(gap, y + 14, "\(f) — \(rs.first.map { "\($0.calls) calls per run" } ?? "")", size: 14, weight: "bold")
            let top = y + titleHeight
            s += latencyPanel(rs, x: gap, y: top)
            s += throughputPanel(rs, x: 2 * gap + panelWidth, y: top)
            s += commandPanel(rs, x: 3 * gap + 2 * panelWidth, y: top)
            y += titleHeight + panelHeight + gap
        }
        s += "</svg>\n"
        return s
    }

    // MARK: panels

    /// Grouped bars: a group per backend, a bar per percentile, log-scaled nanoseconds.
    static func latencyPanel(_ rs: [BackendBench], x: Double, y: Double) -> String {
        let names = ["p50", "p90", "p99", "p99.9"]
        let groups = rs.map { r in (r.backend, [r.overall.p50, r.overall.p90, r.overall.p99, r.overall.p999].map { Double($0) }) }
        return barPanel(title: "latency, all commands", groups: groups, series: names, log: true, x: x, y: y,
                        format: { latency($0) })
    }

    static func throughputPanel(_ rs: [BackendBench], x: Double, y: Double) -> String {
        let groups = rs.map { r in (r.backend, [r.serviceRate]) }
        var s = barPanel(title: "throughput, calls/s (median of runs)", groups: groups, series: ["calls/s"], log: false,
                         x: x, y: y, format: { count($0) }, colorByGroup: true)
        // Whiskers: the slowest and fastest run.
        let plot = plotArea(x: x, y: y)
        let maxValue = niceMax(rs.flatMap { $0.runRates + [$0.serviceRate] }.max() ?? 1)
        let groupWidth = plot.w / Double(max(rs.count, 1))
        for (i, r) in rs.enumerated() {
            guard let lo = r.runRates.min(), let hi = r.runRates.max() else { continue }
            let cx = plot.x + groupWidth * (Double(i) + 0.5)
            let y1 = plot.y + plot.h * (1 - lo / maxValue), y2 = plot.y + plot.h * (1 - hi / maxValue)
            s += "<line x1=\"\(fmt(cx))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(cx))\" y2=\"\(fmt(y2))\" stroke=\"#333\" stroke-width=\"1.5\"/>\n"
            s += "<line x1=\"\(fmt(cx - 5))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(cx + 5))\" y2=\"\(fmt(y1))\" stroke=\"#333\"/>\n"
            s += "<line x1=\"\(fmt(cx - 5))\" y1=\"\(fmt(y2))\" x2=\"\(fmt(cx + 5))\" y2=\"\(fmt(y2))\" stroke=\"#333\"/>\n"
        }
        return s
    }

    /// p99 per command: a group per command, a bar per backend.
    static func commandPanel(_ rs: [BackendBench], x: Double, y: Double) -> String {
        var commands: [String] = []
        for r in rs { for c in r.commands where !commands.contains(c.command) { commands.append(c.command) } }
        let groups = commands.map { name in
            (short(name), rs.map { r in Double(r.commands.first { $0.command == name }?.p99 ?? 0) })
        }
        return barPanel(title: "p99 latency per command", groups: groups, series: rs.map(\.backend), log: true, x: x, y: y,
                        format: { latency($0) })
    }

    // MARK: drawing

    static func plotArea(x: Double, y: Double) -> (x: Double, y: Double, w: Double, h: Double) {
        (x + 52, y + 22, panelWidth - 60, panelHeight - 22 - 78)
    }

    static func barPanel(title: String, groups: [(String, [Double])], series: [String], log: Bool, x: Double, y: Double,
                         format: (Double) -> String, colorByGroup: Bool = false) -> String {
        var s = "<g>\n"
        s += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(panelWidth))\" height=\"\(fmt(panelHeight))\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n"
        s += text(x + 8, y + 15, title, size: 12, weight: "bold")
        let p = plotArea(x: x, y: y)
        let values = groups.flatMap { $0.1 }.filter { $0 > 0 }
        let top = log ? pow10Ceil(values.max() ?? 10) : niceMax(values.max() ?? 1)
        let bottom = log ? pow10Floor(values.min() ?? 1) : 0
        func scale(_ v: Double) -> Double {
            if log {
                guard v > 0, top > bottom else { return 0 }
                return max(0, min(1, (log10(v) - log10(bottom)) / (log10(top) - log10(bottom))))
            }
            return top > 0 ? max(0, min(1, v / top)) : 0
        }
        // Axis and grid.
        var ticks: [Double] = []
        if log {
            var t = bottom
            while t <= top * 1.0001 { ticks.append(t); t *= 10 }
        } else {
            ticks = (0...4).map { top * Double($0) / 4 }
        }
        for t in ticks {
            let ty = p.y + p.h * (1 - scale(t))
            s += "<line x1=\"\(fmt(p.x))\" y1=\"\(fmt(ty))\" x2=\"\(fmt(p.x + p.w))\" y2=\"\(fmt(ty))\" stroke=\"#e3e3e3\"/>\n"
            s += text(p.x - 4, ty + 4, format(t), anchor: "end", size: 10)
        }
        s += "<line x1=\"\(fmt(p.x))\" y1=\"\(fmt(p.y + p.h))\" x2=\"\(fmt(p.x + p.w))\" y2=\"\(fmt(p.y + p.h))\" stroke=\"#888\"/>\n"
        // Bars.
        let groupWidth = p.w / Double(max(groups.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(series.count, 1))
        for (g, (name, vs)) in groups.enumerated() {
            let gx = p.x + groupWidth * Double(g) + groupWidth * 0.1
            for (k, v) in vs.enumerated() {
                let h = p.h * scale(v)
                let color = palette[(colorByGroup ? g : k) % palette.count]
                s += "<rect x=\"\(fmt(gx + barWidth * Double(k)))\" y=\"\(fmt(p.y + p.h - h))\" width=\"\(fmt(max(barWidth - 1, 1)))\" "
                    + "height=\"\(fmt(h))\" fill=\"\(color)\"><title>\(escape(name)) \(escape(k < series.count ? series[k] : "")): "
                    + "\(escape(format(v)))</title></rect>\n"
            }
            if groups.count > 4 {
                // Many groups: slanted labels, so long command names do not run into each other.
                let lx = gx + groupWidth * 0.4, ly = p.y + p.h + 12
                s += "<text x=\"\(fmt(lx))\" y=\"\(fmt(ly))\" text-anchor=\"end\" font-size=\"9\" "
                    + "transform=\"rotate(-35 \(fmt(lx)) \(fmt(ly)))\">\(escape(name))</text>\n"
            } else {
                s += text(gx + groupWidth * 0.4, p.y + p.h + 14, name, anchor: "middle", size: 10)
            }
        }
        // Legend.
        if series.count > 1 || !colorByGroup {
            var lx = x + 8
            let ly = y + panelHeight - 10
            for (k, name) in series.enumerated() {
                s += "<rect x=\"\(fmt(lx))\" y=\"\(fmt(ly - 9))\" width=\"10\" height=\"10\" fill=\"\(palette[k % palette.count])\"/>\n"
                s += text(lx + 13, ly, name, size: 10)
                lx += 18 + Double(name.count) * 6.5
            }
        }
        s += "</g>\n"
        return s
    }

    static func text(_ x: Double, _ y: Double, _ t: String, anchor: String = "start", size: Int = 11,
                     weight: String = "normal") -> String {
        "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\" font-weight=\"\(weight)\">"
            + escape(t) + "</text>\n"
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
        if ns < 1_000 { return "\(Int(ns))ns" }
        if ns < 1_000_000 { return trim(ns / 1_000) + "µs" }
        if ns < 1_000_000_000 { return trim(ns / 1_000_000) + "ms" }
        return trim(ns / 1_000_000_000) + "s"
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
