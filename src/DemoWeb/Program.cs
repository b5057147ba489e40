using EpollTransport;

var builder = WebApplication.CreateBuilder(args);

// --transport epoll|sockets lets the same app be measured on either transport.
string transport = builder.Configuration["transport"] ?? "epoll";
int? threads = builder.Configuration.GetValue<int?>("threads");
bool inline = builder.Configuration.GetValue<bool>("inline");

if (string.Equals(transport, "epoll", StringComparison.OrdinalIgnoreCase))
{
    builder.WebHost.UseEpollTransport(options =>
    {
        if (threads is int count)
        {
            options.ThreadCount = count;
        }
        options.UnsafePreferInlineScheduling = inline;
    });
}
else if (string.Equals(transport, "sockets", StringComparison.OrdinalIgnoreCase))
{
    builder.WebHost.UseSockets(options =>
    {
        if (threads is int count)
        {
            options.IOQueueCount = count;
        }
        options.UnsafePreferInlineScheduling = inline;
    });
}
else
{
    throw new ArgumentException($"--transport must be 'epoll' or 'sockets'; it was '{transport}'.");
}

var app = builder.Build();

app.MapGet("/plaintext", () => Results.Text("Hello, World!", "text/plain"));
app.MapGet("/json", () => Results.Json(new Greeting("Hello, World!")));

app.Lifetime.ApplicationStarted.Register(() =>
{
    var factory = app.Services.GetService<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>();
    Console.WriteLine($"DemoWeb serving {string.Join(", ", app.Urls)} over {factory?.GetType().Name ?? "?"}" +
        (factory is EpollTransportFactory ? $" with {((EpollTransportFactory)factory).GetLoopCounters().Count} epoll loop(s)" : string.Empty));
});

app.Run();

internal sealed record Greeting(string Message);
