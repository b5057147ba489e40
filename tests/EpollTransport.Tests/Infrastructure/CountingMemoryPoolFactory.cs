using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// A pinned 4 KiB block pool (like Kestrel's) that counts blocks rented and not yet returned, so tests
/// can prove every block comes back.
/// </summary>
public sealed class CountingMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    private long _outstanding;
    private long _rented;
    private int _poolsCreated;
    private int _poolsDisposed;
    private TaskCompletionSource _allReturned = NewSignal();

    public long Outstanding => Interlocked.Read(ref _outstanding);

    public long TotalRented => Interlocked.Read(ref _rented);

    /// <summary>Pools created and disposed so far (each epoll loop creates one and disposes it when it stops).</summary>
    public int PoolsCreated => Volatile.Read(ref _poolsCreated);

    public int PoolsDisposed => Volatile.Read(ref _poolsDisposed);

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        Interlocked.Increment(ref _poolsCreated);
        return new CountingPool(this);
    }

    /// <summary>Completes once no block is outstanding (late returns after shutdown are allowed).</summary>
    public async Task WhenAllReturnedAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task signal = Volatile.Read(ref _allReturned).Task;
            if (Outstanding == 0)
            {
                return;
            }
            try
            {
                await signal.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Outstanding} memory pool block(s) were not returned within {timeout}.");
            }
        }
    }

    private void OnRent()
    {
        Interlocked.Increment(ref _rented);
        Interlocked.Increment(ref _outstanding);
    }

    private void OnReturn()
    {
        if (Interlocked.Decrement(ref _outstanding) == 0)
        {
            Interlocked.Exchange(ref _allReturned, NewSignal()).TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The size of every block the pools rent.</summary>
    public const int BlockSize = 4096;

    private sealed class CountingPool(CountingMemoryPoolFactory owner) : MemoryPool<byte>
    {

        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            if (minBufferSize > BlockSize)
            {
                throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"Blocks are {BlockSize} bytes.");
            }
            owner.OnRent();
            return new Block(owner);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Increment(ref owner._poolsDisposed);
            }
        }

        private int _disposed;
    }

    private sealed class Block(CountingMemoryPoolFactory owner) : IMemoryOwner<byte>
    {
        private byte[]? _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is not null)
            {
                owner.OnReturn();
            }
        }
    }
}
