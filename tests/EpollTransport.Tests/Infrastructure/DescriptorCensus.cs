namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// The descriptors a transport could leak, by kind: sockets (by inode, so a socket opened during the
/// test and never closed shows up by name whatever else the runtime opens or closes meanwhile), epoll
/// instances and eventfds. Pipes and files the runtime opens lazily are not the transport's and are
/// left out, which keeps the check exact instead of "within a slack".
/// </summary>
public sealed record DescriptorCensus(HashSet<string> SocketInodes, int EpollInstances, int EventFds)
{
    public static DescriptorCensus Take()
    {
        var sockets = new HashSet<string>();
        int epolls = 0, eventFds = 0;
        foreach (string fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed while we looked
            }
            switch (target)
            {
                case "anon_inode:[eventpoll]":
                    epolls++;
                    break;
                case "anon_inode:[eventfd]":
                    eventFds++;
                    break;
                case not null when target.StartsWith("socket:[", StringComparison.Ordinal):
                    sockets.Add(target);
                    break;
            }
        }
        return new DescriptorCensus(sockets, epolls, eventFds);
    }

    /// <summary>What is open now that was not open at <paramref name="baseline"/>.</summary>
    public string[] NewSince(DescriptorCensus baseline)
    {
        var added = SocketInodes.Except(baseline.SocketInodes).ToList();
        added.AddRange(Enumerable.Repeat("anon_inode:[eventpoll]", Math.Max(0, EpollInstances - baseline.EpollInstances)));
        added.AddRange(Enumerable.Repeat("anon_inode:[eventfd]", Math.Max(0, EventFds - baseline.EventFds)));
        return added.ToArray();
    }

    public override string ToString() => $"{SocketInodes.Count} sockets, {EpollInstances} epoll, {EventFds} eventfd";
}
