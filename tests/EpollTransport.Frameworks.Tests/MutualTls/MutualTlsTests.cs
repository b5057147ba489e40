using System.Collections.Concurrent;
using System.Collections.ObjectModel;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Frameworks.Tests.MutualTls;

/// <summary>
/// Kestrel's HTTPS with client certificates required, over HTTP/1.1 and HTTP/2 (ALPN): a certificate the server's
/// validation accepts reaches the app; no certificate, or one the validation refuses, ends the connection in the
/// handshake before any request runs, and the server stays healthy.
/// </summary>
public sealed class MutualTlsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly Lazy<X509Certificate2> ServerCertificate = new(() => Create("CN=localhost", "1.3.6.1.5.5.7.3.1", server: true));
    private static readonly Lazy<X509Certificate2> AcceptedClient = new(() => Create("CN=accepted-client", "1.3.6.1.5.5.7.3.2", server: false));
    private static readonly Lazy<X509Certificate2> RefusedClient = new(() => Create("CN=refused-client", "1.3.6.1.5.5.7.3.2", server: false));

    /// <summary>
    /// A self-signed P-256 certificate for <paramref name="usage"/> (server or client authentication), re-imported from
    /// PKCS#12 so that SslStream gets a certificate that carries its private key.
    /// </summary>
    private static X509Certificate2 Create(string subject, string usage, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256);
        Collection<X509Extension> extensions = request.CertificateExtensions;
        extensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(usage) }, critical: false));
        extensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            extensions.Add(names.Build());
        }
        using X509Certificate2 ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7));
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>The client certificates the server's validation callback was shown, and how many requests ran.</summary>
    private sealed class ServerObservations
    {
        public ConcurrentQueue<string> Validated { get; } = new();

        public int Requests => _requests;

        private int _requests;

        public void OnRequest() => Interlocked.Increment(ref _requests);
    }

    private static Task<TestServer> StartAsync(string transport, ServerObservations observations) => TestServer.StartAsync(transport, app =>
    {
        app.MapGet("/whoami", (HttpContext context) =>
        {
            observations.OnRequest();
            return $"{context.Connection.ClientCertificate?.Thumbprint}|{context.Request.Protocol}|{context.Connection.Id}";
        });
        app.MapPost("/hash", async (HttpContext context) =>
        {
            observations.OnRequest();
            (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader, context.RequestAborted);
            return $"{hex} {length}";
        });
    }, new TestServerOptions
    {
        ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = ServerCertificate.Value,
                ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                // The certificates are self-signed, so the chain is untrusted; the server pins the one client it accepts.
                ClientCertificateValidation = (certificate, _, _) =>
                {
                    observations.Validated.Enqueue(certificate.Thumbprint);
                    return certificate.Thumbprint == AcceptedClient.Value.Thumbprint;
                },
                CheckCertificateRevocation = false,
            });
        }),
    });

    private static HttpClient CreateClient(TestServer server, string version, X509Certificate2? certificate, bool reuseConnections = true)
    {
        var handler = new SocketsHttpHandler
        {
            // Zero: every request does a fresh handshake, which is what the handshake rate measures.
            PooledConnectionLifetime = reuseConnections ? TimeSpan.FromMinutes(5) : TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == ServerCertificate.Value.GetCertHashString(),
                ClientCertificates = certificate is null ? null : new X509CertificateCollection { certificate },
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
            },
        };
        if (certificate is null)
        {
            handler.SslOptions.LocalCertificateSelectionCallback = null;
        }
        return new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://localhost:{server.Port}/"),
            Timeout = Timeout,
            DefaultRequestVersion = FrameworkTheories.HttpVersionOf(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    [Theory]
    [MemberData(nameof(FrameworkTheories.TransportsAndHttpVersions), MemberType = typeof(FrameworkTheories))]
    public async Task AcceptedClientCertificateReachesTheApplication(string transport, string version)
    {
        var observations = new ServerObservations();
        await using TestServer server = await StartAsync(transport, observations);
        string expectedProtocol = version == "2" ? "HTTP/2" : "HTTP/1.1";

        const int handshakes = 12;
        using (HttpClient client = CreateClient(server, version, AcceptedClient.Value, reuseConnections: false))
        {
            TimeSpan elapsed = await Figures.TimeAsync(async () =>
            {
                for (int i = 0; i < handshakes; i++)
                {
                    string[] parts = (await client.GetStringAsync("/whoami").WaitAsync(Timeout)).Split('|');
                    Assert.Equal(AcceptedClient.Value.Thumbprint, parts[0]);
                    Assert.Equal(expectedProtocol, parts[1]);
                }
            });
            Figures.Report(output, "mTLS", $"new connection + request, HTTP/{version}", transport, handshakes, "handshakes", elapsed);
        }

        const int requests = 200;
        using (HttpClient client = CreateClient(server, version, AcceptedClient.Value))
        {
            var connectionIds = new HashSet<string>();
            TimeSpan elapsed = await Figures.TimeAsync(async () =>
            {
                for (int i = 0; i < requests; i++)
                {
                    string[] parts = (await client.GetStringAsync("/whoami").WaitAsync(Timeout)).Split('|');
                    Assert.Equal(AcceptedClient.Value.Thumbprint, parts[0]);
                    connectionIds.Add(parts[2]);
                }
            });
            Assert.Single(connectionIds);
            Figures.Report(output, "mTLS", $"requests on one connection, HTTP/{version}", transport, requests, "requests", elapsed);
            // The loops' counters (held sends timed out, hand-offs, wake-ups) explain an outlier in the figure above.
            output.WriteLine($"{transport}: loops: {RawClient.DescribeLoops(server)}");

            const int length = 4 * 1024 * 1024;
            TimeSpan upload = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await client.PostAsync("/hash", new DeterministicContent(91, length, 50_000, knownLength: true)).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal($"{DeterministicData.Sha256Hex(91, length)} {length}", await response.Content.ReadAsStringAsync());
            });
            Figures.ReportMiB(output, "mTLS", $"4 MiB upload, HTTP/{version}", transport, length, upload);
        }

        // The validation callback saw only the accepted certificate, once per handshake.
        Assert.Equal(handshakes + 1, observations.Validated.Count);
        Assert.All(observations.Validated, thumbprint => Assert.Equal(AcceptedClient.Value.Thumbprint, thumbprint));
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(FrameworkTheories.TransportsAndHttpVersions), MemberType = typeof(FrameworkTheories))]
    public async Task MissingOrRefusedClientCertificateIsRejectedInTheHandshake(string transport, string version)
    {
        var observations = new ServerObservations();
        await using TestServer server = await StartAsync(transport, observations);

        // No certificate at all: Kestrel refuses it before the validation callback (RequireCertificate).
        using (HttpClient anonymous = CreateClient(server, version, certificate: null))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => anonymous.GetStringAsync("/whoami").WaitAsync(Timeout));
        }
        Assert.Empty(observations.Validated);

        // A well-formed certificate the server's callback refuses.
        using (HttpClient refused = CreateClient(server, version, RefusedClient.Value))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => refused.GetStringAsync("/whoami").WaitAsync(Timeout));
        }
        // HttpClient may retry an HTTP/1.1 request whose new connection failed before any response, so the callback can
        // be shown the certificate more than once; it must have refused it every time.
        Assert.NotEmpty(observations.Validated);
        Assert.All(observations.Validated, thumbprint => Assert.Equal(RefusedClient.Value.Thumbprint, thumbprint));
        Assert.Equal(0, observations.Requests);

        // The rejections cost the server nothing: the accepted client is served next.
        using (HttpClient accepted = CreateClient(server, version, AcceptedClient.Value))
        {
            Assert.StartsWith(AcceptedClient.Value.Thumbprint + "|", await accepted.GetStringAsync("/whoami").WaitAsync(Timeout));
        }
        Assert.Equal(1, observations.Requests);
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
