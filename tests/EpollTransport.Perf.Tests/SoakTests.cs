using EpollTransport.Perf;
using Xunit;

namespace EpollTransport.Perf.Tests;

public class SoakTests
{
    [Fact]
    public void TheRssSlopeIsTheLeastSquaresLineInKiBPerMinute()
    {
        // 120 KiB more every minute, with noise that cancels out.
        (double, long)[] points = [(0, 1000), (30, 1070), (60, 1110), (90, 1190), (120, 1240)];
        Assert.Equal(120, SoakRunner.RssSlopeKiBPerMinute(points), precision: 0);
        Assert.Equal(0, SoakRunner.RssSlopeKiBPerMinute([(0, 5000), (60, 5000), (120, 5000)]));
        Assert.True(double.IsNaN(SoakRunner.RssSlopeKiBPerMinute([(0, 5000)])));
    }

    [Fact]
    public void TheWarmupIsAFifthOfTheRunAndAtLeastAMinute()
    {
        Assert.Equal(120, SoakRunner.WarmupSeconds(600));
        Assert.Equal(60, SoakRunner.WarmupSeconds(120));
    }
}
