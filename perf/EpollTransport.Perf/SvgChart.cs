using System.Globalization;
using System.Security;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// Grouped bar charts of the ratios to the baseline, drawn as plain SVG (no plotting dependency): per
/// core setup, one panel for throughput (higher is better), one for CPU and memory cost and one for p99
/// (lower is better), a line at 1.0 and a marker where a target against Sockets default sits on the
/// Epoll default bar. With both setups the shared-core panels come first, then the dedicated-core ones.
/// </summary>
internal static class SvgChart
{
    private const int BarWidth = 16;
    private const int GroupGap = 28;
    private const int MinLeft = 64;
    // Rough advance of one character at the label font size: enough to keep rotated labels on the canvas.
    private const double CharWidth = 6.2;
    private const int Right = 24;
    private const int PlotHeight = 220;
    private const int LabelSpace = 150;
    private const int TitleSpace = 40;
    // Ratios beyond this are drawn clipped, with their value written on the bar.
    private const double Cap = 3.0;

    // By index in ServerConfiguration.All (the two C servers last but one), then an earlier build (--before).
    private static readonly string[] Colors = ["#9e9e9e", "#546e7a", "#1e88e5", "#43a047", "#fb8c00", "#212121", "#a1887f", "#8e24aa"];

    private sealed record Group(string Label, double[] Ratios, double? Target);

    private sealed record Layout(int Left, int Width, int GroupWidth, int Judged, string[] Colors);

    public static string Render(Results results, string title)
    {
        string[] names = results.Configurations.Select(c => c.Name).ToArray();
        var panels = new List<(string Title, Group[] Groups)>();
        foreach (CoreSetup setup in results.Setups)
        {
            Results view = results.For(setup);
            string prefix = results.Setups.Count > 1 || setup != CoreSetup.Shared ? $"{view.Placement(setup).Heading} — " : string.Empty;
            panels.Add(($"{prefix}Throughput: ratio to Sockets default (higher is better)",
                view.Scenarios.Where(s => s.HigherIsBetter).Select(s => Make(view, names, s.Name, s.Name, TargetMetric.Value)).ToArray()));
            panels.Add(($"{prefix}Cost: server CPU per unit of work{(view.Scenarios.Any(s => !s.HigherIsBetter) ? " and memory per idle connection" : string.Empty)}, ratio to Sockets default (lower is better)",
                view.Scenarios.Where(s => s.CpuUnit is not null).Select(s => Make(view, names, s.Name, $"{s.Name}: CPU", TargetMetric.Cpu))
                    .Concat(view.Scenarios.Where(s => !s.HigherIsBetter).Select(s => Make(view, names, s.Name, $"{s.Name}: memory", TargetMetric.Value)))
                    .ToArray()));
            panels.Add(($"{prefix}p99 latency: ratio to Sockets default (lower is better)",
                view.Scenarios.Where(s => s.HasP99).Select(s => Make(view, names, s.Name, s.Name, TargetMetric.P99)).ToArray()));
        }
        panels.RemoveAll(p => p.Groups.Length == 0);

        int groupWidth = names.Length * BarWidth + GroupGap;
        // Labels are rotated -35° and end under their group, so a long first label reaches left of the plot.
        double longest = panels.Select(p => p.Groups[0].Label.Length).DefaultIfEmpty(0).Max() * CharWidth * Math.Cos(35 * Math.PI / 180);
        int left = Math.Max(MinLeft, (int)Math.Ceiling(longest - GroupGap / 2.0 - names.Length * BarWidth / 2.0) + 8);
        // Wide enough for the widest panel and for the longest panel title (13 px bold, about 7.5 px a character).
        int titles = (int)Math.Ceiling(panels.Select(p => p.Title.Length).DefaultIfEmpty(0).Max() * 7.5);
        int width = left + Right + Math.Max(Math.Max(panels.Select(p => p.Groups.Length).DefaultIfEmpty(1).Max() * groupWidth, 640), titles);
        // A configuration keeps its colour whichever subset ran.
        // An earlier build (--before) is not in the catalogue: it takes the colour after the last one.
        string[] colors = names.Select(n => Colors[ColorIndex(n) % Colors.Length]).ToArray();
        int panelHeight = TitleSpace + PlotHeight + LabelSpace;
        int legendHeight = 56;
        int height = legendHeight + panels.Count * panelHeight;

        var svg = new StringBuilder();
        svg.AppendLine(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"));
        svg.AppendLine(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>"));
        svg.AppendLine(Invariant($"<text x=\"{left}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{Escape(title)}</text>"));
        int x = left;
        for (int i = 0; i < names.Length; i++)
        {
            svg.AppendLine(Invariant($"<rect x=\"{x}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{colors[i]}\"/><text x=\"{x + 16}\" y=\"42\">{Escape(names[i])}</text>"));
            x += 24 + names[i].Length * 7;
        }
        svg.AppendLine(Invariant($"<line x1=\"{x}\" y1=\"38\" x2=\"{x + 16}\" y2=\"38\" stroke=\"black\" stroke-width=\"3\"/><text x=\"{x + 20}\" y=\"42\">target (Epoll default)</text>"));

        int top = legendHeight;
        var layout = new Layout(left, width, groupWidth, Array.IndexOf(names, ServerConfiguration.Judged), colors);
        foreach (var (panelTitle, groups) in panels)
        {
            Panel(svg, panelTitle, groups, top, layout);
            top += panelHeight;
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static Group Make(Results setup, string[] names, string scenario, string label, TargetMetric metric)
    {
        Target? target = setup.PredatesSafeInline ? null : Targets.AgainstBaseline(setup.Setup, scenario, metric, setup.BusyNeighbours > 0);
        return new Group(label, names.Select(n => setup.Ratio(n, scenario, metric)).ToArray(), target?.Ratio);
    }

    private static void Panel(StringBuilder svg, string title, Group[] groups, int top, Layout layout)
    {
        (int left, int width, int groupWidth, int judged, string[] colors) = (layout.Left, layout.Width, layout.GroupWidth, layout.Judged, layout.Colors);
        double highest = groups.SelectMany(g => g.Ratios.Append(g.Target ?? 0)).Where(r => !double.IsNaN(r)).DefaultIfEmpty(1).Max();
        double max = Math.Max(1.25, Math.Ceiling(Math.Min(highest, Cap) * 1.1 / 0.25) * 0.25);
        double step = max > 2.5 ? 0.5 : 0.25;
        int plotTop = top + TitleSpace;
        int plotBottom = plotTop + PlotHeight;
        double Y(double ratio) => plotBottom - Math.Min(ratio, max) / max * PlotHeight;

        svg.AppendLine(Invariant($"<text x=\"{left}\" y=\"{top + 24}\" font-size=\"13\" font-weight=\"bold\">{Escape(title)}</text>"));
        for (double tick = 0; tick <= max + 1e-9; tick += step)
        {
            svg.AppendLine(Invariant($"<line x1=\"{left}\" y1=\"{Y(tick):F1}\" x2=\"{width - Right}\" y2=\"{Y(tick):F1}\" stroke=\"#e0e0e0\"/><text x=\"{left - 6}\" y=\"{Y(tick) + 4:F1}\" text-anchor=\"end\">{tick:F2}×</text>"));
        }
        for (int g = 0; g < groups.Length; g++)
        {
            Group group = groups[g];
            int groupLeft = left + GroupGap / 2 + g * groupWidth;
            for (int b = 0; b < group.Ratios.Length; b++)
            {
                double ratio = group.Ratios[b];
                int barLeft = groupLeft + b * BarWidth;
                double center = barLeft + (BarWidth - 2) / 2.0;
                if (double.IsNaN(ratio))
                {
                    svg.AppendLine(Invariant($"<text x=\"{center:F1}\" y=\"{plotBottom - 4}\" font-size=\"9\" text-anchor=\"start\" transform=\"rotate(-90 {center:F1} {plotBottom - 4})\" fill=\"#b71c1c\">n/a</text>"));
                    continue;
                }
                double y = Y(ratio);
                svg.AppendLine(Invariant($"<rect x=\"{barLeft}\" y=\"{y:F1}\" width=\"{BarWidth - 2}\" height=\"{plotBottom - y:F1}\" fill=\"{colors[b]}\"><title>{Escape(group.Label)}: {ratio:F2}×</title></rect>"));
                string label = ratio > max ? string.Create(CultureInfo.InvariantCulture, $"{ratio:F2}× ↑") : string.Create(CultureInfo.InvariantCulture, $"{ratio:F2}");
                double labelY = ratio > max ? y + 4 : y - 3;
                string anchor = ratio > max ? "end" : "start";
                string fill = ratio > max ? "white" : "#212121";
                svg.AppendLine(Invariant($"<text x=\"{center + 3:F1}\" y=\"{labelY:F1}\" font-size=\"9\" text-anchor=\"{anchor}\" fill=\"{fill}\" transform=\"rotate(-90 {center + 3:F1} {labelY:F1})\">{label}</text>"));
                if (b == judged && group.Target is double target)
                {
                    svg.AppendLine(Invariant($"<line x1=\"{barLeft - 3}\" y1=\"{Y(target):F1}\" x2=\"{barLeft + BarWidth + 1}\" y2=\"{Y(target):F1}\" stroke=\"black\" stroke-width=\"3\"><title>target {target:F2}×</title></line>"));
                }
            }
            double labelX = groupLeft + group.Ratios.Length * BarWidth / 2.0;
            svg.AppendLine(Invariant($"<text x=\"{labelX:F1}\" y=\"{plotBottom + 14}\" text-anchor=\"end\" transform=\"rotate(-35 {labelX:F1} {plotBottom + 14})\">{Escape(group.Label)}</text>"));
        }
        svg.AppendLine(Invariant($"<line x1=\"{left}\" y1=\"{Y(1):F1}\" x2=\"{width - Right}\" y2=\"{Y(1):F1}\" stroke=\"#d32f2f\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"));
        svg.AppendLine(Invariant($"<line x1=\"{left}\" y1=\"{plotTop}\" x2=\"{left}\" y2=\"{plotBottom}\" stroke=\"#424242\"/><line x1=\"{left}\" y1=\"{plotBottom}\" x2=\"{width - Right}\" y2=\"{plotBottom}\" stroke=\"#424242\"/>"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static int ColorIndex(string name)
    {
        int index = Array.FindIndex(ServerConfiguration.All, c => c.Name == name);
        return index >= 0 ? index : ServerConfiguration.All.Length;
    }
}
