using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// The report's target section: the rows against Sockets default (with their verdicts), the better
/// Epoll configuration against Sockets tuned per scenario, and whether everything holds.
/// </summary>
internal static class TargetTables
{
    public static void Append(StringBuilder text, Results results, TargetReport targets)
    {
        if (targets.Rows.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Targets: {ServerConfiguration.EpollDefault} vs {ServerConfiguration.Baseline}. A row passes when {ServerConfiguration.EpollDefault} meets the goal, or (\"pass (inline)\") when {ServerConfiguration.EpollInline} meets it and {ServerConfiguration.EpollDefault} still reaches the row's floor (the issue's ≥ 1.10× for throughput and ≤ 0.95× for CPU, on rows whose goal lies beyond it; p99 has none). Last column: the better Epoll configuration vs {ServerConfiguration.SocketsTuned}, > 1 means better for throughput, < 1 for CPU, p99 and memory.");
            text.AppendLine();
            text.AppendLine(Report.TableHeader("target", "goal", "floor", ServerConfiguration.Baseline, ServerConfiguration.EpollDefault,
                ServerConfiguration.EpollInline, "result", $"better Epoll vs {ServerConfiguration.SocketsTuned}"));
            foreach (TargetOutcome outcome in targets.Rows)
            {
                string result = outcome.Verdict == TargetVerdict.PassWithInline ? "pass (inline)" : Result(outcome.Pass);
                string floor = outcome.Target.DefaultFloor is double f ? $"{(outcome.HigherIsBetter ? "≥" : "≤")} {Report.Ratio(f)}" : "—";
                string best = double.IsNaN(outcome.BestEpollVsSocketsTuned) ? "n/a" : $"{Report.Ratio(outcome.BestEpollVsSocketsTuned)} ({outcome.BestEpoll})";
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {outcome.Target.Label} | {outcome.Goal} | {floor} | {Report.Number(outcome.SocketsDefault, outcome.Unit)} {outcome.Unit} | {Report.Cell(outcome.EpollDefault, outcome.EpollDefaultRatio, outcome.Unit)} | {Report.Cell(outcome.EpollInline, outcome.EpollInlineRatio, outcome.Unit)}{(outcome.Meets(outcome.EpollInlineRatio) ? " ✓" : string.Empty)} | {result} | {best} |");
            }
            text.AppendLine();
            int passed = targets.Rows.Count(t => t.Verdict == TargetVerdict.Pass);
            int withInline = targets.Rows.Count(t => t.Verdict == TargetVerdict.PassWithInline);
            int judged = targets.Rows.Count(t => t.Pass is not null);
            string inline = results.Has(ServerConfiguration.EpollInline) ? string.Create(CultureInfo.InvariantCulture, $"; {ServerConfiguration.EpollInline} meets {targets.Rows.Count(t => t.Meets(t.EpollInlineRatio))} (✓ above)") : string.Empty;
            text.AppendLine(CultureInfo.InvariantCulture, $"{passed + withInline} of {judged} targets hold: {passed} met by {ServerConfiguration.EpollDefault}, {withInline} through {ServerConfiguration.EpollInline}{inline}.");
            text.AppendLine();
        }

        if (targets.AgainstSocketsTuned.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"The better Epoll configuration vs {ServerConfiguration.SocketsTuned}, on each scenario's own figure (the issue: beat it in every scenario, by ≥ 1.10× in plaintext and echo 64 B):");
            text.AppendLine();
            text.AppendLine(Report.TableHeader("scenario", "goal", ServerConfiguration.SocketsTuned, "better Epoll", "ratio", "result"));
            foreach (TunedOutcome outcome in targets.AgainstSocketsTuned)
            {
                string best = outcome.BestEpollName is null ? "n/a" : $"{Report.Number(outcome.BestEpoll, outcome.Unit)} ({outcome.BestEpollName})";
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {outcome.Target.Scenario} | {outcome.Goal} | {Report.Number(outcome.SocketsTuned, outcome.Unit)} {outcome.Unit} | {best} | {Report.Ratio(outcome.Ratio)} | {Result(outcome.Pass)} |");
            }
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{targets.AgainstSocketsTuned.Count(t => t.Pass == true)} of {targets.AgainstSocketsTuned.Count(t => t.Pass is not null)} scenarios beat {ServerConfiguration.SocketsTuned} as required.");
            text.AppendLine();
        }

        text.AppendLine(targets.AllHold
            ? "Every target of the perf issue holds in this run."
            : "Not every target of the perf issue holds in this run.");
        text.AppendLine();
    }

    private static string Result(bool? pass) => pass switch
    {
        true => "pass",
        false => "**FAIL**",
        null => "n/a",
    };
}
