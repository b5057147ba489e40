using EpollTransport.Connections;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// <c>UnsafePreferInlineScheduling</c>: application code runs on the loop thread with nothing watching,
/// as on Sockets with the same switch. A handler that blocks blocks every connection of its loop.
/// </summary>
internal sealed class UnsafeInlineScheduling(EpollLoop loop) : LoopSlotScheduling(loop)
{
    public override ConnectionPipes CreatePipes(EpollConnection connection)
    {
        var input = InputPipe(Slot);
        return new ConnectionPipes(input, OutputPipe(new InlineSendScheduler(connection, Loop), Slot), input.Reader);
    }

    protected override bool RunWatched(Action<object?> action, object? state, ConnectionAppScheduler? owner)
    {
        Run(action, state);
        return true;
    }
}
