using System.Buffers;
using EpollTransport.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Loops;

/// <summary>
/// The running loops of one transport factory, shared by all its listeners (so one loop serves
/// several listeners); started with the first bind, stopped when the last listener is disposed.
/// </summary>
internal sealed class EpollLoopGroup
{
    private int _nextOwner = -1;

    public EpollLoopGroup(TransportSettings settings, IMemoryPoolFactory<byte>? memoryPoolFactory, ILogger logger)
    {
        Settings = settings;
        Loops = new EpollLoop[settings.ThreadCount];
        int built = 0;
        try
        {
            for (; built < Loops.Length; built++)
            {
                MemoryPool<byte> pool = memoryPoolFactory?.Create(new MemoryPoolOptions { Owner = "epolltransport" }) ?? MemoryPool<byte>.Shared;
                try
                {
                    Loops[built] = new EpollLoop(built, settings, pool, logger);
                }
                catch
                {
                    pool.Dispose();
                    throw;
                }
            }
        }
        catch
        {
            // Loop k failed (EMFILE from epoll_create1 or eventfd, say): the loops before it were built
            // but never started, so nothing else will ever release their descriptors and pools.
            for (int i = 0; i < built; i++)
            {
                Loops[i].DisposeUnstarted();
            }
            throw;
        }
        bool guarded = settings.Watched;
        Threads = new LoopThreads(guarded ? LoopThreads.DefaultSpareTarget : 0, settings.Hooks?.MaxStuckThreads ?? LoopThreads.DefaultMaxStuckThreads);
        if (guarded)
        {
            Watchdog = new LoopWatchdog(Loops, Threads, settings.InlineStallThreshold, logger,
                yieldToWaitingWork: settings.Scheduling == LoopScheduling.ThreadPool);
            foreach (EpollLoop loop in Loops)
            {
                loop.AttachWatchdog(Watchdog);
            }
            Watchdog.Start();
        }
        foreach (EpollLoop loop in Loops)
        {
            Threads.Start(loop);
        }
    }

    /// <summary>The threads that hold the loops, the parked spares and the stuck ones.</summary>
    public LoopThreads Threads { get; }

    /// <summary>The stall watchdog, when application code may run on a loop (<see cref="TransportSettings.Watched"/>).</summary>
    public LoopWatchdog? Watchdog { get; }

    public TransportSettings Settings { get; }

    public EpollLoop[] Loops { get; }

    /// <summary>
    /// The loop that will own the next connection of a listening socket the loops share: round-robin, so
    /// a burst that one woken loop accepted is spread over all of them. Any thread.
    /// </summary>
    public EpollLoop NextOwner()
        => Loops.Length == 1 ? Loops[0] : Loops[(int)((uint)Interlocked.Increment(ref _nextOwner) % (uint)Loops.Length)];

    /// <summary>
    /// Stops every loop (aborting what they still own). The watchdog keeps watching until all have
    /// stopped, so a loop whose thread is stuck in application code is shut down by a spare.
    /// </summary>
    public async Task StopAsync()
    {
        try
        {
            await Task.WhenAll(Loops.Select(loop => loop.StopAsync())).ConfigureAwait(false);
        }
        finally
        {
            Watchdog?.Stop();
            Threads.Stop();
        }
    }

    public IEnumerable<LoopCountersSnapshot> Snapshot() => Loops.Select(loop => loop.Counters.Snapshot(loop.Index));
}
