namespace EpollTransport.Loops;

/// <summary>
/// A thread that can hold the role of any loop of its group. It runs a loop until the loop stops or
/// until the watchdog hands the loop to another thread while this one is stuck in application code;
/// then it goes back to the group's spares (or exits, if enough spares wait already).
/// </summary>
internal sealed class LoopThread
{
    public const string SpareName = "epoll spare";

    private readonly LoopThreads _owner;
    private readonly SemaphoreSlim _assigned = new(0);
    private EpollLoop? _loop;
    private Tenure? _tenure;

    public LoopThread(LoopThreads owner)
    {
        _owner = owner;
        var thread = new Thread(Main)
        {
            IsBackground = true,
            Name = SpareName,
        };
        thread.Start();
    }

    /// <summary>Gives this (parked) thread the loop, under a tenure already made current on the loop.</summary>
    public void Assign(EpollLoop loop, Tenure tenure)
    {
        _loop = loop;
        _tenure = tenure;
        // A full fence: the thread sees the loop state the previous owner published.
        _assigned.Release();
    }

    /// <summary>Tells the (parked) thread to exit.</summary>
    public void Exit() => _assigned.Release();

    private void Main()
    {
        while (true)
        {
            _assigned.Wait();
            EpollLoop? loop = _loop;
            Tenure? tenure = _tenure;
            _loop = null;
            _tenure = null;
            if (loop is null || tenure is null)
            {
                return;
            }

            Thread.CurrentThread.Name = $"epoll loop {loop.Index}";
            tenure.BindToCurrentThread();
            bool kept = loop.Run(tenure);
            Tenure.Current = null;
            Thread.CurrentThread.Name = SpareName;
            if (!_owner.OnRoleEnded(this, lost: !kept))
            {
                return;
            }
        }
    }
}
