namespace EpollTransport.Perf;

/// <summary>Finds the load generators on PATH and installs the missing ones with apt-get (Debian/Ubuntu) when it can.</summary>
internal static class ToolInstaller
{
    private static readonly Dictionary<string, string> AptPackages = new(StringComparer.Ordinal)
    {
        ["wrk"] = "wrk",
        ["h2load"] = "nghttp2-client",
        ["gcc"] = "gcc",
    };

    private static bool s_updated;

    public static async Task EnsureAsync(string command, CancellationToken cancellation)
    {
        if (Processes.IsOnPath(command))
        {
            return;
        }
        if (!AptPackages.TryGetValue(command, out string? package) || !Processes.IsOnPath("apt-get"))
        {
            throw new InvalidOperationException($"{command} is not on PATH and cannot be installed here; install it and run again.");
        }
        Console.Error.WriteLine($"{command} is missing; installing {package} with apt-get ...");
        (string, string)[] environment = [("DEBIAN_FRONTEND", "noninteractive")];
        if (!s_updated)
        {
            await Processes.RunAsync("apt-get", ["update", "-qq"], TimeSpan.FromMinutes(10), cancellation, environment);
            s_updated = true;
        }
        await Processes.RunAsync("apt-get", ["install", "-y", "-qq", package], TimeSpan.FromMinutes(10), cancellation, environment);
        if (!Processes.IsOnPath(command))
        {
            throw new InvalidOperationException($"Installed {package} but {command} is still not on PATH.");
        }
    }
}
