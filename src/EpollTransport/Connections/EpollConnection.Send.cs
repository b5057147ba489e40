using System.Buffers;
using System.IO.Pipelines;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using Microsoft.AspNetCore.Connections;

namespace EpollTransport.Connections;

/// <summary>
/// The send half: output pipe → socket, on the loop thread. The pump wakes when the application
/// flushes (through the loop scheduler), so flushes made before the loop gets to it leave in one
/// sendmsg; it waits for EPOLLOUT only after EAGAIN.
/// </summary>
internal sealed partial class EpollConnection
{
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
    private bool _writeBlocked;

    private void PumpOutput()
    {
        long sentBefore = _loop.Counters.BytesSent;
        while (!_closed)
        {
            if (_loop.Counters.BytesSent - sentBefore >= SendBudgetPerActivation)
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
            if (!TryTakeOutput(read, out ReadResult result) || !SendOutput(result))
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
            FailFromLoop(ex);
        }
    }

    /// <summary>The output read the pump waited for completed. Loop thread, through the loop scheduler.</summary>
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
            if (TryTakeOutput(read, out ReadResult result) && SendOutput(result))
            {
                PumpOutput();
            }
        }
        catch (Exception ex)
        {
            FailFromLoop(ex);
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
        EpollTransportLog.ConnectionError(_loop.Logger, ConnectionId, error);
        RequestShutdown(error, abortive: !_loop.Settings.FinOnError);
        CompleteOutputReader(error);
        CloseSocket();
    }

    private void OnWritable()
    {
        if (_writeBlocked)
        {
            _writeBlocked = false;
            PumpOutput();
        }
    }

    /// <summary>Sends what the read returned; false when the pump must stop (blocked, done or failed).</summary>
    private bool SendOutput(ReadResult result)
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
            nint sent = _loop.GatherSender.Send(_fd, buffer, out Errno errno);
            _loop.Counters.Writes++;
            if (sent < 0)
            {
                if (errno == Errno.EAGAIN)
                {
                    _output.AdvanceTo(buffer.Start);
                    _writeBlocked = true;
                    return false;
                }
                _output.AdvanceTo(buffer.End);
                OnSendFailed(errno);
                return false;
            }

            _loop.Counters.BytesSent += sent;
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
            CloseSocket();
            return false;
        }
        return true;
    }

    private void OnSendFailed(Errno errno)
    {
        Exception reason;
        if (errno.IsConnectionReset)
        {
            EpollTransportLog.ConnectionReset(_loop.Logger, ConnectionId);
            reason = new ConnectionResetException($"Connection reset by peer ({errno.Name}).", errno.ToSocketException("sendmsg"));
        }
        else
        {
            var error = errno.ToSocketException("sendmsg");
            EpollTransportLog.ConnectionError(_loop.Logger, ConnectionId, error);
            reason = error;
        }
        RequestShutdown(reason, abortive: !_loop.Settings.FinOnError);
        CloseSocket();
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
