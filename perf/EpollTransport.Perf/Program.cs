using EpollTransport.Perf;

// From the repository root:
//   dotnet run -c Release --project perf/EpollTransport.Perf -- http [rounds=3] [seconds=8]
//   dotnet run -c Release --project perf/EpollTransport.Perf -- accept [seconds] [concurrency]
string scenario = args.Length > 0 ? args[0] : "accept";
switch (scenario)
{
    case "accept":
        await AcceptDistribution.RunAsync(
            seconds: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
            concurrency: args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 32);
        return 0;
    case "http":
        return await HttpBenchmarks.RunAsync(
            rounds: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3,
            seconds: args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 8);
    default:
        Console.Error.WriteLine($"Unknown scenario '{scenario}'. Known: http, accept.");
        return 2;
}
