using System.Buffers;
using System.IO.Pipelines;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using Microsoft.AspNetCore.Connections;

namespace EpollTransport.Connections;

/// <summary>
/// The send half: output pipe → socket. The pump is one activation at a time, and it is a token that
/// passes between threads: the pipe holds it while the pump waits for output (the flush that completes
/// that read may run the pump on the flushing thread, see <see cref="SendOnCallingThread"/>), EPOLLOUT holds it after
/// EAGAIN (the loop resumes the pump), the loop's queue holds it when the loop gave up its turn. So at
/// most one thread sends at any instant, and a response leaves on the thread that produced it, without
/// waking the loop. Only the loop closes the socket, and never while a sender is inside the pump
/// (<see cref="TryEnterSender"/>): a close that finds one is deferred to the moment it leaves.
/// </summary>
internal sealed partial class EpollConnection
{
    /// <summary>The connection whose pump the current thread runs off the loop, if any (the ownership guard asks).</summary>
    [ThreadStatic]
    private static EpollConnection? t_sender;

    /// <summary>
    /// Bytes one pump activation may send before the connection goes to the back of the loop's queue. An
    /// application that refills its output as fast as the loop sends it (a large download to a fast
    /// peer) would otherwise keep the loop to itself until the socket buffer is full, megabytes later,
    /// while other connections' responses wait. The same bound as a read's per turn.
    /// </summary>
    private const int SendBudgetPerActivation = 256 * 1024;

    private static readonly Action<object?> s_continuePumping = static state => ((EpollConnection)state!).ContinuePumping();

    private readonly Action _onOutputReadCompleted;
    private ValueTask<ReadResult> _pendingOutputRead;
    private bool _outputReadPending;
    private bool _outputReaderCompleted;

    // Cross-thread pump state (see the class summary).
    private int _sendersInside;
    private int _closeWanted;
    private int _waitingForWritable;
    private int _writableEdge;

    /// <summary>
    /// Runs the pump's continuation (the output read completed because the application flushed or
    /// completed its output) on the calling thread, which produced the bytes: no eventfd write, no
    /// wake-up, no context switch before the response leaves. The thread-pool mode's
    /// <see cref="Scheduling.SendScheduler"/> decides when that is cheapest. Queued to the loop
    /// instead when the loop wants to close, or when the caller is the loop itself (never nested in
    /// the loop's own work).
    /// </summary>
    public void SendOnCallingThread(Action<object?> action, object? state)
    {
        if (_loop.IsOwnerInTransportCode || !TryEnterSender())
        {
            _loop.Scheduler.Schedule(action, state);
            return;
        }
        EpollConnection? outer = t_sender;
        t_sender = this;
        try
        {
            action(state);
        }
        finally
        {
            t_sender = outer;
            LeaveSender();
        }
    }

    /// <summary>
    /// Counts the calling thread in as a sender unless the loop wants to close. The count is raised
    /// before the close flag is read and the loop raises the flag before it reads the count (both full
    /// fences), so either the sender backs off or the loop sees it and defers the close.
    /// </summary>
    private bool TryEnterSender()
    {
        Interlocked.Increment(ref _sendersInside);
        if (Volatile.Read(ref _closeWanted) != 0)
        {
            LeaveSender();
            return false;
        }
        return true;
    }

    private void LeaveSender()
    {
        if (Interlocked.Decrement(ref _sendersInside) == 0 && Volatile.Read(ref _closeWanted) != 0)
        {
            // The loop deferred its close because we were inside: it may run now.
            _loop.Scheduler.Schedule(s_closeRequested, this);
        }
    }

    /// <summary>Whether the calling thread runs this connection's pump off the loop right now.</summary>
    private bool SendingOffLoop => t_sender == this;

    /// <summary>
    /// The connection ends: closed now on the loop; from a thread that runs the pump off the loop, the
    /// close is queued to the loop (only the loop closes, and not while a sender is inside).
    /// </summary>
    private void CloseOnLoop()
    {
        if (SendingOffLoop)
        {
            _loop.Scheduler.Schedule(s_closeRequested, this);
        }
        else
        {
            CloseSocket();
        }
    }

    private void PumpOutput()
    {
        long sent = 0;
        while (!_closed)
        {
            // The budget keeps one connection from holding the loop; a producing thread pays for its
            // own sends and goes on.
            if (sent >= SendBudgetPerActivation && !SendingOffLoop)
            {
                // Fair share used: go on after what the loop has queued meanwhile. Nothing waits on the
                // pipe or on EPOLLOUT in between, so only this continuation resumes the pump.
                _loop.Scheduler.Schedule(s_continuePumping, this);
                return;
            }
            ValueTask<ReadResult> read;
            try
            {
                read = _output.ReadAsync();
            }
            catch (Exception ex)
            {
                // The application completed the output with an error before we asked.
                OnOutputFaulted(ex);
                return;
            }
            if (!read.IsCompleted)
            {
                _outputReadPending = true;
                _pendingOutputRead = read;
                read.GetAwaiter().UnsafeOnCompleted(_onOutputReadCompleted);
                return;
            }
            if (!TryTakeOutput(read, out ReadResult result) || !SendOutput(result, ref sent))
            {
                return;
            }
        }
    }

    private void ContinuePumping()
    {
        try
        {
            if (!_closed)
            {
                PumpOutput();
            }
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>The output read the pump waited for completed: on the flushing thread, or on the loop.</summary>
    private void OnOutputReadCompleted()
    {
        // Anything that escapes here would only reach the loop's work-item catch, which cannot end the
        // connection: it would be left holding its descriptor with nobody pumping it.
        try
        {
            ValueTask<ReadResult> read = _pendingOutputRead;
            _pendingOutputRead = default;
            _outputReadPending = false;

            if (_closed)
            {
                // CloseSocket ran while the read was pending and left completing the reader to us.
                CompleteOutputReader(null);
                return;
            }
            long sent = 0;
            if (TryTakeOutput(read, out ReadResult result) && SendOutput(result, ref sent))
            {
                PumpOutput();
            }
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// The read's result, or false once the application completed the output with an error
    /// (<c>Output.Complete(exception)</c>): the read rethrows that error, and the connection ends.
    /// </summary>
    private bool TryTakeOutput(ValueTask<ReadResult> read, out ReadResult result)
    {
        try
        {
            result = read.GetAwaiter().GetResult();
            return true;
        }
        catch (Exception ex)
        {
            result = default;
            OnOutputFaulted(ex);
            return false;
        }
    }

    /// <summary>
    /// As the Sockets transport does when its send loop fails: log the error, close with it as the
    /// reason (RST unless FinOnError; what is still buffered is dropped), and complete the reader with it.
    /// </summary>
    private void OnOutputFaulted(Exception error)
    {
        EpollTransportLog.ConnectionError(_services.Logger, ConnectionId, error);
        RequestShutdown(error, abortive: !_services.Settings.FinOnError);
        CompleteOutputReader(error);
        CloseOnLoop();
    }

    /// <summary>
    /// EPOLLOUT (loop thread): if the pump waits for it, resume the pump here. The edge is recorded
    /// first, so a pump that hit EAGAIN on another thread and has not yet said it waits sees the edge
    /// and retries itself (the CAS lets exactly one of the two go on).
    /// </summary>
    private void OnWritable()
    {
        Volatile.Write(ref _writableEdge, 1);
        if (Interlocked.CompareExchange(ref _waitingForWritable, 0, 1) == 1)
        {
            Volatile.Write(ref _writableEdge, 0);
            PumpOutput();
        }
    }

    /// <summary>Sends what the read returned; false when the pump must stop (blocked, done or failed).</summary>
    private bool SendOutput(ReadResult result, ref long sentSoFar)
    {
        ReadOnlySequence<byte> buffer = result.Buffer;
        if (result.IsCanceled)
        {
            // Abort() cancelled the read and queued the close; buffered output is dropped, as with Sockets.
            _output.AdvanceTo(buffer.End);
            return false;
        }

        if (!buffer.IsEmpty)
        {
            // An edge older than this attempt says nothing about the buffer after it.
            Volatile.Write(ref _writableEdge, 0);
            nint sent = GatherSender.ForCurrentThread.Send(_fd, buffer, out Errno errno);
            Interlocked.Increment(ref _services.Counters.Writes);
            if (sent < 0)
            {
                if (errno == Errno.EAGAIN)
                {
                    _output.AdvanceTo(buffer.Start);
                    return RetryAfterEagain();
                }
                _output.AdvanceTo(buffer.End);
                OnSendFailed(errno);
                return false;
            }

            Interlocked.Add(ref _services.Counters.BytesSent, sent);
            sentSoFar += sent;
            if (sent < buffer.Length)
            {
                // Partly sent (socket buffer full, or more segments than one sendmsg takes): go round
                // again; the next attempt either sends more or hits EAGAIN and waits for EPOLLOUT.
                _output.AdvanceTo(buffer.GetPosition(sent));
                return true;
            }
        }

        _output.AdvanceTo(buffer.End);
        if (result.IsCompleted)
        {
            // The application completed its output and everything is sent: FIN.
            RequestShutdown(new ConnectionAbortedException(GracefulShutdownMessage), abortive: false);
            CloseOnLoop();
            return false;
        }
        return true;
    }

    /// <summary>
    /// After EAGAIN: the pump waits for EPOLLOUT (the loop resumes it), unless an edge came in between,
    /// in which case it goes round again itself (true).
    /// </summary>
    private bool RetryAfterEagain()
    {
        Volatile.Write(ref _waitingForWritable, 1);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _writableEdge) == 1 && Interlocked.CompareExchange(ref _waitingForWritable, 0, 1) == 1)
        {
            Volatile.Write(ref _writableEdge, 0);
            return true;
        }
        return false;
    }

    private void OnSendFailed(Errno errno)
    {
        Exception reason;
        if (errno.IsConnectionReset)
        {
            EpollTransportLog.ConnectionReset(_services.Logger, ConnectionId);
            reason = new ConnectionResetException($"Connection reset by peer ({errno.Name}).", errno.ToSocketException("sendmsg"));
        }
        else
        {
            var error = errno.ToSocketException("sendmsg");
            EpollTransportLog.ConnectionError(_services.Logger, ConnectionId, error);
            reason = error;
        }
        RequestShutdown(reason, abortive: !_services.Settings.FinOnError);
        CloseOnLoop();
    }

    private void CompleteOutputOnClose()
    {
        if (_outputReadPending)
        {
            // Wakes OnOutputReadCompleted, which completes the reader.
            _output.CancelPendingRead();
        }
        else
        {
            CompleteOutputReader(null);
        }
    }

    private void CompleteOutputReader(Exception? error)
    {
        if (!_outputReaderCompleted)
        {
            _outputReaderCompleted = true;
            _output.Complete(error);
        }
    }
}
