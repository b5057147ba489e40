using BenchmarkDotNet.Running;

// From the repository root:
//   dotnet run -c Release --project perf/EpollTransport.Micro -- --filter '*'
//   dotnet run -c Release --project perf/EpollTransport.Micro -- --filter '*RegistrationTable*'
// BenchmarkSwitcher takes the usual BenchmarkDotNet arguments (--list flat, --filter, --job, ...).
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
