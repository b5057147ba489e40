using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>Captures every log record of a test server so tests can assert on events and levels.</summary>
public sealed class LogRecorder : ILoggerProvider
{
    private readonly ConcurrentQueue<LogRecord> _records = new();

    public IReadOnlyCollection<LogRecord> Records => _records.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogRecorder owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner._records.Enqueue(new LogRecord(category, logLevel, eventId, formatter(state, exception), exception));
    }
}

public sealed record LogRecord(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);
