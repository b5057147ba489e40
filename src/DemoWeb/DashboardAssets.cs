using System.Reflection;

namespace DemoWeb;

/// <summary>
/// Serves the dashboard's files from resources embedded in the assembly, so the page works
/// whatever the working directory (dotnet run, the published dll, tests).
/// </summary>
public static class DashboardAssets
{
    public static void Map(WebApplication app)
    {
        MapAsset(app, "/", "index.html", "text/html; charset=utf-8");
        MapAsset(app, "/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8");
        MapAsset(app, "/signalr.js", "signalr.js", "text/javascript; charset=utf-8");
        MapAsset(app, "/charts.js", "charts.js", "text/javascript; charset=utf-8");
        MapAsset(app, "/dashboard.css", "dashboard.css", "text/css; charset=utf-8");
        // The page links this icon; without one the browser asks for /favicon.ico and logs its 404.
        MapAsset(app, "/favicon.svg", "favicon.svg", "image/svg+xml");
    }

    private static void MapAsset(WebApplication app, string path, string fileName, string contentType)
    {
        byte[] content = Load(fileName);
        app.MapGet(path, () => Results.Bytes(content, contentType));
    }

    private static byte[] Load(string fileName)
    {
        Assembly assembly = typeof(DashboardAssets).Assembly;
        using Stream stream = assembly.GetManifestResourceStream("DemoWeb.Dashboard." + fileName)
            ?? throw new InvalidOperationException($"The dashboard file {fileName} is not embedded in {assembly.GetName().Name}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
