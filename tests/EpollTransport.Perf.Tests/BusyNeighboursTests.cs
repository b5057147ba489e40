using System.Diagnostics;
using System.Globalization;
using Xunit;

namespace EpollTransport.Perf.Tests;

/// <summary>The busy neighbours (--busy N): the spinners themselves, and how a run with them is reported and saved.</summary>
public sealed class BusyNeighboursTests
{
    private static readonly DateTime s_started = new(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task SpinnersRunUntilStoppedAndNoneIsLeftAfter()
    {
        string binary = await NativeBuilds.BusySpinAsync();
        IReadOnlyList<int> pids;
        using (BusyNeighbours neighbours = await BusyNeighbours.StartAsync(2, CorePlacement.Unpinned, CancellationToken.None, binary))
        {
            pids = neighbours.ProcessIds;
            Assert.Equal(2, pids.Count);
            Assert.All(pids, pid => Assert.True(IsAlive(pid), $"spinner {pid} is not running"));
        }
        // Dispose kills and reaps them.
        Assert.All(pids, pid => Assert.False(IsAlive(pid), $"spinner {pid} is still running"));
    }

    [Fact]
    public async Task NoneStartsNothing()
    {
        using BusyNeighbours neighbours = await BusyNeighbours.StartAsync(0, CorePlacement.Unpinned, CancellationToken.None, "/nonexistent/busy_spin");

        Assert.Empty(neighbours.ProcessIds);
    }

    [Fact]
    public async Task InTheDedicatedSetupTheSpinnersShareTheServersCpu()
    {
        if (!CorePlacement.CanDedicate(Environment.ProcessorCount))
        {
            return; // one CPU: there is no dedicated setup to test
        }
        string binary = await NativeBuilds.BusySpinAsync();
        var placement = new CorePlacement(CoreSetup.Dedicated, Environment.ProcessorCount);

        using BusyNeighbours neighbours = await BusyNeighbours.StartAsync(2, placement, CancellationToken.None, binary);

        // Each said "ready" after taskset had pinned it.
        Assert.All(neighbours.ProcessIds, pid => Assert.Equal(placement.ServerCpus, Status(pid, "Cpus_allowed_list:")));
    }

    [Fact]
    public async Task ASpinnerWhoseParentDiesStopsByItself()
    {
        // What a harness killed with SIGKILL leaves: a spinner whose parent is gone. The shell starts it
        // in the background with the shell's pid as its parent, prints the spinner's pid and exits at once.
        // The spinner writes to the same pipe, so the pipe's end of file is the spinner's exit.
        string binary = await NativeBuilds.BusySpinAsync();
        using Process shell = Processes.StartOrExplain(Processes.RedirectedStart("sh", ["-c", "\"$0\" $$ & echo $!", binary]));
        var lines = new List<string>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            for (string? line; (line = await shell.StandardOutput.ReadLineAsync(deadline.Token)) is not null;)
            {
                lines.Add(line);
            }
        }
        catch (OperationCanceledException)
        {
            // Still spinning: stop it (its pid is the shell's line), then fail.
            foreach (string line in lines.Where(l => l.All(char.IsAsciiDigit)))
            {
                Process.GetProcessById(int.Parse(line, CultureInfo.InvariantCulture)).Kill();
            }
            Assert.Fail($"the spinner still ran 10 s after its parent exited; it printed: {string.Join(" | ", lines)}");
        }
        // It may have seen its parent gone before it printed anything; if it ran, it said so first.
        Assert.Contains(lines, l => l.All(char.IsAsciiDigit));
        Assert.All(lines, l => Assert.True(l == "ready" || l.All(char.IsAsciiDigit), l));
    }

    [Fact]
    public void ABusyRunSaysSoInItsHeaderItsJsonAndItsFileNames()
    {
        Results run = Run(busy: 2);
        TargetReport targets = TargetCheck.Evaluate(run);
        string markdown = Report.Markdown(run, targets);
        string path = Path.Combine(Path.GetTempPath(), $"perf-busy-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, ResultFiles.Json(run, targets, run.Stamp));
            Results loaded = ResultsReader.Load(path);

            Assert.Equal("20261201-120000-busy2", run.FileStem);
            Assert.Contains("**Busy neighbours: 2.**", markdown);
            Assert.Contains("shared setup: unpinned; dedicated setup: on CPU 1, beside DemoWeb", markdown);
            Assert.Contains("\"busyNeighbours\": 2", File.ReadAllText(path));
            Assert.Equal(2, loaded.BusyNeighbours);
            Assert.Contains("(2 busy neighbours)", RunHistoryReport.Render([loaded, Run(busy: 0)]));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AnOrdinaryRunKeepsItsPlainNameAndSaysNothingOfNeighbours()
    {
        Results run = Run(busy: 0);

        Assert.Equal("20261201-120000", run.FileStem);
        Assert.Null(Report.BusyLine(run));
        Assert.DoesNotContain("Busy neighbours", Report.Markdown(run, TargetCheck.Evaluate(run)));
    }

    [Fact]
    public void ARunWithBusyNeighboursNeverStandsAsTheLatestFullRun()
    {
        Sample[] every = [.. ScenarioCatalog.All.SelectMany(s => ServerConfiguration.DefaultSet.Select(c => new Sample(c.Name, s.Name, 1, 1, 1, 1, null)))];

        Assert.True(Make(every, busy: 0).IsComplete);
        Assert.False(Make(every, busy: 2).IsComplete);
    }

    private static Results Run(int busy) => Make(
        [
            new(ServerConfiguration.Baseline, ScenarioCatalog.OneConnectionPlaintext, 1, 2000, 4.0, 60, null, P50Milliseconds: 0.5),
            new(ServerConfiguration.Judged, ScenarioCatalog.OneConnectionPlaintext, 1, 2100, 3.0, 50, null, P50Milliseconds: 0.4),
            new(ServerConfiguration.Baseline, ScenarioCatalog.OneConnectionPlaintext, 1, 400, 9.0, 110, null, Setup: CoreSetup.Dedicated, P50Milliseconds: 2.5),
            new(ServerConfiguration.Judged, ScenarioCatalog.OneConnectionPlaintext, 1, 450, 6.0, 100, null, Setup: CoreSetup.Dedicated, P50Milliseconds: 2.2),
        ], busy);

    private static Results Make(Sample[] samples, int busy) => new(
        ServerConfiguration.All.Where(c => samples.Any(s => s.Configuration == c.Name)).ToArray(),
        ScenarioCatalog.All.Where(s => samples.Any(x => x.Scenario == s.Name)).ToArray(),
        samples, rounds: 1, seconds: 5, "None", s_started, setups: [CoreSetup.Shared, CoreSetup.Dedicated], processors: 2, busyNeighbours: busy);

    /// <summary>Running or runnable: /proc has it and it is not a zombie (this box's init may never reap an orphan).</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            char state = stat[stat.LastIndexOf(')') + 2];
            return state is not ('Z' or 'X');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    private static string? Status(int pid, string field) =>
        File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal))?[field.Length..].Trim();
}
