using System.IO.Pipelines;

namespace EpollTransport.Connections;

/// <summary>
/// The output pipe's reader scheduler with thread-pool scheduling: the pump's continuation runs on the
/// thread that flushed (<see cref="EpollConnection.RunSend"/>), so a response leaves without a hop to
/// the loop. Except while the flush comes from the connection's own application dispatch with input
/// left over (a pipelined batch): then it is held until that dispatch returns, so the batch's responses
/// leave in one sendmsg.
/// </summary>
internal sealed class SendScheduler(EpollConnection connection) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state)
    {
        if (!ApplicationDispatcher.IsDispatching(connection) || !connection.TryHoldSend(action, state))
        {
            connection.RunSend(action, state);
        }
    }
}
