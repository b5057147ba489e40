using System.Globalization;
using System.Runtime.InteropServices;
using EpollTransport.Perf;

// From anywhere in the repository (perf/run.sh builds everything first and passes its arguments on):
//   dotnet run -c Release --project perf/EpollTransport.Perf -- [suite] [rounds=3] [seconds=5] [--only ...] [--configs ...] [--setup shared|dedicated|both] [--busy N|cores]
//   dotnet run -c Release --project perf/EpollTransport.Perf -- http [rounds] [seconds] [...]   (HTTP scenarios only)
//   dotnet run -c Release --project perf/EpollTransport.Perf -- profile [seconds=5] [--only ...] [--configs ...] [--setup ...]
//   dotnet run -c Release --project perf/EpollTransport.Perf -- accept [seconds] [clients]
//   dotnet run -c Release --project perf/EpollTransport.Perf -- soak [minutes=10] [--configs NAME]
//   dotnet run -c Release --project perf/EpollTransport.Perf -- report perf/results/<stamp>.json [...]
Directory.SetCurrentDirectory(RepositoryRoot());

// Ctrl+C or SIGTERM cancels the run, so the load generator in flight is killed and the server stopped
// before exit; a second signal is left to the default handler.
using var stop = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    if (!stop.IsCancellationRequested)
    {
        context.Cancel = true;
        Console.Error.WriteLine($"{context.Signal}: stopping the load and the server ...");
        stop.Cancel();
    }
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

// The command may be left out: `-- 3 5 --only echo` runs the suite.
bool named = args is ["--help" or "-h", ..] || (args.Length > 0 && !args[0].StartsWith('-') && !char.IsAsciiDigit(args[0][0]));
string command = named ? args[0] : "suite";
string[] rest = named ? args[1..] : args;
try
{
    switch (command)
    {
        case "accept":
            await AcceptDistribution.RunAsync(
                seconds: rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 5,
                concurrency: rest.Length > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 32);
            return 0;
        case "suite":
            return await SuiteRunner.RunAsync(SuiteOptions.Parse(rest), ScenarioCatalog.All, stop.Token);
        case "http":
            return await SuiteRunner.RunAsync(SuiteOptions.Parse(rest), ScenarioCatalog.All.Where(s => s.IsHttp).ToArray(), stop.Token);
        case "profile":
            return await ProfileRunner.RunAsync(SuiteOptions.ParseProfile(rest), ScenarioCatalog.All, stop.Token);
        case "soak":
        {
            int minutes = rest.Length > 0 && int.TryParse(rest[0], CultureInfo.InvariantCulture, out int m) ? m : 10;
            int config = Array.IndexOf(rest, "--configs");
            string configuration = config >= 0 && config + 1 < rest.Length ? rest[config + 1] : ServerConfiguration.EpollDefault;
            if (minutes < 1)
            {
                throw new ArgumentException($"soak minutes must be at least 1; it was {minutes}.");
            }
            return await SoakRunner.RunAsync(minutes, configuration, stop.Token);
        }
        case "report":
            Console.WriteLine(RunHistoryReport.Render(rest.Select(ResultsReader.Load).ToArray()));
            return 0;
        case "help" or "-h" or "--help":
            Console.WriteLine(SuiteOptions.Usage);
            return 0;
        default:
            Console.Error.WriteLine($"Unknown command '{command}'.");
            Console.Error.WriteLine(SuiteOptions.Usage);
            return 2;
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(SuiteOptions.Usage);
    return 2;
}
catch (Exception e) when (e is InvalidDataException or IOException or KeyNotFoundException or InvalidOperationException or FormatException && command == "report")
{
    Console.Error.WriteLine($"report: {e.Message}");
    return 2;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("Stopped; no results written.");
    return 130;
}

static string RepositoryRoot()
{
    // Paths in the harness (DemoWeb's build output, perf/results, perf/pipeline.lua) are relative to the root.
    foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
    {
        for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EpollTransport.sln")))
            {
                return directory.FullName;
            }
        }
    }
    return Directory.GetCurrentDirectory();
}
