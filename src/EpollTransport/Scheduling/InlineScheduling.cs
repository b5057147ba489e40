using System.IO.Pipelines;
using EpollTransport.Connections;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// <c>ApplicationSchedulingMode.Inline</c>: application code runs on the loop thread, each continuation
/// watched (<see cref="Tenure"/>): if one holds the loop past the stall threshold, the watchdog
/// (<see cref="LoopWatchdog"/>) gives the loop to a spare thread, and the connection whose continuation
/// stalled runs on the thread pool from then on (<see cref="ConnectionAppScheduler"/>).
/// </summary>
internal sealed class InlineScheduling(EpollLoop loop) : LoopSlotScheduling(loop)
{
    public override ConnectionPipes CreatePipes(EpollConnection connection)
    {
        // The connection's own scheduler, so a connection whose handler stalls the loop can be moved to
        // the thread pool alone.
        var scheduler = new ConnectionAppScheduler(Slot);
        Pipe input = InputPipe(scheduler);
        return new ConnectionPipes(input, OutputPipe(new InlineSendScheduler(connection, Loop), scheduler), input.Reader);
    }

    protected override bool RunWatched(Action<object?> action, object? state, ConnectionAppScheduler? owner)
        => RunUnderTenure(action, state, owner);
}
