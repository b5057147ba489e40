using System.Globalization;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;

namespace DemoWeb;

/// <summary>The HTTP surface: benchmark shapes, a streaming echo, an upload sink, a WebSocket echo and the live stats.</summary>
public static class HttpEndpoints
{
    private static readonly byte[] HelloWorld = "Hello, World!"u8.ToArray();

    /// <summary>The longest <c>/block?ms=</c> accepted.</summary>
    public const int MaxBlockMilliseconds = 1000;

    public static void Map(WebApplication app, DemoSettings settings)
    {
        // TechEmpower shapes: kept lean, they are what benchmark runs measure.
        // Which process answered: for restarts, where two DemoWebs share one listening socket.
        app.MapGet("/process", static () => Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

        app.MapGet("/plaintext", static (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = HelloWorld.Length;
            return context.Response.Body.WriteAsync(HelloWorld).AsTask();
        });
        app.MapGet("/json", static () => TypedResults.Json(new JsonMessage("Hello, World!"), DemoJsonContext.Default.JsonMessage));

        // A handler that blocks its thread (Thread.Sleep) for ms milliseconds: what the inline scheduling's
        // watchdog exists for. With ApplicationSchedulingMode.Inline the loop moves to a spare thread once
        // the threshold passes, so other connections keep being served. At most a second, well past the
        // threshold: more would only let any client hold a server thread for as long as it likes. A value
        // out of range is refused (400, naming the range) rather than quietly shortened, as ASP.NET Core
        // does with a parameter it cannot take.
        app.MapGet("/block", static (int? ms) =>
        {
            int milliseconds = ms ?? 100;
            if (milliseconds is < 0 or > MaxBlockMilliseconds)
            {
                return Results.BadRequest($"ms must be between 0 and {MaxBlockMilliseconds}; it was {milliseconds}.");
            }
            Thread.Sleep(milliseconds);
            return Results.Text($"blocked {milliseconds} ms");
        });

        // Streams the body back as it arrives: any size, no buffering of the whole body.
        app.MapPost("/echo", static async (HttpContext context) =>
        {
            context.Response.ContentType = context.Request.ContentType ?? "application/octet-stream";
            if (context.Request.ContentLength is long length)
            {
                context.Response.ContentLength = length;
            }
            await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted);
        });

        // Reads the body and answers with its length: an upload's cost alone, where /echo would add a
        // download of the same size. No size limit (Kestrel's default stops at 30 MB), since benchmark
        // uploads are 100 MiB.
        app.MapPost("/upload", static async (HttpContext context) =>
        {
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null;
            }
            PipeReader body = context.Request.BodyReader;
            long received = 0;
            while (true)
            {
                ReadResult read = await body.ReadAsync(context.RequestAborted);
                received += read.Buffer.Length;
                body.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
            // With its length, so a client can read the answer without chunked decoding.
            byte[] count = Encoding.ASCII.GetBytes(received.ToString(CultureInfo.InvariantCulture));
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = count.Length;
            await context.Response.Body.WriteAsync(count, context.RequestAborted);
        });

        app.Map("/ws", static async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("Expected a WebSocket request.");
                return;
            }
            using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
            await EchoWebSocketAsync(socket, context.RequestAborted);
        });

        app.MapGet("/stats", (TransportStatistics statistics) =>
            TypedResults.Json(statistics.Collect(settings.Transport), DemoJsonContext.Default.StatsSnapshot));
    }

    private static async Task EchoWebSocketAsync(WebSocket socket, CancellationToken aborted)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            ValueWebSocketReceiveResult received = await socket.ReceiveAsync(buffer.AsMemory(), aborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, aborted);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, aborted);
        }
    }
}

public sealed record JsonMessage(string Message);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(JsonMessage))]
[JsonSerializable(typeof(StatsSnapshot))]
internal sealed partial class DemoJsonContext : JsonSerializerContext;
