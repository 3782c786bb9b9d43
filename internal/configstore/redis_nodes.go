package configstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/turnpikegw/turnpike/internal/config"
)

// Node is one gateway's record in the cluster's list of nodes: what it
// runs and how it fares. Each node writes its own, with a time to live,
// so a node that stops writing drops out of the list.
type Node struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// Binary is the node's Turnpike version.
	Binary string `json:"version"`
	// ConfigVersion and ConfigHash are the stored version in force on the
	// node (0 while it serves a cached or seed config the store did not
	// number) and the hash of its document.
	ConfigVersion uint64 `json:"config_version"`
	ConfigHash    string `json:"config_hash,omitempty"`
	// FailedVersion is the last stored version the node could not apply
	// (while it is still the latest), and FailedError why.
	FailedVersion uint64 `json:"failed_version,omitempty"`
	FailedError   string `json:"failed_error,omitempty"`
	// Health is HealthOK, HealthFailed, HealthCached or HealthWaiting.
	Health   string    `json:"health"`
	LastSeen time.Time `json:"last_seen"`
}

// The node healths.
const (
	// HealthOK: the node runs the latest stored version.
	HealthOK = "ok"
	// HealthFailed: the latest stored version does not apply on the node;
	// it serves the one before.
	HealthFailed = "config_failed"
	// HealthCached: the node could not reach the store and serves the
	// config it cached on disk.
	HealthCached = "cached"
	// HealthWaiting: the node has no configuration yet (Redis down at its
	// start, and nothing cached); it is not ready.
	HealthWaiting = "waiting"
)

const (
	// maxNodes bounds the list read back.
	maxNodes = 1000
	// maxNodeError bounds a record's error text.
	maxNodeError = 1024
	// maxNodeRecord bounds a record read back: a larger one (written by
	// hand, or by anyone with write access to Redis) is skipped in Redis,
	// never read into memory by every status request.
	maxNodeRecord = 4 << 10
)

// nodesScript reads the records KEYS name, each as nil when it is gone,
// not a string, or larger than ARGV[1] bytes.
var nodesScript = redis.NewScript(`
local max = tonumber(ARGV[1])
local out = {}
for i, k in ipairs(KEYS) do
  local n = redis.pcall('STRLEN', k)
  if type(n) == 'number' and n > 0 and n <= max then
    out[i] = redis.call('GET', k)
  else
    out[i] = false
  end
end
return out
`)

// Heartbeat writes n as this node's record, living ttl, and reads the
// stored version (0: none) in the same round trip.
func (r *Redis) Heartbeat(ctx context.Context, n Node, ttl time.Duration) (uint64, error) {
	n.FailedError = config.Shorten(n.FailedError, maxNodeError)
	body, err := json.Marshal(n)
	// JSON escapes can make the error text six times longer: shorten it
	// until the record fits the bound its readers keep (on a character
	// boundary, which a byte cut is not).
	for err == nil && len(body) > maxNodeRecord && n.FailedError != "" {
		if len(n.FailedError) <= 8 {
			n.FailedError = "" // Shorten always leaves its ellipsis
		} else {
			n.FailedError = config.Shorten(n.FailedError, len(n.FailedError)/2)
		}
		body, err = json.Marshal(n)
	}
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	now := n.LastSeen.UnixMilli()
	// One slot (one hash tag): the transaction works on a Redis Cluster.
	p := r.c.TxPipeline()
	p.Set(ctx, r.keys.nodePrefix+n.ID, body, ttl)
	p.ZAdd(ctx, r.keys.nodes, redis.Z{Score: float64(now), Member: n.ID})
	p.ZRemRangeByScore(ctx, r.keys.nodes, "-inf", strconv.FormatInt(now-ttl.Milliseconds(), 10))
	version := p.Get(ctx, r.keys.version)
	// Exec answers the first failed command's error: redis.Nil, the last
	// command's, means the others went through and no version is stored.
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, unavailable(err)
	}
	if version.Err() != nil {
		return 0, nil
	}
	return parseVersion(version.Val())
}

// Nodes lists the live nodes' records, the most recently seen first.
func (r *Redis) Nodes(ctx context.Context) ([]Node, error) {
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	ids, err := r.c.ZRevRange(ctx, r.keys.nodes, 0, maxNodes-1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.keys.nodePrefix + id
	}
	vals, err := nodesScript.Run(ctx, r.c, keys, maxNodeRecord).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]Node, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired since the list was read, or too large
		}
		var n Node
		if json.Unmarshal([]byte(s), &n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}
