using System.IO.Pipelines;
using EpollTransport.Loops;

namespace EpollTransport.Connections;

/// <summary>
/// The input pipe's reader scheduler without inline scheduling: runs the application's continuations
/// on the thread pool, marking the thread as "dispatching for this connection" while they run. Sends
/// the application triggers meanwhile are held until it yields (<see cref="SendScheduler"/>), so
/// sixteen pipelined responses leave in one sendmsg instead of racing the loop flush by flush.
/// </summary>
internal sealed class ApplicationDispatcher : PipeScheduler, IThreadPoolWorkItem
{
    [ThreadStatic]
    private static EpollConnection? t_dispatching;

    private readonly EpollConnection _connection;
    private readonly EpollLoop _loop;

    // One continuation at a time: the pipe schedules its reader again only after the application
    // has run the previous continuation and awaited a new read.
    private Action<object?>? _action;
    private object? _state;
    private bool _mayHoldSends;

    public ApplicationDispatcher(EpollConnection connection, EpollLoop loop)
    {
        _connection = connection;
        _loop = loop;
    }

    /// <summary>Whether the calling thread is running this connection's application continuation.</summary>
    public static bool IsDispatching(EpollConnection connection) => t_dispatching == connection;

    public override void Schedule(Action<object?> action, object? state)
    {
        _state = state;
        _action = action;
        // Holding a send is safe only while the loop knows a dispatch is out (it then never sleeps
        // past the hold timeout). The loop's own flushes schedule almost every dispatch; the rare one
        // started elsewhere (the application cancelling its own read) simply sends at once.
        _mayHoldSends = _loop.IsOwnerInTransportCode;
        if (_mayHoldSends)
        {
            _loop.HeldSends.DispatchStarted();
        }
        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        Action<object?> action = _action!;
        object? state = _state;
        bool mayHoldSends = _mayHoldSends;
        _action = null;
        _state = null;

        EpollConnection? outer = t_dispatching;
        if (mayHoldSends)
        {
            _connection.BeginDispatch();
            t_dispatching = _connection;
        }
        try
        {
            action(state);
        }
        finally
        {
            if (mayHoldSends)
            {
                t_dispatching = outer;
                _connection.ReleaseHeldSend();
                _loop.HeldSends.DispatchEnded();
            }
        }
    }
}
