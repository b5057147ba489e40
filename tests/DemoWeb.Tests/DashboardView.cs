using System.Globalization;
using System.Text.Json;

namespace DemoWeb.Tests;

/// <summary>
/// What the dashboard shows at one moment, read from its live DOM: the status line, the total tiles and
/// the per-loop rows, as the numbers a person would read off the page.
/// </summary>
public sealed class DashboardView
{
    /// <summary>The counters in page order: the tiles' ids ("total-…") and the rows' columns after the loop number.</summary>
    public static readonly string[] Columns =
        ["connections-current", "connections-accepted", "bytes-received", "bytes-sent", "reads", "writes", "epoll-wakeups"];

    /// <summary>
    /// Leaves a mark on the page's window object. A reload would make a fresh window without it, so a
    /// later <see cref="Marked"/> proves the page updated in place.
    /// </summary>
    /// <summary>What index.html shows in a tile until the first /stats arrives.</summary>
    private const string Placeholder = "–";

    public const string MarkScript = "window.__demoWebTestMark = true";

    /// <summary>Returns the page's text as JSON; the numbers are parsed here, the way they are displayed.</summary>
    public const string Script = """
        (() => ({
          marked: window.__demoWebTestMark === true,
          updates: document.body.dataset.updates || "",
          status: document.getElementById("status").textContent,
          totals: Object.fromEntries(Array.from(document.querySelectorAll("[id^='total-']"), e => [e.id.substring(6), e.textContent])),
          loops: Array.from(document.querySelectorAll("#loops tr"), r => Array.from(r.cells, c => c.textContent)),
        }))()
        """;

    private DashboardView(bool marked, string updates, string status, IReadOnlyDictionary<string, long?> totals, IReadOnlyList<long[]> loops)
    {
        Marked = marked;
        Updates = updates;
        Status = status;
        Totals = totals;
        Loops = loops;
    }

    public bool Marked { get; }

    /// <summary>How the page gets its updates: "signalr", "polling", or "" before it has decided.</summary>
    public string Updates { get; }

    public string Status { get; }

    /// <summary>Counter → total, or null while the tile still shows its placeholder (before the first update).</summary>
    public IReadOnlyDictionary<string, long?> Totals { get; }

    /// <summary>One row per loop: the loop number, then <see cref="Columns"/> in order.</summary>
    public IReadOnlyList<long[]> Loops { get; }

    /// <summary>A total; throws <see cref="InvalidOperationException"/> while the tile has no number yet.</summary>
    public long Total(string name)
        => Totals.TryGetValue(name, out long? value)
            ? value ?? throw new InvalidOperationException($"total-{name} shows no number yet.")
            : throw new KeyNotFoundException($"The page has no total-{name} tile.");

    public static DashboardView Parse(JsonElement page)
    {
        JsonElement totals = page.GetProperty("totals");
        var parsedTotals = new Dictionary<string, long?>();
        foreach (string name in Columns)
        {
            if (!totals.TryGetProperty(name, out JsonElement tile))
            {
                throw new KeyNotFoundException($"The page has no total-{name} tile: {page}");
            }
            string? text = tile.GetString();
            parsedTotals[name] = text == Placeholder ? null : ParseNumber($"total-{name}", text);
        }
        var loops = page.GetProperty("loops").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(cell => ParseNumber("a loop row", cell.GetString())).ToArray())
            .ToList();
        return new DashboardView(page.GetProperty("marked").GetBoolean(), page.GetProperty("updates").GetString() ?? string.Empty, page.GetProperty("status").GetString() ?? string.Empty, parsedTotals, loops);
    }

    public override string ToString()
        => $"[{Updates}: {Status}] totals {{{string.Join(", ", Columns.Select(c => $"{c}={Totals[c]?.ToString(CultureInfo.InvariantCulture) ?? Placeholder}"))}}}"
            + $" loops [{string.Join("; ", Loops.Select(row => string.Join(",", row)))}]";

    /// <summary>The page formats numbers for en-US ("1,234"); anything else on it is a bug worth failing on.</summary>
    private static long ParseNumber(string where, string? text)
        => long.TryParse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new FormatException($"{where} shows '{text}', not a number.");
}
