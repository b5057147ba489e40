namespace EpollTransport.Perf;

/// <summary>Finds the load generators on PATH and installs the missing ones with apt-get (Debian/Ubuntu) when it can.</summary>
internal static class ToolInstaller
{
    private static readonly Dictionary<string, string> AptPackages = new(StringComparer.Ordinal)
    {
        ["wrk"] = "wrk",
        ["h2load"] = "nghttp2-client",
        ["gcc"] = "gcc",
        ["perf"] = "linux-perf",
        [CorePlacement.PinningTool] = "util-linux",
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
        if (!s_updated)
        {
            await AptGetAsync(["update", "-qq"], cancellation);
            s_updated = true;
        }
        await AptGetAsync(["install", "-y", "-qq", package], cancellation);
        if (!Processes.IsOnPath(command))
        {
            throw new InvalidOperationException($"Installed {package} but {command} is still not on PATH.");
        }
    }

    /// <summary>apt-get as root, or through sudo for anyone else (sudo keeps DEBIAN_FRONTEND only when told, hence env).</summary>
    private static Task<string> AptGetAsync(string[] arguments, CancellationToken cancellation)
    {
        string[] command = Processes.AsRoot(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", .. arguments]);
        return Processes.RunAsync(command[0], command[1..], TimeSpan.FromMinutes(10), cancellation);
    }
}
