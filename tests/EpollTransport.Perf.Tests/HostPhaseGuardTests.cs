using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class HostPhaseGuardTests
{
    [Fact]
    public void AProbeFarAboveTheFastestSeenMarksASlowPhase()
    {
        var guard = new HostPhaseGuard();

        Assert.False(guard.Observe(120)); // the first probe is the fastest so far
        Assert.False(guard.Observe(88));
        Assert.False(guard.Observe(130)); // fast phases vary by about 1.5×
        Assert.True(guard.Observe(415));
        Assert.Equal(88, guard.FastestNanoseconds);
        Assert.Equal(88 * HostPhaseGuard.SlowFactor, guard.SlowThresholdNanoseconds);
    }

    [Fact]
    public void AStartInASlowPhaseIsCaughtOnceAFastProbeArrives()
    {
        var guard = new HostPhaseGuard();
        Assert.False(guard.Observe(420));

        Assert.False(guard.Observe(90));

        Assert.True(guard.IsSlow(420), "the earlier probe must count as slow against the new fastest");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-5.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void ImpossibleRoundTripsAreRejectedWithTheValue(double value)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new HostPhaseGuard().Observe(value));
        Assert.Equal(value, error.ActualValue);
    }

    [Fact]
    public void OnlyTheMemoryScenarioIsNotMeasuredAgain()
    {
        Assert.All(ScenarioCatalog.All, scenario => Assert.Equal(scenario is not IdleConnectionsScenario, scenario.SensitiveToHostPhase));
    }

    [Fact]
    public void TheProbesOutputLineIsParsed()
    {
        Assert.Equal(91.3, HostPhaseGuard.ParseProbe("round_trip_ns=91.3 cpus=0,1\n"));
    }

    [Fact]
    public void OutputWithoutARoundTripIsReportedWithTheOutput()
    {
        var error = Assert.Throws<InvalidOperationException>(() => HostPhaseGuard.ParseProbe("core_probe: fewer than two CPUs available"));
        Assert.Contains("fewer than two CPUs", error.Message);
    }

    [Fact]
    public void TheReportSaysHowManySamplesWereTakenAgain()
    {
        Sample[] samples =
        [
            new("Sockets default", "plaintext 64", 1, 100_000, 1.5, 10, null, 90, 92),
            new("Epoll default", "plaintext 64", 1, 110_000, 1.4, 9, null, 91, 95, Attempts: 2),
            new("Epoll unsafe inline", "plaintext 64", 1, 140_000, 7.9, 7, null, 400, 410, Attempts: 3, HostSlow: true),
        ];
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, samples, 1, 5, "None", DateTime.UtcNow, hostFastestNanoseconds: 88);

        string line = Report.HostCheckLine(results);

        Assert.Contains("88 ns", line);
        Assert.Contains("2 of 3 samples were measured again", line);
        Assert.Contains("1 kept although still in one", line);
        Assert.Equal(2, results.RetakenCount);
        Assert.Equal(1, results.HostSlowCount);
    }

    [Fact]
    public void WithoutTheProbeTheReportSaysSamplesWereTakenOnce()
    {
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, [], 1, 5, "None", DateTime.UtcNow);

        Assert.Contains("not run", Report.HostCheckLine(results));
    }
}
