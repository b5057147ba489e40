using System.Buffers;
using BenchmarkDotNet.Attributes;
using EpollTransport.Loops;
using Microsoft.Extensions.Logging.Abstractions;

namespace EpollTransport.Micro;

/// <summary>
/// The IOQueue hand-off: <see cref="LoopScheduler.Schedule"/> of a batch of work items from another
/// thread, then one drain through <see cref="LoopScheduler.TryDequeue"/> that runs them, as a loop turn does.
/// </summary>
/// <remarks>
/// The scheduler is the product's own, on a real <see cref="EpollLoop"/> that is constructed but not
/// started: its thread id is unset, so every <c>Schedule</c> takes the cross-thread branch, and since
/// the loop is not marked sleeping, <c>WakeIfSleeping</c> stops at its flag read — exactly the path of
/// work queued while the loop is busy. (When the loop sleeps, one producer additionally pays an eventfd
/// write: see <see cref="WakePathBenchmarks"/>.) The benchmark thread then plays the loop thread for
/// <c>TryDequeue</c>, which does not check its caller. Cleanup starts the loop only to stop it, so its own
/// shutdown closes the epoll fd and eventfd and frees its native memory: no test hooks were needed.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class LoopSchedulerBenchmarks
{
    private static readonly Action<object?> s_work = static state => ((Counter)state!).Value++;

    private readonly Counter _counter = new();
    private EpollLoop _loop = null!;

    /// <summary>Items per batch: 1 (a lone continuation), 16, 256 (a busy turn).</summary>
    [Params(1, 16, 256)]
    public int Items { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var settings = new TransportSettings(new EpollTransportOptions { ThreadCount = 1 });
        // MemoryPool<byte>.Shared is what the loop group itself falls back to; its Dispose (at loop shutdown) is a no-op.
        _loop = new EpollLoop(0, settings, MemoryPool<byte>.Shared, NullLogger.Instance);

        ScheduleAndRun();
        if (_counter.Value != Items || !_loop.Scheduler.IsEmpty)
        {
            throw new InvalidOperationException("LoopScheduler did not run every scheduled item in one drain.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        new LoopThreads(spareTarget: 0).Start(_loop);
        _loop.StopAsync().GetAwaiter().GetResult();
    }

    /// <summary>One batch: <see cref="Items"/> × Schedule, then one drain. Divide by Items for the per-item cost.</summary>
    [Benchmark]
    public bool ScheduleAndRun()
    {
        LoopScheduler scheduler = _loop.Scheduler;
        for (int i = 0; i < Items; i++)
        {
            scheduler.Schedule(s_work, _counter);
        }
        for (int i = 0; i < Items && scheduler.TryDequeue(out Action<object?> action, out object? state); i++)
        {
            _loop.RunWorkItem(action, state);
        }
        return scheduler.IsEmpty;
    }

    private sealed class Counter
    {
        public long Value;
    }
}
