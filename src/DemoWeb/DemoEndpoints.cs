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
    private readonly List<(string Role, string Scheme, ListenOptions Options)> _endpoints = new();

    public void Configure(KestrelServerOptions kestrel, DemoSettings settings, X509Certificate2? certificate)
    {
        string host = "localhost";
        foreach (string url in settings.Urls)
        {
            var uri = new Uri(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal));
            bool https = uri.Scheme == Uri.UriSchemeHttps;
            if (https && certificate is null)
            {
                throw new ArgumentException($"The URL {url} is HTTPS; pass --https to enable TLS.");
            }
            host = uri.Host;
            Listen(kestrel, "http", uri.Scheme, uri.Host, uri.Port, options =>
            {
                options.Protocols = HttpProtocols.Http1AndHttp2;
                if (https)
                {
                    options.UseHttps(certificate!);
                }
            });
        }

        if (settings.EchoPort >= 0)
        {
            Listen(kestrel, "echo", "tcp", host, settings.EchoPort, options => options.UseConnectionHandler<EchoConnectionHandler>());
        }
        if (settings.H2cPort >= 0)
        {
            Listen(kestrel, "h2c", "http", host, settings.H2cPort, options => options.Protocols = HttpProtocols.Http2);
        }
        if (certificate is not null && settings.HttpsPort >= 0)
        {
            Listen(kestrel, "https", "https", host, settings.HttpsPort, options =>
            {
                options.Protocols = HttpProtocols.Http1AndHttp2;
                options.UseHttps(certificate);
            });
        }
    }

    /// <summary>Role, and the address as bound (valid once the server has started).</summary>
    public IEnumerable<(string Role, string Address)> Describe()
        => _endpoints.Select(e => (e.Role, $"{e.Scheme}://{Format(e.Options)}"));

    private void Listen(KestrelServerOptions kestrel, string role, string scheme, string host, int port, Action<ListenOptions> configure)
    {
        Action<ListenOptions> record = options =>
        {
            configure(options);
            _endpoints.Add((role, scheme, options));
        };
        if (host == "localhost")
        {
            kestrel.ListenLocalhost(port, record);
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

    private static string Format(ListenOptions options) => options.EndPoint switch
    {
        IPEndPoint { Address: var address } ip when address.Equals(IPAddress.Loopback) && options.GetType().Name.Contains("Localhost", StringComparison.Ordinal)
            => $"localhost:{ip.Port}",
        IPEndPoint ip => ip.ToString(),
        var other => other.ToString() ?? "?",
    };
}
