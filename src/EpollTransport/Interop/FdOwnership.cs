using System.Collections.Concurrent;

namespace EpollTransport.Interop;

/// <summary>Whoever may do I/O on a connection fd right now: the loop that owns it.</summary>
internal interface IFdOwner
{
    /// <summary>Whether the calling thread holds the owner's role now (and is not inside application code).</summary>
    bool IsCallerOwner { get; }

    /// <summary>Whether the calling thread holds the send side now (for a connection: its pump).</summary>
    bool IsCallerSender => IsCallerOwner;

    /// <summary>Whether the calling thread may close the descriptor now (the owner, with no send in flight).</summary>
    bool IsCallerCloser => IsCallerOwner;

    string Describe();
}

/// <summary>
/// The test-suite guard for the ownership rule: at any instant at most one thread reads a connection's
/// socket (the current owner of its loop) and at most one sends on it (whoever runs its pump); only
/// the owner registers, deregisters and closes it, and closes it only with no send in flight. When switched on
/// (AppContext switch <see cref="SwitchName"/>, or the environment variable
/// <see cref="EnvironmentVariable"/> = 1, read once at start-up), every syscall wrapper that touches a
/// connection fd checks the caller first and throws instead of making the call. When off, the checks
/// are a branch on a static readonly field that the JIT folds away.
/// </summary>
internal static class FdOwnership
{
    public const string SwitchName = "EpollTransport.VerifyFdOwnership";
    public const string EnvironmentVariable = "EPOLLTRANSPORT_VERIFY_FD_OWNERSHIP";

    public static readonly bool Enabled =
        (AppContext.TryGetSwitch(SwitchName, out bool on) && on) || Environment.GetEnvironmentVariable(EnvironmentVariable) == "1";

    private static readonly ConcurrentDictionary<int, IFdOwner> s_owners = new();
    private static long s_violations;

    /// <summary>How many calls the guard refused since the process started.</summary>
    public static long Violations => Interlocked.Read(ref s_violations);

    /// <summary>A loop registered <paramref name="fd"/>: from now on only its owner may use it.</summary>
    public static void Assign(int fd, IFdOwner owner)
    {
        if (Enabled)
        {
            s_owners[fd] = owner;
        }
    }

    /// <summary>Throws unless the caller may make <paramref name="call"/> on <paramref name="fd"/>.</summary>
    public static void Check(int fd, string call)
    {
        if (Enabled)
        {
            CheckCore(fd, call);
        }
    }

    /// <summary>Throws unless the caller holds the send side of <paramref name="fd"/>.</summary>
    public static void CheckSend(int fd, string call)
    {
        if (Enabled && s_owners.TryGetValue(fd, out IFdOwner? owner) && !owner.IsCallerSender)
        {
            throw Violation(owner, call, $"fd {fd} (the send side)");
        }
    }

    /// <summary>Throws unless the caller may close <paramref name="fd"/> now.</summary>
    public static void CheckClose(int fd)
    {
        if (Enabled && s_owners.TryGetValue(fd, out IFdOwner? owner) && !owner.IsCallerCloser)
        {
            throw Violation(owner, "close", $"fd {fd} (a send may be in flight, or the caller is not its loop)");
        }
    }

    /// <summary>Throws unless the caller owns <paramref name="owner"/> (for the loop's own epoll calls).</summary>
    public static void CheckOwner(IFdOwner owner, string call)
    {
        if (Enabled && !owner.IsCallerOwner)
        {
            throw Violation(owner, call, "the loop's epoll instance");
        }
    }

    /// <summary>The fd was closed: forget its owner (unless the number already went to someone else).</summary>
    public static void Released(int fd, IFdOwner? owner)
    {
        if (Enabled && owner is not null)
        {
            s_owners.TryRemove(new KeyValuePair<int, IFdOwner>(fd, owner));
        }
    }

    /// <summary>The owner of <paramref name="fd"/> when the guard is on, for <see cref="Released"/>.</summary>
    public static IFdOwner? OwnerOf(int fd) => Enabled && s_owners.TryGetValue(fd, out IFdOwner? owner) ? owner : null;

    private static void CheckCore(int fd, string call)
    {
        if (s_owners.TryGetValue(fd, out IFdOwner? owner) && !owner.IsCallerOwner)
        {
            throw Violation(owner, call, $"fd {fd}");
        }
    }

    private static InvalidOperationException Violation(IFdOwner owner, string call, string what)
    {
        Interlocked.Increment(ref s_violations);
        Thread thread = Thread.CurrentThread;
        return new InvalidOperationException(
            $"Ownership rule broken: thread {thread.ManagedThreadId} ('{thread.Name}') called {call} on {what}, which belongs to {owner.Describe()}.");
    }
}
