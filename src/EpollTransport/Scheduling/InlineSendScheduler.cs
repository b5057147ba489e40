using System.IO.Pipelines;
using EpollTransport.Connections;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// The inline modes' output pipe reader scheduler.
/// <list type="bullet">
/// <item>A flush from the application on the loop thread is queued: the loop sends it right after the
/// continuation returns.</item>
/// <item>A flush from a thread-pool thread (an HTTP/2 connection's frame writer, in every mode; a handler
/// resumed on the pool after an await) waits for the end of that thread's work item
/// (<see cref="EndOfWorkItemSend"/>) and then leaves on it while the loop sleeps, or is queued to the
/// loop while it is awake.</item>
/// <item>Any other thread: the same, at once.</item>
/// </list>
/// </summary>
internal sealed class InlineSendScheduler : PipeScheduler
{
    private readonly EpollConnection _connection;
    private readonly EpollLoop _loop;
    private readonly EndOfWorkItemSend _deferred;

    public InlineSendScheduler(EpollConnection connection, EpollLoop loop)
    {
        _connection = connection;
        _loop = loop;
        _deferred = new EndOfWorkItemSend(Send);
    }

    public override void Schedule(Action<object?> action, object? state)
    {
        if (_loop.IsHeldByCallingThread)
        {
            _loop.Scheduler.Schedule(action, state);
        }
        else if (Thread.CurrentThread.IsThreadPoolThread)
        {
            _deferred.Defer(action, state);
        }
        else
        {
            Send(action, state);
        }
    }

    private void Send(Action<object?> action, object? state)
    {
        if (_loop.IsSleeping)
        {
            _connection.SendOnCallingThread(action, state);
        }
        else
        {
            _loop.Scheduler.Schedule(action, state);
        }
    }
}
