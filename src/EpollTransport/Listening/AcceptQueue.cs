using System.Threading.Channels;

namespace EpollTransport.Listening;

/// <summary>
/// The connections the loops have taken from the kernel for one listener, waiting for Kestrel's
/// <c>AcceptAsync</c>. Bounded, like the single accept in flight of the Sockets transport: a host that
/// falls behind (thread-pool starvation during a flood) leaves the rest in the kernel's backlog, where
/// they cost the process nothing, instead of in this process's memory. A loop that finds the queue full
/// stops watching its listening socket and is resumed by the take that makes room.
/// </summary>
internal sealed class AcceptQueue
{
    /// <summary>
    /// The queue is as deep as the listen backlog (within these bounds): together they hold a burst
    /// twice the backlog before the kernel starts dropping handshakes. A shallower queue measured worse:
    /// at 64, bursts of a thousand connects under thread-pool starvation overflowed the backlog, and
    /// Linux then drops the client's final ACK (tcp_abort_on_overflow=0), which lets a client that
    /// closes at once leave behind a server socket that never hears of the close.
    /// </summary>
    public static int CapacityFor(int backlog) => Math.Clamp(backlog, 64, 1024);

    private readonly Channel<AcceptedSocket> _channel = Channel.CreateUnbounded<AcceptedSocket>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    });

    private readonly object _gate = new();
    private readonly List<AcceptRegistration> _waitingForRoom = new();
    private int _count;

    public AcceptQueue(int capacity) => Capacity = capacity;

    public int Capacity { get; }

    /// <summary>How many connections wait for Kestrel now.</summary>
    public int Count => Volatile.Read(ref _count);

    public bool HasRoom => Count < Capacity;

    /// <summary>
    /// Queues an accepted connection. Loop thread. The bound is checked before accepting, not here: the
    /// unbind drain goes past it on purpose (those connections would be reset by the close otherwise).
    /// </summary>
    public void Add(AcceptedSocket socket)
    {
        Interlocked.Increment(ref _count);
        if (!_channel.Writer.TryWrite(socket))
        {
            // Completed: the listener is gone and nobody will take this one.
            Interlocked.Decrement(ref _count);
            socket.Reject();
        }
    }

    /// <summary>
    /// The queue is full as <paramref name="registration"/> saw it: records it to be resumed when a take
    /// makes room, unless room was made meanwhile (then false: accept on). Loop thread.
    /// </summary>
    public bool WaitForRoom(AcceptRegistration registration)
    {
        lock (_gate)
        {
            // Checked under the lock that TakeAsync's wake-up takes after its decrement: either we see
            // the room, or the taker sees us in the list. No resume is lost.
            if (HasRoom)
            {
                return false;
            }
            _waitingForRoom.Add(registration);
            return true;
        }
    }

    /// <summary>The next connection, or null once the queue is completed and empty.</summary>
    public async ValueTask<AcceptedSocket?> TakeAsync(CancellationToken cancellationToken)
    {
        ChannelReader<AcceptedSocket> reader = _channel.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (reader.TryRead(out AcceptedSocket? socket))
                {
                    Interlocked.Decrement(ref _count);
                    WakeWaiters();
                    return socket;
                }
            }
        }
        catch (ChannelClosedException)
        {
        }
        return null;
    }

    /// <summary>
    /// The listener is gone: no more connections are added, and those Kestrel never took are reset, as
    /// the backlog would have been.
    /// </summary>
    public void CompleteAndRejectRest()
    {
        Complete();
        while (_channel.Reader.TryRead(out AcceptedSocket? socket))
        {
            Interlocked.Decrement(ref _count);
            socket.Reject();
        }
    }

    /// <summary>No more connections will be added; <see cref="TakeAsync"/> returns what is left, then null.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    private void WakeWaiters()
    {
        AcceptRegistration[] waiting;
        lock (_gate)
        {
            if (_waitingForRoom.Count == 0 || !HasRoom)
            {
                return;
            }
            waiting = _waitingForRoom.ToArray();
            _waitingForRoom.Clear();
        }
        foreach (AcceptRegistration registration in waiting)
        {
            registration.ResumeForRoom();
        }
    }
}
