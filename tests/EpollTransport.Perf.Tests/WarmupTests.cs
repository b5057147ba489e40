using System.Diagnostics;
using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class WarmupTests
{
    [Fact]
    public void NeverStopsBeforeTheLeastWarmupEvenWithTheJitIdle()
    {
        for (int slices = 1; slices < Warmup.MinSlices; slices++)
        {
            Assert.False(Warmup.IsDone(slices, compilationMilliseconds: 0));
        }
        Assert.True(Warmup.IsDone(Warmup.MinSlices, compilationMilliseconds: 0));
    }

    [Fact]
    public void GoesOnWhileTheJitIsBusyAndStopsOnceASliceIsQuiet()
    {
        Assert.False(Warmup.IsDone(Warmup.MinSlices, Warmup.SettledCompilationMilliseconds + 10));
        Assert.False(Warmup.IsDone(Warmup.MinSlices + 3, 400));
        Assert.True(Warmup.IsDone(Warmup.MinSlices + 3, Warmup.SettledCompilationMilliseconds));
        // The compilation thread exits only after idling, so its CPU leaving the sum means settled.
        Assert.True(Warmup.IsDone(Warmup.MinSlices + 1, -250));
    }

    [Fact]
    public void StopsAtTheBoundWhenTheJitNeverSettles()
    {
        Assert.False(Warmup.IsDone(Warmup.MaxSlices - 1, 1000));
        Assert.True(Warmup.IsDone(Warmup.MaxSlices, 1000));
    }

    [Fact]
    public void TheReportAndTheSavedRunKeepHowLongEachWarmupTook()
    {
        Sample[] samples =
        [
            new("Sockets default", ScenarioCatalog.Plaintext64, 1, 100_000, 1.5, 10, null, 90, 92, WarmupSeconds: 2),
            new("Sockets tuned", ScenarioCatalog.Plaintext64, 1, 120_000, 6.0, 8, null, 90, 92, WarmupSeconds: 2),
            new("Epoll default", ScenarioCatalog.Plaintext64, 1, 110_000, 1.4, 9, null, 91, 95, WarmupSeconds: 6),
            new("Epoll unsafe inline", ScenarioCatalog.Plaintext64, 1, 140_000, 7.9, 7, null, 90, 93, WarmupSeconds: 3),
        ];
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, samples, 1, 5, "None", DateTime.UtcNow, hostFastestNanoseconds: 88);
        string path = Path.Combine(Path.GetTempPath(), $"perf-warmup-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, ResultFiles.Json(results, TargetCheck.Evaluate(results), "test"));

            Assert.Equal(samples, ResultsReader.Load(path).Samples);
            Assert.Contains("2 of 4 warm-ups took longer, up to 6 s", Report.WarmupPhrase(results));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RunsFromBeforeTheWatchedWarmupStillSayTheirFixedOne()
    {
        Sample[] samples = [new("Sockets default", ScenarioCatalog.Plaintext64, 1, 100_000, 1.5, 10, null)];
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, samples, 1, 5, "None", DateTime.UtcNow);

        Assert.Equal("each after a 2 s warm-up", Report.WarmupPhrase(results));
    }

    [Fact]
    public void ThreadCpuSecondsCountsOnlyTheNamedThreads()
    {
        using var stop = new ManualResetEventSlim();
        var spinner = new Thread(() =>
        {
            while (!stop.IsSet)
            {
                Thread.SpinWait(1000);
            }
        })
        { Name = "warmup-spinner-test", IsBackground = true };
        spinner.Start();
        try
        {
            // Linux keeps 15 characters of a thread's name, which is what the reader matches on.
            var deadline = Stopwatch.StartNew();
            double seen = 0;
            while (seen < 0.05 && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                seen = DemoServerProcess.ThreadCpuSeconds(Environment.ProcessId, "warmup-spinner");
                Thread.Yield();
            }
            Assert.True(seen >= 0.05, $"the spinning thread's CPU never showed: {seen} s");
            Assert.Equal(0, DemoServerProcess.ThreadCpuSeconds(Environment.ProcessId, "no thread is named so"));
        }
        finally
        {
            stop.Set();
            spinner.Join();
        }
    }
}
