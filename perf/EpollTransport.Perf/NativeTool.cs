namespace EpollTransport.Perf;

/// <summary>Our small C programs under perf/ (echo_load, core_probe): built with gcc when the binary is missing or older than its source.</summary>
internal static class NativeTool
{
    /// <summary>A C program: its source and where its binary goes, both relative to the repository's root.</summary>
    public sealed record Program(string Source, string Binary)
    {
        public string BinaryPath => Path.GetFullPath(Binary);

        public Task EnsureBuiltAsync(CancellationToken cancellation) => NativeTool.EnsureBuiltAsync(Source, Binary, cancellation);
    }

    public static async Task EnsureBuiltAsync(string source, string binary, CancellationToken cancellation)
    {
        if (File.Exists(binary) && File.GetLastWriteTimeUtc(binary) >= File.GetLastWriteTimeUtc(source))
        {
            return;
        }
        await ToolInstaller.EnsureAsync("gcc", cancellation);
        Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
        Console.Error.WriteLine($"Building {binary} ...");
        await Processes.RunAsync("gcc", ["-O2", "-Wall", "-Werror", "-pthread", "-o", binary, source], TimeSpan.FromMinutes(2), cancellation);
    }
}
