using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace DemoWeb.Tests;

/// <summary>
/// One page in a headless Chromium, driven over the DevTools protocol with a ClientWebSocket: the test
/// loads the page once and then reads its live DOM while it keeps updating itself.
/// </summary>
public sealed class ChromiumPage : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private int _nextId;
    private bool _loadFired;

    private ChromiumPage(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static async Task<ChromiumPage> OpenAsync(string chromium, Uri url)
    {
        string profile = Directory.CreateTempSubdirectory("demoweb-chromium-").FullName;
        var start = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in (string[])[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", url.ToString()])
        {
            start.ArgumentList.Add(arg);
        }
        var page = new ChromiumPage(Process.Start(start) ?? throw new InvalidOperationException($"Could not start {chromium}."), profile);
        try
        {
            await page.ConnectAsync(url);
            return page;
        }
        catch
        {
            await page.DisposeAsync();
            throw;
        }
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its value (JSON-serialisable).</summary>
    /// <param name="awaitPromise">For an expression that is a promise: return what it resolves to.</param>
    public async Task<JsonElement> EvaluateAsync(string expression, bool awaitPromise = false)
    {
        using var cts = new CancellationTokenSource(Timeout);
        JsonElement result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise }, cts.Token);
        if (result.TryGetProperty("exceptionDetails", out JsonElement exception))
        {
            throw new InvalidOperationException($"The page threw evaluating {expression}: {exception}");
        }
        return result.GetProperty("result").TryGetProperty("value", out JsonElement value) ? value.Clone() : default;
    }

    /// <summary>Sends a DevTools command and returns its result, noting the events that arrive meanwhile.</summary>
    private async Task<JsonElement> SendAsync(string method, object parameters, CancellationToken cancellationToken)
    {
        int id = ++_nextId;
        string command = JsonSerializer.Serialize(new { id, method, @params = parameters });
        await _socket.SendAsync(Encoding.UTF8.GetBytes(command), WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        while (true)
        {
            using JsonDocument message = await ReceiveAsync(cancellationToken);
            // Events (no id) and replies to other commands are not ours.
            if (!message.RootElement.TryGetProperty("id", out JsonElement replyId) || replyId.GetInt32() != id)
            {
                continue;
            }
            if (message.RootElement.TryGetProperty("error", out JsonElement error))
            {
                throw new InvalidOperationException($"Chromium rejected {method}: {error}");
            }
            return message.RootElement.GetProperty("result").Clone();
        }
    }

    /// <summary>
    /// Returns once the page's own document has loaded. The tab lists the URL before its document exists,
    /// so connecting is not enough. Page events are on from here, so a load after the check is announced.
    /// </summary>
    private async Task WaitForLoadAsync(Uri url, CancellationToken cancellationToken)
    {
        await SendAsync("Page.enable", new { }, cancellationToken);
        string origin = JsonSerializer.Serialize(url.GetLeftPart(UriPartial.Authority));
        JsonElement loaded = await SendAsync(
            "Runtime.evaluate",
            new { expression = $"document.readyState === 'complete' && location.origin === {origin}", returnByValue = true },
            cancellationToken);
        if (loaded.GetProperty("result").TryGetProperty("value", out JsonElement value) && value.ValueKind == JsonValueKind.True)
        {
            return;
        }
        while (!_loadFired)
        {
            (await ReceiveAsync(cancellationToken)).Dispose();
        }
    }

    private async Task ConnectAsync(Uri url)
    {
        var stderr = new LineWatcher(_process.StandardError);
        _ = _process.StandardOutput.ReadToEndAsync();
        const string Marker = "DevTools listening on ";
        string line = await stderr.WaitForAsync(l => l.StartsWith(Marker, StringComparison.Ordinal), Timeout);
        var browser = new Uri(line[Marker.Length..].Trim());

        // The browser endpoint lists its targets; the page opened with the URL is the one to drive.
        // The tab may be created a moment after that line, and nothing announces it: poll, with a deadline.
        using var http = new HttpClient { Timeout = Timeout };
        using var cts = new CancellationTokenSource(Timeout);
        string? debuggerUrl;
        while ((debuggerUrl = await FindPageAsync(http, browser, url, cts.Token)) is null)
        {
            await Task.Delay(100, cts.Token);
        }
        await _socket.ConnectAsync(new Uri(debuggerUrl), cts.Token);
        await WaitForLoadAsync(url, cts.Token);
    }

    private static async Task<string?> FindPageAsync(HttpClient http, Uri browser, Uri url, CancellationToken cancellationToken)
    {
        using JsonDocument targets = JsonDocument.Parse(await http.GetStringAsync($"http://{browser.Authority}/json/list", cancellationToken));
        string origin = url.GetLeftPart(UriPartial.Authority);
        return targets.RootElement.EnumerateArray()
            .Where(t => t.GetProperty("type").GetString() == "page" && t.GetProperty("url").GetString()!.StartsWith(origin, StringComparison.Ordinal))
            .Select(t => t.GetProperty("webSocketDebuggerUrl").GetString())
            .FirstOrDefault();
    }

    private async Task<JsonDocument> ReceiveAsync(CancellationToken cancellationToken)
    {
        var message = new MemoryStream();
        var buffer = new byte[16 * 1024];
        ValueWebSocketReceiveResult received;
        do
        {
            received = await _socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException("Chromium closed the DevTools connection.");
            }
            message.Write(buffer, 0, received.Count);
        }
        while (!received.EndOfMessage);

        JsonDocument document = JsonDocument.Parse(message.ToArray());
        if (document.RootElement.TryGetProperty("method", out JsonElement method) && method.GetString() == "Page.loadEventFired")
        {
            _loadFired = true;
        }
        return document;
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync().WaitAsync(Timeout);
        _process.Dispose();
        Directory.Delete(_profile, recursive: true);
    }
}
