using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// One setup's target section of the report: the default (<see cref="ServerConfiguration.Judged"/>)
/// against Sockets default (the rows) and Sockets tuned (per scenario), safe inline against the default
/// (per scenario), and how many hold.
/// </summary>
internal static class TargetTables
{
    public static void Append(StringBuilder text, Results setup, SetupTargets targets)
    {
        const string Judged = ServerConfiguration.Judged;
        if (!setup.Has(Judged))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"No targets: they judge {Judged}, which this run did not take.");
            text.AppendLine();
            return;
        }

        IReadOnlyList<TargetOutcome> rows = targets.AgainstSocketsDefault;
        if (rows.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Targets: {Judged} (what UseEpollTransport() gives) vs {ServerConfiguration.Baseline}; a row passes when {Judged} meets its goal. Last column, for reference: {Judged} vs {ServerConfiguration.SocketsTuned} on the row's figure (> 1 is better for throughput, < 1 for CPU, p99 and memory).");
            text.AppendLine();
            text.AppendLine(Report.TableHeader("target", "goal", ServerConfiguration.Baseline, Judged, "result", $"vs {ServerConfiguration.SocketsTuned}"));
            foreach (TargetOutcome outcome in rows)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {outcome.Target.Label} | {outcome.Goal} | {Report.Number(outcome.Reference, outcome.Unit)} {outcome.Unit} | {Report.Cell(outcome.Value, outcome.Ratio, outcome.Unit)} | {Result(outcome.Pass)} | {Report.Ratio(outcome.VersusSocketsTuned)} |");
            }
            text.AppendLine();
        }

        PerScenario(text, targets.AgainstSocketsTuned, ServerConfiguration.SocketsTuned,
            "the issue: by ≥ 1.10× in plaintext and echo 64 B, ahead of it in every other scenario");
        PerScenario(text, targets.AgainstThreadPool, ServerConfiguration.EpollDefault,
            string.Create(CultureInfo.InvariantCulture, $"the default; the issue's condition for safe inline to replace it: no worse than {Report.Ratio(Targets.ThreadPoolFloor)} in any scenario, i.e. memory at most 1 / {Targets.ThreadPoolFloor:F2}"));

        string[] missing = new[] { ServerConfiguration.Baseline, ServerConfiguration.SocketsTuned, ServerConfiguration.EpollDefault }
            .Where(c => !setup.Has(c)).ToArray();
        if (missing.Length > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"(No targets against {string.Join(" or ", missing)}: not run.)");
            text.AppendLine();
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"{targets.Placement.Heading}: {targets.Summary}.");
        text.AppendLine();
    }

    private static void PerScenario(StringBuilder text, IReadOnlyList<TargetOutcome> outcomes, string against, string goal)
    {
        if (outcomes.Count == 0)
        {
            return;
        }
        string judged = outcomes[0].Target.Judged;
        text.AppendLine(CultureInfo.InvariantCulture, $"{judged} vs {against}, on each scenario's own figure ({goal}):");
        text.AppendLine();
        text.AppendLine(Report.TableHeader("scenario", "goal", against, judged, "ratio", "result"));
        foreach (TargetOutcome outcome in outcomes)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {outcome.Target.Scenario} | {outcome.Goal} | {Report.Number(outcome.Reference, outcome.Unit)} {outcome.Unit} | {Report.Number(outcome.Value, outcome.Unit)} | {Report.Ratio(outcome.Ratio)} | {Result(outcome.Pass)} |");
        }
        text.AppendLine();
    }

    public static string Result(bool? pass) => pass switch
    {
        true => "pass",
        false => "**FAIL**",
        null => "n/a",
    };
}
