namespace EpollTransport.Perf.Tests;

/// <summary>The harness's C tools built from the repository's sources into the test output, once per source change.</summary>
internal static class NativeBuilds
{
    private static readonly SemaphoreSlim s_buildGate = new(1, 1);

    public static Task<string> EchoLoadAsync() => BuildAsync(EchoClient.Source, "echo_load");

    public static Task<string> BusySpinAsync() => BuildAsync(BusyNeighbours.Source, "busy_spin");

    public static Task<string> CReferenceServerAsync() => BuildAsync(ServerConfiguration.CReferenceServer.Source, "c_reference_server");

    private static async Task<string> BuildAsync(string source, string name)
    {
        string binary = Path.Combine(AppContext.BaseDirectory, name);
        // One build at a time: test classes run in parallel and gcc would race on the same output file.
        await s_buildGate.WaitAsync();
        try
        {
            await NativeTool.EnsureBuiltAsync(Path.Combine(RepositoryRoot(), source), binary, CancellationToken.None);
        }
        finally
        {
            s_buildGate.Release();
        }
        return binary;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EpollTransport.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No EpollTransport.sln above {AppContext.BaseDirectory}.");
    }
}
