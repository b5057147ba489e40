using DemoWeb;

// dotnet run -c Release --project src/DemoWeb [-- --transport sockets --threads 2 --scheduling threadpool|--inline --https ...]
WebApplication app = DemoApp.Build(args);
await app.RunAsync();
