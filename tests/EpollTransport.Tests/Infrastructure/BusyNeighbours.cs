namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// Threads that spin at normal priority, one per CPU, for as long as the object lives: what a busy
/// host looks like to the server (other processes, request handlers doing real work, the GC). With
/// more runnable threads than cores, anything that gives its core away (sched_yield, a sleep) waits a
/// whole time slice to get it back, which an idle test box never shows.
/// </summary>
public sealed class BusyNeighbours : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stop;

    public BusyNeighbours(int? count = null)
    {
        _threads = new Thread[count ?? Environment.ProcessorCount];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(Spin) { IsBackground = true, Name = $"busy neighbour {i}" };
            _threads[i].Start();
        }
    }

    public int Count => _threads.Length;

    private void Spin()
    {
        while (!_stop)
        {
            // Pure CPU work: never yields, never sleeps.
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }
    }
}
