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
    public EpollLoopGroup(TransportSettings settings, IMemoryPoolFactory<byte>? memoryPoolFactory, ILogger logger)
    {
        Settings = settings;
        Loops = new EpollLoop[settings.ThreadCount];
        try
        {
            for (int i = 0; i < Loops.Length; i++)
            {
                MemoryPool<byte> pool = memoryPoolFactory?.Create(new MemoryPoolOptions { Owner = "epolltransport" }) ?? MemoryPool<byte>.Shared;
                Loops[i] = new EpollLoop(i, settings, pool, logger);
            }
        }
        catch
        {
            Loops = [];
            throw;
        }
        foreach (EpollLoop loop in Loops)
        {
            loop.Start();
        }
    }

    public TransportSettings Settings { get; }

    public EpollLoop[] Loops { get; }

    /// <summary>Stops every loop (aborting what they still own) and joins their threads.</summary>
    public Task StopAsync() => Task.WhenAll(Loops.Select(loop => loop.StopAsync()));

    public IEnumerable<LoopCountersSnapshot> Snapshot() => Loops.Select(loop => loop.Counters.Snapshot(loop.Index));
}
