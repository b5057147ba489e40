using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Perfolizer.Horology;

namespace EpollTransport.Micro;

/// <summary>
/// One short job for every benchmark here. The machine this runs on has 2 cores that are usually
/// shared with other work, so the suite has to finish in a few minutes: one launch, 3 warm-up and
/// 5 measured iterations of 250 ms. That is enough to rank alternatives that differ by more than a few
/// percent; for smaller differences re-run one benchmark with <c>--job medium</c>.
/// </summary>
public sealed class MicroConfig : ManualConfig
{
    public MicroConfig()
    {
        AddJob(Job.ShortRun
            .WithWarmupCount(3)
            .WithIterationCount(5)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("Micro"));
    }
}
