using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// The `report` command: judges saved runs again with the current target rules. One run prints its
/// tables as the suite would; several print, per target, in how many runs it held and how Epoll
/// default's ratio spread, which is what a noisy host leaves as evidence.
/// </summary>
internal static class RunHistoryReport
{
    public static string Render(IReadOnlyList<Results> runs)
    {
        if (runs.Count == 0)
        {
            throw new ArgumentException("report needs at least one results file (perf/results/<stamp>.json).", nameof(runs));
        }
        if (runs.Count == 1)
        {
            return Report.Markdown(runs[0], TargetCheck.Evaluate(runs[0]));
        }

        TargetReport[] reports = runs.Select(TargetCheck.Evaluate).ToArray();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{runs.Count} runs, judged with the current target rules (ratios only ever within a run):");
        text.AppendLine();
        text.AppendLine(Report.TableHeader("run", "rounds × s", "rows held (through inline)", "scenarios beating Sockets tuned", "every target holds"));
        for (int i = 0; i < runs.Count; i++)
        {
            TargetReport report = reports[i];
            int judged = report.Rows.Count(r => r.Pass is not null);
            int held = report.Rows.Count(r => r.Pass == true);
            int withInline = report.Rows.Count(r => r.Verdict == TargetVerdict.PassWithInline);
            int tunedJudged = report.AgainstSocketsTuned.Count(t => t.Pass is not null);
            int tunedHeld = report.AgainstSocketsTuned.Count(t => t.Pass == true);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {runs[i].Stamp} | {runs[i].Rounds} × {runs[i].Seconds} | {held} of {judged} ({withInline}) | {tunedHeld} of {tunedJudged} | {(report.AllHold ? "yes" : "no")} |");
        }
        text.AppendLine();

        text.AppendLine(Report.TableHeader("target", "goal", "held in", "Epoll default ratio: min / median / max", "Epoll inline median"));
        foreach (string label in reports.SelectMany(r => r.Rows).Select(r => r.Target.Label).Distinct())
        {
            TargetOutcome[] outcomes = reports.SelectMany(r => r.Rows).Where(r => r.Target.Label == label).ToArray();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {label} | {outcomes[0].Goal} | {Held(outcomes.Select(o => o.Pass))} | {Spread(outcomes.Select(o => o.EpollDefaultRatio))} | {Report.Ratio(Results.MedianOf(outcomes.Select(o => o.EpollInlineRatio)))} |");
        }
        text.AppendLine();

        text.AppendLine(Report.TableHeader($"better Epoll vs {ServerConfiguration.SocketsTuned}", "goal", "held in", "ratio: min / median / max"));
        foreach (string scenario in reports.SelectMany(r => r.AgainstSocketsTuned).Select(t => t.Target.Scenario).Distinct())
        {
            TunedOutcome[] outcomes = reports.SelectMany(r => r.AgainstSocketsTuned).Where(t => t.Target.Scenario == scenario).ToArray();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {scenario} | {outcomes[0].Goal} | {Held(outcomes.Select(o => o.Pass))} | {Spread(outcomes.Select(o => o.Ratio))} |");
        }
        text.AppendLine();
        return text.ToString();
    }

    private static string Held(IEnumerable<bool?> passes)
    {
        bool?[] all = passes.ToArray();
        int judged = all.Count(p => p is not null);
        return string.Create(CultureInfo.InvariantCulture, $"{all.Count(p => p == true)} of {judged}");
    }

    private static string Spread(IEnumerable<double> ratios)
    {
        double[] measured = ratios.Where(r => !double.IsNaN(r)).Order().ToArray();
        return measured.Length == 0
            ? "n/a"
            : $"{Report.Ratio(measured[0])} / {Report.Ratio(Results.MedianOf(measured))} / {Report.Ratio(measured[^1])}";
    }
}
