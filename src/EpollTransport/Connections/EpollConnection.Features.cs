using System.Collections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace EpollTransport.Connections;

/// <summary>
/// The connection is its own feature collection, as Kestrel's transports are. Kestrel's per-request
/// collection forwards every lookup it cannot answer itself to this one (WebSocketMiddleware makes
/// such a lookup on every request), so a miss must be cheap: the transport's features are found by
/// comparing the type against a short static list, and everything read lives on this object, which
/// the request is already using. A separate dictionary-backed collection cost a cold cache line and a
/// hash probe per request.
/// </summary>
internal sealed partial class EpollConnection : IFeatureCollection
{
    private static readonly Type[] s_transportFeatureTypes =
    [
        typeof(IConnectionIdFeature),
        typeof(IConnectionTransportFeature),
        typeof(IConnectionItemsFeature),
        typeof(IMemoryPoolFeature),
        typeof(IConnectionLifetimeFeature),
        typeof(IConnectionEndPointFeature),
    ];

    // Created only when a transport feature is replaced or removed; until then each slot is this object.
    private object?[]? _transportFeatureOverrides;
    private Dictionary<Type, object>? _addedFeatures;
    private int _featureRevision;

    public override IFeatureCollection Features => this;

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _featureRevision;

    object? IFeatureCollection.this[Type key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            int slot = TransportFeatureSlot(key);
            if (slot >= 0)
            {
                return TransportFeature(slot);
            }
            return _addedFeatures is { } added && added.TryGetValue(key, out object? feature) ? feature : null;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            int slot = TransportFeatureSlot(key);
            if (slot >= 0)
            {
                if (_transportFeatureOverrides is null)
                {
                    _transportFeatureOverrides = new object?[s_transportFeatureTypes.Length];
                    Array.Fill(_transportFeatureOverrides, this);
                }
                _transportFeatureOverrides[slot] = value;
            }
            else if (value is null)
            {
                _addedFeatures?.Remove(key);
            }
            else
            {
                (_addedFeatures ??= new Dictionary<Type, object>())[key] = value;
            }
            _featureRevision++;
        }
    }

    TFeature? IFeatureCollection.Get<TFeature>() where TFeature : default
        => (TFeature?)((IFeatureCollection)this)[typeof(TFeature)];

    void IFeatureCollection.Set<TFeature>(TFeature? instance) where TFeature : default
        => ((IFeatureCollection)this)[typeof(TFeature)] = instance;

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator()
    {
        for (int slot = 0; slot < s_transportFeatureTypes.Length; slot++)
        {
            if (TransportFeature(slot) is { } feature)
            {
                yield return new KeyValuePair<Type, object>(s_transportFeatureTypes[slot], feature);
            }
        }
        if (_addedFeatures is { } added)
        {
            foreach (KeyValuePair<Type, object> pair in added)
            {
                yield return pair;
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<Type, object>>)this).GetEnumerator();

    private object? TransportFeature(int slot) => _transportFeatureOverrides is { } overrides ? overrides[slot] : this;

    private static int TransportFeatureSlot(Type key)
    {
        // Runtime types are unique objects, so reference comparison is exact (and skips Type.Equals).
        Type[] types = s_transportFeatureTypes;
        for (int i = 0; i < types.Length; i++)
        {
            if (ReferenceEquals(types[i], key))
            {
                return i;
            }
        }
        return -1;
    }
}
