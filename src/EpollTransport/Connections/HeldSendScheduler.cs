using System.IO.Pipelines;
using EpollTransport.Loops;

namespace EpollTransport.Connections;

/// <summary>
/// The output pipe's reader scheduler without inline scheduling: wakes the send pump on the loop,
/// except when the flush comes from the connection's own application dispatch; then the wake-up is
/// held until that dispatch returns, so everything the application writes in one go is sent together.
/// </summary>
internal sealed class HeldSendScheduler : PipeScheduler
{
    private readonly EpollConnection _connection;
    private readonly LoopScheduler _loopScheduler;

    public HeldSendScheduler(EpollConnection connection, LoopScheduler loopScheduler)
    {
        _connection = connection;
        _loopScheduler = loopScheduler;
    }

    public override void Schedule(Action<object?> action, object? state)
    {
        if (!ApplicationDispatcher.IsDispatching(_connection) || !_connection.TryHoldSend(action, state))
        {
            _loopScheduler.Schedule(action, state);
        }
    }
}
