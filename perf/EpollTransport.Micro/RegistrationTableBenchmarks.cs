using BenchmarkDotNet.Attributes;
using EpollTransport.Loops;

namespace EpollTransport.Micro;

/// <summary>
/// The token → registration lookup the loop does for every epoll event, and the slot churn of every
/// accepted and closed connection. The table holds <see cref="Live"/> registrations (a busy loop), and
/// the lookups visit them in a shuffled order because epoll reports ready fds in readiness order, not
/// slot order.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class RegistrationTableBenchmarks
{
    private const int Live = 1024;

    private RegistrationTable _table = null!;
    private ulong[] _liveTokens = null!;
    private ulong[] _staleTokens = null!;
    private FakeRegistration _cycling = null!;

    [GlobalSetup]
    public void Setup()
    {
        _table = new RegistrationTable();
        var first = new FakeRegistration[Live];
        var second = new FakeRegistration[Live];
        for (int i = 0; i < Live; i++)
        {
            first[i] = new FakeRegistration();
            second[i] = new FakeRegistration();
            _table.Add(first[i]);
        }

        // Stale tokens: registrations that were added, removed, and whose slots were then reused by new
        // ones — the case the generation exists for (an event fetched just before its connection closed).
        _staleTokens = new ulong[Live];
        for (int i = 0; i < Live; i++)
        {
            _staleTokens[i] = _table.Add(second[i]);
        }
        for (int i = 0; i < Live; i++)
        {
            _table.Remove(second[i]);
        }
        for (int i = 0; i < Live; i++)
        {
            _table.Add(new FakeRegistration());
        }

        _liveTokens = first.Select(r => r.Token).ToArray();
        var random = new Random(42);
        random.Shuffle(_liveTokens);
        random.Shuffle(_staleTokens);
        _cycling = new FakeRegistration();

        // Measure what the names say: every live token hits, every stale one misses.
        if (FindLive() != Live || FindStale() != 0)
        {
            throw new InvalidOperationException("RegistrationTable benchmark setup is wrong: live tokens must hit and stale ones miss.");
        }
    }

    /// <summary>Per event: the lookup of a registered connection's token.</summary>
    [Benchmark(OperationsPerInvoke = Live)]
    public int FindLive()
    {
        int hits = 0;
        foreach (ulong token in _liveTokens)
        {
            if (_table.Find(token) is not null)
            {
                hits++;
            }
        }
        return hits;
    }

    /// <summary>Per event: the lookup that rejects a token whose slot has moved on to another registration.</summary>
    [Benchmark(OperationsPerInvoke = Live)]
    public int FindStale()
    {
        int hits = 0;
        foreach (ulong token in _staleTokens)
        {
            if (_table.Find(token) is not null)
            {
                hits++;
            }
        }
        return hits;
    }

    /// <summary>Per connection: register (reusing a free slot), one lookup, unregister.</summary>
    [Benchmark]
    public bool AddFindRemove()
    {
        ulong token = _table.Add(_cycling);
        bool found = ReferenceEquals(_table.Find(token), _cycling);
        _table.Remove(_cycling);
        return found;
    }

    private sealed class FakeRegistration : ILoopRegistration
    {
        public ulong Token { get; set; }

        public void OnEvents(uint events)
        {
        }

        public bool OnLoopStopping() => false;

        public void OnFailure(Exception exception)
        {
        }
    }
}
