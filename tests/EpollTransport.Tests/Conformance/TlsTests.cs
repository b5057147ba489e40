using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>Kestrel's TLS (SslStream over the transport's pipes): HTTP/1.1, HTTP/2 via ALPN, large bodies.</summary>
public class TlsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly Lazy<X509Certificate2> Certificate = new(CreateCertificate);

    /// <summary>A self-signed ECDSA server certificate for localhost/127.0.0.1, round-tripped through PFX so it carries its key.</summary>
    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 created = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        byte[] pfx = created.Export(X509ContentType.Pfx, "test");
        return X509CertificateLoader.LoadPkcs12(pfx, "test");
    }

    private static bool IsOurCertificate(X509Certificate? certificate)
        => certificate is not null && certificate.GetCertHashString() == Certificate.Value.GetCertHashString();

    private static TestServerOptions HttpsOptions(HttpProtocols protocols = HttpProtocols.Http1AndHttp2) => new()
    {
        ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = protocols;
            listen.UseHttps(Certificate.Value);
        }),
    };

    private static HttpClient CreateTlsClient(TestServer server, Version version)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) => IsOurCertificate(certificate),
            },
        };
        return new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://localhost:{server.Port}/"),
            Timeout = Timeout,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/info/{i:int}", (int i, HttpContext context) =>
        {
            SslProtocols tls = context.Features.Get<ITlsHandshakeFeature>()?.Protocol ?? SslProtocols.None;
            return $"{i}|{context.Request.Protocol}|{context.Request.IsHttps}|{tls}|{context.Connection.Id}";
        });
        app.MapPost("/hash", async (HttpContext context) =>
        {
            (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader, context.RequestAborted);
            return $"{hex} {length}";
        });
        app.MapGet("/download/{seed:int}/{length:int}", async (int seed, int length, HttpContext context) =>
        {
            context.Response.ContentLength = length;
            var generator = new DeterministicData((ulong)seed);
            while (length > 0)
            {
                Memory<byte> memory = context.Response.BodyWriter.GetMemory(16 * 1024);
                int n = Math.Min(memory.Length, length);
                generator.Fill(memory.Span[..n]);
                context.Response.BodyWriter.Advance(n);
                await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                length -= n;
            }
        });
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task Http11OverTlsServesKeepAliveRequests(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, HttpsOptions());
        var connectionIds = new HashSet<string>();
        using (HttpClient client = CreateTlsClient(server, HttpVersion.Version11))
        {
            for (int i = 0; i < 20; i++)
            {
                using HttpResponseMessage response = await client.GetAsync($"/info/{i}").WaitAsync(Timeout);
                Assert.Equal(HttpVersion.Version11, response.Version);
                string[] parts = (await response.Content.ReadAsStringAsync()).Split('|');
                Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), parts[0]);
                Assert.Equal("HTTP/1.1", parts[1]);
                Assert.Equal("True", parts[2]);
                Assert.True(parts[3] is "Tls12" or "Tls13", parts[3]);
                connectionIds.Add(parts[4]);
            }
        }
        Assert.Single(connectionIds);

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RawSslStreamRequestWithConnectionCloseEndsInEof(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, HttpsOptions(HttpProtocols.Http1));

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.EndPoint).WaitAsync(Timeout);
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = (_, certificate, _, _) => IsOurCertificate(certificate),
            }).WaitAsync(Timeout);
            Assert.Equal(SslApplicationProtocol.Http11, ssl.NegotiatedApplicationProtocol);

            // Two pipelined requests, the second asking to close; read everything until the server ends the stream.
            await ssl.WriteAsync(Encoding.ASCII.GetBytes(
                "GET /info/1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /info/2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
            await ssl.FlushAsync();
            using var received = new MemoryStream();
            await ssl.CopyToAsync(received).WaitAsync(Timeout);
            string text = Encoding.ASCII.GetString(received.ToArray());
            Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
            Assert.Contains("1|HTTP/1.1|True|", text);
            Assert.Contains("2|HTTP/1.1|True|", text);
            Assert.Equal(2, text.Split("HTTP/1.1 200 OK").Length - 1);
            Assert.Contains("Connection: close", text);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task Http2OverTlsIsNegotiatedWithAlpn(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, HttpsOptions());
        using (HttpClient client = CreateTlsClient(server, HttpVersion.Version20))
        {
            string[] connectionIds = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
            {
                using HttpResponseMessage response = await client.GetAsync($"/info/{i}");
                Assert.Equal(HttpVersion.Version20, response.Version);
                string[] parts = (await response.Content.ReadAsStringAsync()).Split('|');
                Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), parts[0]);
                Assert.Equal("HTTP/2", parts[1]);
                Assert.Equal("True", parts[2]);
                return parts[4];
            })).WaitAsync(Timeout);
            Assert.Single(connectionIds.Distinct());
        }

        // The same endpoint still serves HTTP/1.1 to a client that only offers http/1.1.
        using (HttpClient client = CreateTlsClient(server, HttpVersion.Version11))
        {
            using HttpResponseMessage response = await client.GetAsync("/info/7").WaitAsync(Timeout);
            Assert.Equal(HttpVersion.Version11, response.Version);
            Assert.StartsWith("7|HTTP/1.1|True|", await response.Content.ReadAsStringAsync());
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task LargeBodiesOverTlsAreIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, HttpsOptions());

        // 16 MiB each way over HTTP/1.1, 8 MiB each way over HTTP/2.
        foreach ((Version version, int length) in new[] { (HttpVersion.Version11, 16 * 1024 * 1024), (HttpVersion.Version20, 8 * 1024 * 1024) })
        {
            using HttpClient client = CreateTlsClient(server, version);

            using (var content = new DeterministicContent(21, length, writeSize: 64 * 1024, knownLength: true))
            using (HttpResponseMessage response = await client.PostAsync("/hash", content).WaitAsync(Timeout))
            {
                Assert.Equal(version, response.Version);
                Assert.Equal($"{DeterministicData.Sha256Hex(21, length)} {length}", await response.Content.ReadAsStringAsync());
            }

            using (HttpResponseMessage response = await client.GetAsync($"/download/22/{length}", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout))
            {
                Assert.Equal(version, response.Version);
                await HashHelpers.AssertDeterministicBodyAsync(response, seed: 22, length, Timeout);
            }
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
