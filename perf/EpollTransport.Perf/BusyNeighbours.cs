using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Busy neighbours (issue 27): N processes spinning in user space at normal priority beside the server,
/// from before a sample's warm-up to the end of its measured run, so that the server's threads compete
/// for a core whenever they become runnable, as on a host with containers, real request work or the GC.
/// An idle benchmark box hides what that costs: a thread that gives its core away (sched_yield, a
/// hand-off to another thread) gets it back only after a neighbour's time slice. With shared cores the
/// spinners are unpinned, like the server and the load; in the dedicated setup they run on the server's
/// CPU, since the point is contention for the server's core, and the load generators keep theirs.
/// They are stopped around the host-phase probes, which would otherwise measure the spinners.
/// </summary>
internal sealed class BusyNeighbours : IDisposable
{
    public const string Source = "perf/busy-spin/busy_spin.c";
    public const string Binary = "perf/busy-spin/bin/busy_spin";

    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(10);

    private readonly Process[] _spinners;

    private BusyNeighbours(Process[] spinners) => _spinners = spinners;

    public static Task EnsureBuiltAsync(CancellationToken cancellation) => NativeTool.EnsureBuiltAsync(Source, Binary, cancellation);

    /// <summary>
    /// Starts <paramref name="count"/> spinners where <paramref name="placement"/> runs the server (none for 0)
    /// and returns once each has said it runs there; <paramref name="binary"/> overrides the built spinner.
    /// Each exits by itself if the harness dies without stopping it (see busy_spin.c); run.sh also kills
    /// the harness's whole process group on exit.
    /// </summary>
    public static async Task<BusyNeighbours> StartAsync(int count, CorePlacement placement, CancellationToken cancellation, string? binary = null)
    {
        var spinners = new List<Process>(count);
        try
        {
            string parent = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            for (int i = 0; i < count; i++)
            {
                (string fileName, string[] arguments) = placement.Server(binary ?? Path.GetFullPath(Binary), [parent]);
                var start = new ProcessStartInfo(fileName) { UseShellExecute = false, RedirectStandardOutput = true };
                foreach (string argument in arguments)
                {
                    start.ArgumentList.Add(argument);
                }
                Process spinner = Processes.StartOrExplain(start);
                spinners.Add(spinner);
                // "ready" comes after taskset has pinned it and exec'd: from here on it competes for the CPU.
                string? line = await spinner.StandardOutput.ReadLineAsync(cancellation).AsTask().WaitAsync(ReadyDeadline, cancellation);
                if (line != "ready")
                {
                    throw new InvalidOperationException($"{Processes.Describe(fileName, arguments)} did not start spinning (it said '{line}').");
                }
            }
        }
        catch
        {
            Stop(spinners);
            throw;
        }
        return new BusyNeighbours(spinners.ToArray());
    }

    /// <summary>The spinners' process ids.</summary>
    public IReadOnlyList<int> ProcessIds => _spinners.Select(s => s.Id).ToArray();

    public void Dispose() => Stop(_spinners);

    private static void Stop(IEnumerable<Process> spinners)
    {
        foreach (Process spinner in spinners)
        {
            Processes.Kill(spinner);
            // Reaped here, so a long run does not pile up exited children.
            spinner.WaitForExit(TimeSpan.FromSeconds(5));
            spinner.Dispose();
        }
    }
}
