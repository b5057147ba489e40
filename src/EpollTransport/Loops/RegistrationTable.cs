namespace EpollTransport.Loops;

/// <summary>
/// Maps epoll tokens to registrations. A token is a slot index plus the slot's generation: freeing a
/// slot bumps its generation, so an event fetched before a close can never reach whatever reuses the
/// slot (or the fd number) afterwards. Loop thread only.
/// </summary>
internal sealed class RegistrationTable
{
    private ILoopRegistration?[] _items = new ILoopRegistration?[64];
    private uint[] _generations = new uint[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _used;

    public int Count { get; private set; }

    public ulong Add(ILoopRegistration registration)
    {
        int slot;
        if (_freeCount > 0)
        {
            slot = _free[--_freeCount];
        }
        else
        {
            if (_used == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
                Array.Resize(ref _free, _free.Length * 2);
            }
            slot = _used++;
        }

        _items[slot] = registration;
        Count++;
        // Generation 0 is never handed out, so a zero token always means "not registered".
        uint generation = ++_generations[slot];
        if (generation == 0)
        {
            generation = ++_generations[slot];
        }
        ulong token = ((ulong)generation << 32) | (uint)slot;
        registration.Token = token;
        return token;
    }

    public void Remove(ILoopRegistration registration)
    {
        ulong token = registration.Token;
        uint slot = (uint)token;
        if (token == 0 || slot >= (uint)_used || !ReferenceEquals(_items[slot], registration))
        {
            return;
        }
        _items[slot] = null;
        _generations[slot]++;
        _free[_freeCount++] = (int)slot;
        registration.Token = 0;
        Count--;
    }

    public ILoopRegistration? Find(ulong token)
    {
        uint slot = (uint)token;
        if (slot < (uint)_used && _generations[slot] == (uint)(token >> 32))
        {
            return _items[slot];
        }
        return null;
    }

    /// <summary>Copies the live registrations, for shutdown.</summary>
    public List<ILoopRegistration> Snapshot()
    {
        var list = new List<ILoopRegistration>(Count);
        for (int i = 0; i < _used; i++)
        {
            if (_items[i] is { } registration)
            {
                list.Add(registration);
            }
        }
        return list;
    }
}
