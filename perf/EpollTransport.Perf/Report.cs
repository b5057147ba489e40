using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>Medians per configuration and scenario, as ratios to the first configuration (the baseline).</summary>
internal static class Report
{
    public static string Markdown(IReadOnlyList<Sample> samples, string[] configurations, string[] scenarios, int rounds)
    {
        var text = new StringBuilder();
        string baseline = configurations[0];
        text.AppendLine(CultureInfo.InvariantCulture, $"Medians of {rounds} alternating rounds; ratios to {baseline} from the same run. {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}.");
        text.AppendLine();
        text.AppendLine("| scenario | " + string.Join(" | ", configurations.Select(c => $"{c} req/s (ratio)")) + " |");
        text.AppendLine("|---|" + string.Concat(configurations.Select(_ => "---|")));
        foreach (string scenario in scenarios)
        {
            double baseRps = Median(samples, baseline, scenario, s => s.RequestsPerSecond);
            text.Append(CultureInfo.InvariantCulture, $"| {scenario} |");
            foreach (string configuration in configurations)
            {
                double rps = Median(samples, configuration, scenario, s => s.RequestsPerSecond);
                text.Append(CultureInfo.InvariantCulture, $" {rps:N0} ({rps / baseRps:F2}×) |");
            }
            text.AppendLine();
        }
        text.AppendLine();
        text.AppendLine("| scenario | " + string.Join(" | ", configurations.Select(c => $"{c} p99 ms / CPU ms per 1k req (ratio)")) + " |");
        text.AppendLine("|---|" + string.Concat(configurations.Select(_ => "---|")));
        foreach (string scenario in scenarios)
        {
            double baseCpu = Median(samples, baseline, scenario, s => s.CpuSecondsPerThousand);
            text.Append(CultureInfo.InvariantCulture, $"| {scenario} |");
            foreach (string configuration in configurations)
            {
                double p99 = Median(samples, configuration, scenario, s => s.P99Milliseconds);
                double cpu = Median(samples, configuration, scenario, s => s.CpuSecondsPerThousand);
                string latency = double.IsNaN(p99) ? "n/a" : p99.ToString("F2", CultureInfo.InvariantCulture);
                text.Append(CultureInfo.InvariantCulture, $" {latency} / {cpu * 1000:F1} ({cpu / baseCpu:F2}×) |");
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    private static double Median(IEnumerable<Sample> samples, string configuration, string scenario, Func<Sample, double> value)
    {
        double[] values = samples.Where(s => s.Configuration == configuration && s.Scenario == scenario).Select(value).Order().ToArray();
        if (values.Length == 0)
        {
            return double.NaN;
        }
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }
}
