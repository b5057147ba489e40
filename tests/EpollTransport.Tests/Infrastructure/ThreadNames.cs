namespace EpollTransport.Tests.Infrastructure;

/// <summary>This process's threads by kernel name (/proc/self/task/*/comm, 15 characters at most).</summary>
public static class ThreadNames
{
    /// <summary>Task ids of the threads whose name starts with <paramref name="prefix"/>.</summary>
    public static HashSet<string> StartingWith(string prefix)
    {
        var result = new HashSet<string>();
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(prefix, StringComparison.Ordinal))
                {
                    result.Add(Path.GetFileName(task));
                }
            }
            catch (IOException)
            {
                // The thread exited while we looked.
            }
        }
        return result;
    }
}
