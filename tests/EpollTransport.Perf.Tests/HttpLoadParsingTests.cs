using Xunit;

namespace EpollTransport.Perf.Tests;

/// <summary>How the HTTP scenarios read their load generators: wrk's latency distribution, h2load's per-request log.</summary>
public sealed class HttpLoadParsingTests
{
    [Fact]
    public void WrkGivesRateRequestsP50AndP99()
    {
        const string Output = """
            Running 2s test @ http://127.0.0.1:38249/plaintext
              1 threads and 1 connections
              Thread Stats   Avg      Stdev     Max   +/- Stdev
                Latency   132.41us  463.54us   8.01ms   95.68%
                Req/Sec    20.89k     6.10k   33.11k    76.19%
              Latency Distribution
                 50%   36.00us
                 75%   61.00us
                 90%  137.00us
                 99%    2.30ms
              43552 requests in 2.10s, 5.48MB read
            Requests/sec:  20744.53
            Transfer/sec:      2.61MB
            """;

        LoadScenario.LoadResult result = HttpLoadScenario.ParseWrk(Output);

        Assert.Equal(20744.53, result.Value);
        Assert.Equal(43552, result.Work);
        Assert.Equal(0.036, result.P50Milliseconds, 9);
        Assert.Equal(2.30, result.P99Milliseconds, 9);
    }

    [Fact]
    public void H2loadsLogGivesNearestRankPercentilesInMilliseconds()
    {
        // start (µs since the epoch), status, µs to the end of the response; 100 requests of 1..100 µs, shuffled.
        string[] lines = Enumerable.Range(1, 100).OrderBy(i => (i * 37) % 101)
            .Select(i => $"17966610722{i:D5}\t200\t{i}").ToArray();

        (double p50, double p99) = HttpLoadScenario.H2loadLogPercentiles(lines);

        Assert.Equal(0.050, p50, 9);
        Assert.Equal(0.099, p99, 9);
    }

    [Fact]
    public void FailedStreamsInH2loadsLogHaveNoTimeAndAreLeftOut()
    {
        string[] lines = ["1796661072238151\t200\t400", "1796661072243189\t-1\t900000", "1796661072245982\t200\t600", ""];

        (double p50, double p99) = HttpLoadScenario.H2loadLogPercentiles(lines);

        Assert.Equal(0.400, p50, 9);
        Assert.Equal(0.600, p99, 9);
    }

    [Fact]
    public void ALogWithoutACompletedRequestFailsTheSample()
        => Assert.Throws<InvalidOperationException>(() => HttpLoadScenario.H2loadLogPercentiles(["1796661072243189\t-1\t5"]));

    [Fact]
    public void TheOneConnectionScenariosMeasureMedianAndTailLatency()
    {
        Scenario[] oneConnection = ScenarioCatalog.All.Where(s => s.Name.StartsWith("one conn", StringComparison.Ordinal)).ToArray();

        Assert.Equal(4, oneConnection.Length);
        Assert.All(oneConnection, s => Assert.True(s.HasP50 && s.HasP99 && s.CpuUnit == "CPU ms / 1k req", s.Name));
        Assert.DoesNotContain(ScenarioCatalog.All, s => s.HasP50 && !s.Name.StartsWith("one conn", StringComparison.Ordinal));
    }
}
