using DemoWeb;

// dotnet run -c Release --project src/DemoWeb [-- --transport sockets --threads 2 --inline --https ...]
WebApplication app = DemoApp.Build(args);
await app.RunAsync();
