using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Reflection;
using System.Reflection.Metadata;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Package.Tests;

/// <summary>
/// What a newcomer does, end to end: the library packed as it would be published, the package's
/// contents as nuget.org would show them, then `dotnet new web`, `dotnet add package`, the one-line
/// change to Program.cs, and a request to the running app — served by the epoll transport.
/// </summary>
public sealed partial class NewcomerPathTests : IDisposable
{
    private const string TemplateBuilderLine = "var builder = WebApplication.CreateBuilder(args);";
    private const string RepositoryUrl = "https://github.com/epolltransport/EpollTransport";

    // Generous per step: a cold pack on a loaded 2-core runner is the slowest at ~30 s.
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly ITestOutputHelper _log;
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("epolltransport-package-");
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public NewcomerPathTests(ITestOutputHelper log) => _log = log;

    private static string RepositoryRoot =>
        typeof(NewcomerPathTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "RepositoryRoot").Value!;

    [Fact]
    public async Task ThePackedLibraryInstallsIntoAFreshWebAppAndServesItOverEpoll()
    {
        var (feed, suffix) = await PackAsync();
        string version = InspectPackage(feed, suffix);
        var (app, nuget) = await CreateWebAppAsync(feed, version);

        await DotnetAsync(app, nuget, "build", "-c", "Release", "-nodeReuse:false");
        string dll = Path.Combine(app, "bin", "Release", "net10.0", "NewcomerApp.dll");
        AssertServedOverEpoll(await RunAndRequestAsync(ChildProcess.StartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"], app)));
        _log.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: done");
    }

    /// <summary>
    /// The library says it is AOT-compatible (IsAotCompatible); this holds it to that where a user would
    /// find out: the same newcomer app published with PublishAot=true. Any trim or AOT warning (ILxxxx)
    /// that names the transport or its one dependency fails the test, and the native binary must serve
    /// over epoll exactly as the JIT-compiled app does.
    /// </summary>
    [Fact]
    public async Task ThePackedLibraryPublishesAsNativeAotWithoutWarningsAndTheBinaryServesOverEpoll()
    {
        var (feed, suffix) = await PackAsync();
        string version = $"{VersionPrefix(feed)}-{suffix}";
        var (app, nuget) = await CreateWebAppAsync(feed, version);

        // In the project, as a user would set it (so restore brings the ILCompiler packs). One warning
        // per member rather than one per assembly, so a failure says what to fix.
        string projectPath = Path.Combine(app, "NewcomerApp.csproj");
        string project = await File.ReadAllTextAsync(projectPath);
        Assert.True(project.Contains("<PropertyGroup>", StringComparison.Ordinal), $"The web template's project changed:\n{project}");
        await File.WriteAllTextAsync(projectPath, project.Replace("<PropertyGroup>",
            "<PropertyGroup>\n    <PublishAot>true</PublishAot>\n    <TrimmerSingleWarn>false</TrimmerSingleWarn>", StringComparison.Ordinal));

        string rid = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "linux-x64",
            Architecture.Arm64 => "linux-arm64",
            var other => throw new PlatformNotSupportedException($"No Native AOT test for {other}."),
        };
        string output = await DotnetAsync(app, nuget, "publish", "-c", "Release", "-r", rid, "-nodeReuse:false");

        string[] warnings = output.Split('\n').Where(l => TrimOrAotWarning().IsMatch(l)).Select(l => l.Trim()).Distinct().ToArray();
        _log.WriteLine($"Trim/AOT warnings in the publish ({warnings.Length}):\n{string.Join("\n", warnings)}");
        Assert.True(!warnings.Any(w => w.Contains("EpollTransport", StringComparison.Ordinal) || w.Contains("Tmds.", StringComparison.Ordinal)),
            $"The transport is not trim/AOT clean:\n{string.Join("\n", warnings)}");

        string binary = Path.Combine(app, "bin", "Release", "net10.0", rid, "publish", "NewcomerApp");
        Assert.True(File.Exists(binary), $"No native binary at {binary}.");
        AssertServedOverEpoll(await RunAndRequestAsync(ChildProcess.StartInfo(binary, ["--urls", "http://127.0.0.1:0"], app)));
        _log.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: done");
    }

    [GeneratedRegex(@"\bwarning IL\d{4}\b")]
    private static partial Regex TrimOrAotWarning();

    /// <summary>Packs src/EpollTransport into a feed of its own; returns the feed and the version suffix it got.</summary>
    private async Task<(string Feed, string Suffix)> PackAsync()
    {
        // A version no earlier run produced, so no NuGet cache can hand back a stale copy.
        string suffix = "test-" + Guid.NewGuid().ToString("N");
        string feed = Folder("feed");
        await DotnetAsync(RepositoryRoot, null,
            "pack", Path.Combine(RepositoryRoot, "src", "EpollTransport", "EpollTransport.csproj"), "-c", "Release",
            "-o", feed, "--version-suffix", suffix,
            // Its own bin/obj: the solution's build of src/EpollTransport may be running beside this test.
            "--artifacts-path", Folder("artifacts"), "-nodeReuse:false");
        return (feed, suffix);
    }

    /// <summary>The version prefix of the one package in the feed (its file name is EpollTransport.PREFIX-SUFFIX.nupkg).</summary>
    private static string VersionPrefix(string feed)
    {
        string name = Path.GetFileNameWithoutExtension(Directory.GetFiles(feed, "*.nupkg").Single());
        return Regex.Match(name, @"^EpollTransport\.(\d+\.\d+\.\d+)-").Groups[1].Value;
    }

    /// <summary>
    /// `dotnet new web`, `dotnet add package` from the feed, and the one line the README asks for;
    /// returns the app's folder and the environment its dotnet commands run with.
    /// </summary>
    private async Task<(string App, IReadOnlyDictionary<string, string> Nuget)> CreateWebAppAsync(string feed, string version)
    {
        // The app restores into a NuGet cache of its own, deleted with the test; the user's sources stay
        // in force (the config below only adds the feed), since everything else comes from them.
        string app = Folder("NewcomerApp");
        var nuget = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Folder("nuget-packages") };
        await DotnetAsync(app, nuget, "new", "web", "--name", "NewcomerApp", "--output", app, "--no-restore", "--no-update-check");
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="epolltransport-under-test" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        // No --source: it would make the feed the only source, and the package's own dependency
        // (Tmds.LibC) comes from the user's usual one; nuget.config above adds the feed beside it.
        await DotnetAsync(app, nuget, "add", "package", "EpollTransport", "--version", version);

        string programPath = Path.Combine(app, "Program.cs");
        string program = await File.ReadAllTextAsync(programPath);
        Assert.True(program.Contains(TemplateBuilderLine, StringComparison.Ordinal), $"The web template's Program.cs changed:\n{program}");
        await File.WriteAllTextAsync(programPath, program.Replace(
            TemplateBuilderLine, TemplateBuilderLine + "\nbuilder.WebHost.UseEpollTransport();", StringComparison.Ordinal));
        return (app, nuget);
    }

    /// <summary>
    /// Served by epoll, not Sockets, read from the threads the kernel lists for the app:
    /// - "epoll loop 0": the transport starts its loops only when Kestrel binds an endpoint through
    ///   its factory, and Kestrel binds each endpoint with exactly one factory; the app has one.
    /// - no ".NET Sockets": the runtime starts that thread (its socket event loop) at the first
    ///   asynchronous socket operation, so a Sockets-served request always leaves it behind. The
    ///   template app without the line has it and no "epoll loop" (checked when this test was
    ///   written); this app opens no socket of its own.
    /// </summary>
    private static void AssertServedOverEpoll((IReadOnlyList<string> Threads, string Output) run)
    {
        string seen = $"The app's threads: {string.Join(", ", run.Threads)}\nIts output:\n{run.Output}";
        Assert.True(run.Threads.Contains("epoll loop 0"), $"No epoll loop thread. {seen}");
        Assert.False(run.Threads.Contains(".NET Sockets"), $"The runtime's socket engine ran, so Sockets served. {seen}");
    }

    /// <summary>
    /// Checks the .nupkg and .snupkg the way nuget.org and a debugger read them; returns the version.
    /// </summary>
    private string InspectPackage(string feed, string suffix)
    {
        string[] packages = Directory.GetFiles(feed, "*.nupkg");
        string[] symbols = Directory.GetFiles(feed, "*.snupkg");
        Assert.True(packages.Length == 1 && symbols.Length == 1,
            $"Expected one .nupkg and one .snupkg in the feed, found: {string.Join(", ", Directory.GetFiles(feed).Select(Path.GetFileName))}");

        string version;
        using (ZipArchive zip = ZipFile.OpenRead(packages[0]))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            string listing = string.Join("\n", entries.Order());
            _log.WriteLine($"{Path.GetFileName(packages[0])}:\n{listing}");
            foreach (string expected in new[] { "EpollTransport.nuspec", "PACKAGE.md", "lib/net10.0/EpollTransport.dll", "lib/net10.0/EpollTransport.xml" })
            {
                Assert.True(entries.Contains(expected), $"{expected} is missing from the package:\n{listing}");
            }

            using Stream nuspecStream = zip.GetEntry("EpollTransport.nuspec")!.Open();
            XDocument nuspec = XDocument.Load(nuspecStream);
            _log.WriteLine(nuspec.ToString());
            XNamespace ns = nuspec.Root!.Name.Namespace;
            XElement metadata = nuspec.Root.Element(ns + "metadata") ?? throw new InvalidOperationException("The nuspec has no metadata.");
            string Field(string name) => metadata.Element(ns + name)?.Value
                ?? throw new InvalidOperationException($"The nuspec has no <{name}>:\n{nuspec}");

            Assert.Equal("EpollTransport", Field("id"));
            version = Field("version");
            Assert.Matches(new Regex($@"^\d+\.\d+\.\d+-{Regex.Escape(suffix)}$"), version);
            Assert.Equal("EpollTransport contributors", Field("authors"));
            Assert.Contains("Kestrel", Field("description"), StringComparison.Ordinal);
            Assert.Contains("epoll", Field("tags").Split(' '));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("expression", metadata.Element(ns + "license")!.Attribute("type")?.Value);
            Assert.Equal("PACKAGE.md", Field("readme"));

            XElement repository = metadata.Element(ns + "repository") ?? throw new InvalidOperationException($"No <repository>:\n{nuspec}");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal(RepositoryUrl, repository.Attribute("url")?.Value);
            // SourceLink's contribution: the commit the package was built from.
            Assert.Matches("^[0-9a-f]{40}$", repository.Attribute("commit")?.Value ?? "");

            // ASP.NET Core comes from the app's shared framework, never as a package dependency; the one
            // package dependency is Tmds.LibC, the raw libc declarations Interop/ forwards to.
            XElement? dependencies = metadata.Element(ns + "dependencies");
            Assert.Equal(["Tmds.LibC 0.5.0"],
                (dependencies?.Descendants(ns + "dependency") ?? Enumerable.Empty<XElement>())
                    .Select(d => $"{d.Attribute("id")?.Value} {d.Attribute("version")?.Value}"));
            Assert.Contains(metadata.Descendants(ns + "frameworkReference"), r => r.Attribute("name")?.Value == "Microsoft.AspNetCore.App");
            Assert.DoesNotContain("Microsoft.AspNetCore.Connections.Abstractions", nuspec.ToString(), StringComparison.Ordinal);

            using var readme = new StreamReader(zip.GetEntry("PACKAGE.md")!.Open());
            Assert.Contains("UseEpollTransport()", readme.ReadToEnd(), StringComparison.Ordinal);

            using Stream docsStream = zip.GetEntry("lib/net10.0/EpollTransport.xml")!.Open();
            XDocument docs = XDocument.Load(docsStream);
            Assert.Contains(docs.Descendants("member"),
                m => m.Attribute("name")?.Value.StartsWith("M:Microsoft.AspNetCore.Hosting.WebHostBuilderEpollExtensions.UseEpollTransport", StringComparison.Ordinal) == true);
        }

        using (ZipArchive zip = ZipFile.OpenRead(symbols[0]))
        {
            ZipArchiveEntry pdb = zip.GetEntry("lib/net10.0/EpollTransport.pdb")
                ?? throw new InvalidOperationException($"The symbols package has no lib/net10.0/EpollTransport.pdb: {string.Join(", ", zip.Entries.Select(e => e.FullName))}");
            using var copy = new MemoryStream();
            using (Stream stream = pdb.Open())
            {
                stream.CopyTo(copy);
            }
            copy.Position = 0;
            // A portable pdb (what nuget.org's symbol server takes), whose SourceLink record maps the
            // sources to the repository.
            using MetadataReaderProvider provider = MetadataReaderProvider.FromPortablePdbStream(copy);
            MetadataReader reader = provider.GetMetadataReader();
            var sourceLinkKind = new Guid("CC110556-A091-4D38-9FEC-25AB9A351A6A");
            string? sourceLink = reader.CustomDebugInformation
                .Select(handle => reader.GetCustomDebugInformation(handle))
                .Where(info => reader.GetGuid(info.Kind) == sourceLinkKind)
                .Select(info => System.Text.Encoding.UTF8.GetString(reader.GetBlobBytes(info.Value)))
                .FirstOrDefault();
            Assert.True(sourceLink is not null, "The pdb has no SourceLink record.");
            _log.WriteLine($"SourceLink: {sourceLink}");
            Assert.Contains("raw.githubusercontent.com/epolltransport/EpollTransport/", sourceLink, StringComparison.Ordinal);
        }
        _log.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: packed and inspected {version}");
        return version;
    }

    /// <summary>
    /// Runs the built app (started by <paramref name="start"/> on a dynamic loopback port), checks that
    /// GET / answers 200 "Hello World!", and returns the names of its threads and its output; the app is
    /// killed before this returns.
    /// </summary>
    private async Task<(IReadOnlyList<string> Threads, string Output)> RunAndRequestAsync(ProcessStartInfo start)
    {
        using var child = new RunningChild(start);
        try
        {
            string line = await child.WaitForLineAsync(l => l.Contains("Now listening on:", StringComparison.Ordinal), StartTimeout);
            var address = new Uri(line[(line.IndexOf("Now listening on:", StringComparison.Ordinal) + "Now listening on:".Length)..].Trim());

            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            using HttpResponseMessage response = await client.GetAsync(address);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Hello World!", await response.Content.ReadAsStringAsync());

            // Read after the answer: a loop names its thread before it runs, and a request over epoll is
            // served only by a running loop, so no wait is needed for the name to appear.
            IReadOnlyList<string> threads = ThreadNames(child.Id);
            _log.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: {address} answered; threads: {string.Join(", ", threads.Distinct().Order())}");
            return (threads, child.Output);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            throw new InvalidOperationException($"{e.Message}\nThe app's output:\n{child.Output}", e);
        }
        catch (Xunit.Sdk.XunitException)
        {
            _log.WriteLine($"The app's output:\n{child.Output}");
            throw;
        }
    }

    /// <summary>A process's thread names as the kernel has them (/proc/PID/task/*/comm).</summary>
    private static IReadOnlyList<string> ThreadNames(int pid)
    {
        var names = new List<string>();
        foreach (string task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                names.Add(File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'));
            }
            catch (IOException)
            {
                // The thread exited while we looked.
            }
        }
        return names;
    }

    private async Task<string> DotnetAsync(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        string output = await ChildProcess.RunAsync("dotnet", arguments, workingDirectory, StepTimeout, environment);
        _log.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: dotnet {string.Join(' ', arguments)}");
        return output;
    }

    private string Folder(string name) => Directory.CreateDirectory(Path.Combine(_root.FullName, name)).FullName;

    public void Dispose() => _root.Delete(recursive: true);
}
