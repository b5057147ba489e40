using EpollTransport.Perf;
using Xunit;

namespace EpollTransport.Perf.Tests;

public class HandoffReportTests
{
    [Fact]
    public void TheReportCountsHandoffsPerConfigurationThatCountsThem()
    {
        Sample[] samples =
        [
            new("Sockets default", "plaintext 64", 1, 100_000, 1.5, 10, null),
            new("Epoll safe inline", "plaintext 64", 1, 110_000, 1.4, 9, null, Handoffs: 0),
            new("Epoll safe inline", "json 256", 1, 50_000, 1.4, 9, null, Handoffs: 3),
            new("Epoll default", "plaintext 64", 1, 120_000, 1.4, 9, null, Handoffs: 0),
        ];
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, samples, 1, 5, "None", DateTime.UtcNow);

        string? line = Report.HandoffLine(results);

        Assert.NotNull(line);
        Assert.Contains("Epoll safe inline 3 in 2 samples (1 with any)", line);
        Assert.Contains("Epoll default 0 in 1 samples (0 with any)", line);
        Assert.DoesNotContain("Sockets", line);
    }

    [Fact]
    public void ARunWithoutHandoffCountsSaysNothingAboutThem()
    {
        Sample[] samples = [new("Sockets default", "plaintext 64", 1, 100_000, 1.5, 10, null)];
        var results = new Results(ServerConfiguration.All, ScenarioCatalog.All, samples, 1, 5, "None", DateTime.UtcNow);

        Assert.Null(Report.HandoffLine(results));
    }
}
