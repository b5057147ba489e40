using System.Buffers;
using System.IO.Pipelines;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using Microsoft.AspNetCore.Connections;

namespace EpollTransport.Connections;

/// <summary>The receive half: socket → input pipe, on the loop thread, on readiness only.</summary>
internal sealed partial class EpollConnection
{
    /// <summary>
    /// Below this much room left in the current pipe block (4 KiB from Kestrel's pool), a fresh block is
    /// taken. Half a block, as the Sockets transport asks for: a burst that size or smaller (16 pipelined
    /// requests are about 750 bytes) then always lands in one segment, and Kestrel's parser stays on its
    /// single-segment path; a smaller threshold lets bursts straddle blocks, which costs the parser its
    /// fast path (docs/performance.md, "Half-block reads").
    /// </summary>
    private const int MinimumReadSize = 2048;

    private readonly Action _onFlushCompleted;
    private ValueTask<FlushResult> _pendingFlush;
    private bool _receiveDone;
    private bool _flushPending;
    private bool _readQueued;

    /// <summary>
    /// The peer's FIN (or an error) has been reported. From then on a short read no longer proves the
    /// socket drained: the end of stream may sit behind the data with no further edge to announce it.
    /// </summary>
    private bool _peerClosedSeen;

    /// <summary>Called by the loop for a connection that used up its read budget last turn.</summary>
    public void ContinueReading()
    {
        if (_readQueued)
        {
            OnReadable();
        }
    }

    private void OnReadable()
    {
        _readQueued = false;
        if (_receiveDone || _flushPending || _closed)
        {
            return;
        }

        long budget = _services.ReadBudget;
        LoopCounters counters = _services.Counters;
        Span<byte> spillBuffer = _services.ReceiveSpill;
        long total = 0;
        bool budgetSpent = false;

        while (true)
        {
            // Straight into pipe memory; what does not fit in the block lands in the loop's spill
            // buffer and is copied on, so one readv drains a typical burst.
            Memory<byte> memory = _input.GetMemory(MinimumReadSize);
            Span<byte> spill = spillBuffer[..(int)Math.Min(spillBuffer.Length, Math.Max(0, budget - total - memory.Length))];
            nint received = _fd.Receive(memory.Span, spill, out Errno errno);
            counters.Reads++;

            if (received > 0)
            {
                counters.BytesReceived += received;
                int inBlock = (int)Math.Min(received, memory.Length);
                _input.Advance(inBlock);
                if (received > inBlock)
                {
                    _input.Write(spill[..(int)(received - inBlock)]);
                }
                total += received;

                if (received < memory.Length + spill.Length && !_peerClosedSeen)
                {
                    // A short read drained the socket: data (or a FIN) arriving later raises a new edge.
                    break;
                }
                if (total >= budget)
                {
                    budgetSpent = true;
                    break;
                }
                continue;
            }

            if (received == 0)
            {
                EpollTransportLog.ConnectionReadFin(_services.Logger, ConnectionId);
                EndReceive(null);
                return;
            }

            if (errno == Errno.EAGAIN)
            {
                break;
            }

            EndReceive(ReceiveError(errno));
            return;
        }

        if (total > 0)
        {
            FlushInput();
        }
        if (budgetSpent && !_flushPending && !_receiveDone)
        {
            // No new edge will come for data already queued, so ask to be called again. Not when the
            // flush paused: the resume reads anyway, and a continuation queued for nothing would make
            // the loop look busy to the quiet-loop check (the budget is MaxReadBufferSize when that is
            // smaller, so a bounded upload spends it on every read).
            _readQueued = true;
            _loop.QueueReadContinuation(this);
        }
    }

    private Exception ReceiveError(Errno errno)
    {
        if (errno.IsConnectionReset)
        {
            EpollTransportLog.ConnectionReset(_services.Logger, ConnectionId);
            return new ConnectionResetException($"Connection reset by peer ({errno.Name}).", errno.ToSocketException("readv"));
        }
        var error = errno.ToSocketException("readv");
        EpollTransportLog.ConnectionError(_services.Logger, ConnectionId, error);
        return error;
    }

    private void FlushInput()
    {
        ValueTask<FlushResult> flush;
        try
        {
            flush = _input.FlushAsync();
        }
        catch (Exception ex)
        {
            OnInputReaderFaulted(ex);
            return;
        }
        if (flush.IsCompleted)
        {
            if (TryTakeFlushResult(flush, out FlushResult result) && IsReaderGone(result))
            {
                EndReceive(null);
            }
            return;
        }

        // The application has not consumed MaxReadBufferSize yet: stop reading (the kernel's receive
        // window does the rest) until the pipe resumes us through the loop scheduler.
        _flushPending = true;
        _pendingFlush = flush;
        EpollTransportLog.ConnectionPause(_services.Logger, ConnectionId);
        flush.GetAwaiter().UnsafeOnCompleted(_onFlushCompleted);
    }

    /// <summary>The paused flush completed. Loop thread, through the loop scheduler.</summary>
    private void OnInputFlushCompleted()
    {
        // Anything that escapes here would only reach the loop's work-item catch, which cannot end the
        // connection: it would stay paused for good, holding its descriptor.
        try
        {
            ValueTask<FlushResult> flush = _pendingFlush;
            _pendingFlush = default;
            _flushPending = false;

            if (_receiveDone)
            {
                // CloseSocket ran while we were paused and left completing the input to us.
                _input.Complete(ShutdownReason);
                return;
            }
            if (!TryTakeFlushResult(flush, out FlushResult result))
            {
                return;
            }
            if (IsReaderGone(result))
            {
                EndReceive(null);
                return;
            }

            EpollTransportLog.ConnectionResume(_services.Logger, ConnectionId);
            // The edge for data that arrived while we were paused has come and gone: read now.
            OnReadable();
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>
    /// The flush's result, or false once the application completed the input with an error
    /// (<c>Input.Complete(exception)</c>): the flush rethrows that error, and receiving ends.
    /// </summary>
    private bool TryTakeFlushResult(ValueTask<FlushResult> flush, out FlushResult result)
    {
        try
        {
            result = flush.GetAwaiter().GetResult();
            return true;
        }
        catch (Exception ex)
        {
            result = default;
            OnInputReaderFaulted(ex);
            return false;
        }
    }

    /// <summary>
    /// The application stopped reading with an error. As with Sockets, only receiving ends: nothing more
    /// is read, but what the application still writes is sent, and its output decides how the
    /// connection closes. Ending the whole connection here would reset a response still on its way.
    /// </summary>
    private void OnInputReaderFaulted(Exception error)
    {
        EpollTransportLog.ConnectionError(_services.Logger, ConnectionId, error);
        EndReceive(error);
    }

    /// <summary>The application completed its input, so nothing will read what arrives from now on.</summary>
    private static bool IsReaderGone(FlushResult result) => result.IsCompleted || result.IsCanceled;

    private void EndReceive(Exception? error)
    {
        _receiveDone = true;
        _input.Complete(ShutdownReason ?? error);
        FireConnectionClosed();
    }

    private void CompleteInputOnClose(Exception? reason)
    {
        if (_receiveDone)
        {
            return;
        }
        _receiveDone = true;
        if (_flushPending)
        {
            // Wakes OnInputFlushCompleted, which completes the writer; completing it under a pending
            // flush would race the continuation.
            _input.CancelPendingFlush();
        }
        else
        {
            _input.Complete(reason);
        }
        FireConnectionClosed();
    }
}
