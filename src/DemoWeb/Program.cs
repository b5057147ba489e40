using DemoWeb;

// dotnet run -c Release --project src/DemoWeb [-- --transport sockets --threads 2 --inline true --https true ...]
WebApplication app = DemoApp.Build(args);
await app.RunAsync();
