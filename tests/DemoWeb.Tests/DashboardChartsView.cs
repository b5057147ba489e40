using System.Text.Json;

namespace DemoWeb.Tests;

/// <summary>
/// The dashboard's history charts as the page draws them: per chart, how many samples it holds and, per
/// loop, the line's latest and highest value (the polyline's data attributes, which charts.js writes
/// from the same numbers it plots).
/// </summary>
public sealed record DashboardChartsView(bool Marked, IReadOnlyDictionary<string, DashboardChart> Charts)
{
    public const string Script = """
        (() => ({
          marked: window.__demoWebTestMark === true,
          charts: Array.from(document.querySelectorAll("#charts figure"), f => ({
            id: f.id,
            points: Number((f.querySelector("svg") || { dataset: {} }).dataset.points || 0),
            lines: Array.from(f.querySelectorAll("polyline"), p => ({
              loop: Number(p.dataset.loop), last: Number(p.dataset.last), max: Number(p.dataset.max),
              vertices: p.getAttribute("points").trim().split(/\s+/).length,
            })),
          })),
        }))()
        """;

    public DashboardChart this[string id]
        => Charts.TryGetValue(id, out DashboardChart? chart) ? chart : throw new InvalidOperationException($"The page has no chart {id} yet.");

    public static DashboardChartsView Parse(JsonElement page)
    {
        var charts = new Dictionary<string, DashboardChart>();
        foreach (JsonElement chart in page.GetProperty("charts").EnumerateArray())
        {
            var lines = chart.GetProperty("lines").EnumerateArray()
                .Select(l => new DashboardChartLine(l.GetProperty("loop").GetInt32(), l.GetProperty("last").GetDouble(), l.GetProperty("max").GetDouble(), l.GetProperty("vertices").GetInt32()))
                .ToArray();
            charts[chart.GetProperty("id").GetString()!] = new DashboardChart(chart.GetProperty("points").GetInt32(), lines);
        }
        return new DashboardChartsView(page.GetProperty("marked").GetBoolean(), charts);
    }

    public override string ToString()
        => string.Join("; ", Charts.Select(c => $"{c.Key}: {c.Value.Points} points, " + string.Join(", ", c.Value.Lines.Select(l => $"loop {l.Loop} last {l.Last:F0} max {l.Max:F0}"))));
}

public sealed record DashboardChart(int Points, IReadOnlyList<DashboardChartLine> Lines)
{
    /// <summary>The latest value summed over the loops.</summary>
    public double Last => Lines.Sum(l => l.Last);

    /// <summary>The highest value any loop's line reached in the window.</summary>
    public double Max => Lines.Count == 0 ? 0 : Lines.Max(l => l.Max);
}

public sealed record DashboardChartLine(int Loop, double Last, double Max, int Vertices);
