using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DemoWeb;

/// <summary>
/// Turns the settings into Kestrel endpoints and remembers which is which, so the banner can print the
/// ports actually bound (port 0 asks the kernel for one). The echo, h2c and HTTPS endpoints use the host
/// of the first URL, so `--urls http://127.0.0.1:0` moves them all to loopback.
/// </summary>
public sealed class DemoEndpoints
{
    private readonly List<(string Role, string Scheme, bool Localhost, ListenOptions Options)> _endpoints = new();

    public void Configure(KestrelServerOptions kestrel, DemoSettings settings, X509Certificate2? certificate)
    {
        string? firstHost = null;
        if (settings.ListenFd is int fd)
        {
            // The inherited socket replaces the URLs' HTTP endpoints; the other ports keep their host.
            kestrel.ListenHandle((ulong)fd, options =>
            {
                // Plaintext, so HTTP/1.1: asking for HTTP/2 too only makes Kestrel warn that it cannot.
                options.Protocols = HttpProtocols.Http1;
                _endpoints.Add(("http", "http", false, options));
            });
        }
        foreach (string url in settings.Urls)
        {
            // Kestrel's wildcards ("*", "+") are not valid URI hosts; they mean every interface.
            var uri = new Uri(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal));
            if (settings.ListenFd is not null)
            {
                // The inherited socket is the HTTP endpoint; the URL only gives the other ports their host.
                firstHost ??= uri.Host;
                continue;
            }
            bool https = uri.Scheme == Uri.UriSchemeHttps;
            if (https && certificate is null)
            {
                throw new ArgumentException($"The URL {url} is HTTPS; pass --https to enable TLS.");
            }
            firstHost ??= uri.Host;
            Listen(kestrel, "http", uri.Scheme, uri.Host, uri.Port, options =>
            {
                // What the endpoint can serve: HTTP/2 needs TLS (ALPN) here, since a cleartext endpoint
                // cannot offer both (h2c has its own port). Asking a plaintext endpoint for both would
                // give HTTP/1.1 anyway, after a warning on every start.
                options.Protocols = https ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
                if (https)
                {
                    options.UseHttps(certificate!);
                }
            });
        }

        string host = firstHost ?? "localhost";
        if (settings.EchoPort >= 0)
        {
            Listen(kestrel, "echo", "tcp", host, settings.EchoPort, options => options.UseConnectionHandler<EchoConnectionHandler>());
        }
        if (settings.H2cPort >= 0)
        {
            // Http2 alone: a cleartext HTTP/2 endpoint can only be reached with prior knowledge.
            Listen(kestrel, "h2c", "http", host, settings.H2cPort, options => options.Protocols = HttpProtocols.Http2);
        }
        if (certificate is not null && settings.HttpsPort >= 0)
        {
            // Both protocols, so ALPN picks HTTP/2 for clients that offer it and HTTP/1.1 for the rest.
            Listen(kestrel, "https", "https", host, settings.HttpsPort, options =>
            {
                options.Protocols = HttpProtocols.Http1AndHttp2;
                options.UseHttps(certificate);
            });
        }
    }

    /// <summary>Role, and the address as bound (valid once the server has started).</summary>
    public IEnumerable<(string Role, string Address)> Describe()
        => _endpoints.Select(e => (e.Role, e.Options.EndPoint is FileHandleEndPoint handle
            ? $"{e.Scheme} on the inherited socket fd {handle.FileHandle}"
            : $"{e.Scheme}://{Format(e.Localhost, e.Options)}"));

    private void Listen(KestrelServerOptions kestrel, string role, string scheme, string host, int port, Action<ListenOptions> configure)
    {
        bool localhost = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase);
        Action<ListenOptions> record = options =>
        {
            configure(options);
            _endpoints.Add((role, scheme, localhost && port != 0, options));
        };
        if (localhost && port != 0)
        {
            kestrel.ListenLocalhost(port, record);
        }
        else if (localhost)
        {
            // Kestrel cannot give "localhost" (IPv4 and IPv6) one dynamic port; IPv4 loopback keeps it local.
            kestrel.Listen(IPAddress.Loopback, port, record);
        }
        else if (IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? address))
        {
            if (address.Equals(IPAddress.Any))
            {
                kestrel.ListenAnyIP(port, record);
            }
            else
            {
                kestrel.Listen(address, port, record);
            }
        }
        else
        {
            // Any other host name means "all interfaces", as with Kestrel's own URL binding.
            kestrel.ListenAnyIP(port, record);
        }
    }

    private static string Format(bool localhost, ListenOptions options) => options.EndPoint switch
    {
        IPEndPoint ip when localhost => $"localhost:{ip.Port}",
        IPEndPoint ip => ip.ToString(),
        var other => other.ToString() ?? "?",
    };
}
