using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// The `report` command: judges saved runs again with the current target rules. One run prints its
/// tables as the suite would; several print, per core setup and target, in how many runs it held and
/// how Epoll default's ratio spread, which is what a noisy host leaves as evidence. Runs from before
/// safe inline scheduling are listed but not judged.
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
        CoreSetup[] setups = [CoreSetup.Shared, CoreSetup.Dedicated];
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{runs.Count} runs, judged with the current target rules (ratios only ever within a run and core setup):");
        text.AppendLine();
        text.AppendLine(Report.TableHeader(["run", "rounds × s", .. setups.Select(s => s == CoreSetup.Shared ? "shared cores: targets held" : "dedicated core: targets held"), "every target holds"]));
        for (int i = 0; i < runs.Count; i++)
        {
            string[] cells = runs[i].PredatesSafeInline
                ? [.. setups.Select(s => s == CoreSetup.Shared ? "not judged: before safe inline" : "—"), "—"]
                : [.. setups.Select(s => reports[i].For(s) is SetupTargets t ? FormattableString.Invariant($"{t.Held} of {t.Judged}") : "—"), reports[i].AllHold ? "yes" : "no"];
            string busy = runs[i].BusyNeighbours > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({runs[i].BusyNeighbours} busy neighbours)") : string.Empty;
            text.AppendLine(CultureInfo.InvariantCulture, $"| {runs[i].Stamp}{busy} | {runs[i].Rounds} × {runs[i].Seconds} | {string.Join(" | ", cells)} |");
        }
        text.AppendLine();
        if (runs.Any(r => r.PredatesSafeInline))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Runs from before safe inline scheduling are not judged: they had no {ServerConfiguration.EpollSafeInline} and no dedicated-core setup, and their servers tiered up at the runtime's own pace.");
            text.AppendLine();
        }

        foreach (CoreSetup setup in setups)
        {
            SetupTargets[] judged = reports.Select(r => r.For(setup)).OfType<SetupTargets>().Where(t => t.Outcomes.Count > 0).ToArray();
            if (judged.Length == 0)
            {
                continue;
            }
            text.AppendLine(CultureInfo.InvariantCulture, $"## {judged[0].Placement.Heading}");
            text.AppendLine();
            text.AppendLine(Report.TableHeader("target", "against", "goal", "held in", "Epoll default ratio: min / median / max"));
            foreach (Target target in judged.SelectMany(t => t.Outcomes).Select(o => o.Target).Distinct())
            {
                TargetOutcome[] outcomes = judged.SelectMany(t => t.Outcomes).Where(o => o.Target == target).ToArray();
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {target.Label} | {target.Against} | {outcomes[0].Goal} | {Held(outcomes.Select(o => o.Pass))} | {Spread(outcomes.Select(o => o.Ratio))} |");
            }
            text.AppendLine();
        }
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
