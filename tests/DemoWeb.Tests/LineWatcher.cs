namespace DemoWeb.Tests;

/// <summary>
/// Reads a child process's output in the background and lets a test wait for a line. Several streams
/// (stdout and stderr) may feed one watcher: their lines interleave in arrival order, which keeps each
/// stream's own order.
/// </summary>
public sealed class LineWatcher
{
    private readonly object _gate = new();
    private readonly List<string> _lines = new();
    private TaskCompletionSource _changed = NewSignal();
    private int _openStreams;

    public LineWatcher(params StreamReader[] readers)
    {
        _openStreams = readers.Length;
        foreach (StreamReader reader in readers)
        {
            _ = PumpAsync(reader);
        }
    }

    /// <summary>Everything read so far, one line per line.</summary>
    public string Text
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>
    /// The first line (already read or still to come) that matches. Fails at once when every stream has
    /// ended without one, so a process that died early does not cost the whole timeout.
    /// </summary>
    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        int next = 0;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (; next < _lines.Count; next++)
                {
                    if (match(_lines[next]))
                    {
                        return _lines[next];
                    }
                }
                if (_openStreams == 0)
                {
                    throw new InvalidOperationException("The output ended without the expected line. Output:\n" + string.Join('\n', _lines));
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The expected line was not printed within {timeout}. Output so far:\n{Text}");
            }
        }
    }

    /// <summary>Returns once every stream has ended: a process that exited has then been read to its last line.</summary>
    public async Task WaitForEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_openStreams == 0)
                {
                    return;
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The output did not end within {timeout}. Output so far:\n{Text}");
            }
        }
    }

    private async Task PumpAsync(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (_gate)
                {
                    _lines.Add(line);
                    Signal();
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The process was disposed while we read: its output simply ends here.
        }
        finally
        {
            lock (_gate)
            {
                _openStreams--;
                Signal();
            }
        }
    }

    /// <summary>Wakes every waiter (there may be several), each of which then rescans what is new to it.</summary>
    private void Signal()
    {
        _changed.TrySetResult();
        _changed = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
