package canary

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Registration describes the plugin to the registry. The priority is
// Kong 3.x's (20; it was 13 before 3.0).
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      "canary",
		Priority:  20,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

type instance struct {
	// target is where a canary request goes (nil: only the path
	// changes, to path).
	target *plugin.Target
	path   string
	hash   string
	header plugin.HeaderName
	// override is canary_by_header_name (hasOverride false: none).
	override    plugin.HeaderName
	hasOverride bool
	groups      []string
	steps       uint64
	// fixed is a percentage's share: threshold of steps buckets go to the
	// canary. Otherwise the share ramps over [start, start+duration].
	fixed     bool
	threshold uint64
	start     float64
	duration  float64
	// n and stride spread hash none evenly: request n falls in bucket
	// n*stride mod steps, stride coprime with steps, so every run of
	// steps requests visits each bucket once without long runs on one
	// side.
	n      atomic.Uint64
	stride uint64
}

// New validates the config and builds the instance.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	in := &instance{hash: c.Hash, groups: c.Groups, steps: uint64(c.Steps), duration: c.Duration}
	if c.UpstreamURI != nil {
		in.path = *c.UpstreamURI
	}
	if c.UpstreamHost != nil || c.UpstreamPort != nil {
		in.target = &plugin.Target{Path: in.path, Fallback: c.UpstreamFallback}
		if c.UpstreamHost != nil {
			in.target.Host = *c.UpstreamHost
		}
		if c.UpstreamPort != nil {
			in.target.Port = *c.UpstreamPort
		}
	}
	if c.HashHeader != nil {
		in.header = plugin.NewHeaderName(*c.HashHeader)
	}
	if c.CanaryByHeaderName != nil {
		in.override, in.hasOverride = plugin.NewHeaderName(*c.CanaryByHeaderName), true
	}
	if c.Percentage != nil {
		in.fixed = true
		// The small epsilon keeps 29% of 100 steps at 29 buckets despite
		// 0.29*100 being 28.999... in binary.
		in.threshold = uint64(math.Floor(*c.Percentage*float64(in.steps)/100 + 1e-9))
	}
	in.start = float64(time.Now().Unix())
	if c.Start != nil {
		in.start = *c.Start
	}
	in.stride = coprimeStride(in.steps)
	return in, nil
}

// Targets declares the canary upstream to the gateway.
func (in *instance) Targets() []*plugin.Target {
	if in.target == nil {
		return nil
	}
	return []*plugin.Target{in.target}
}

// Access sends the request to the canary when its bucket is on the
// canary's side.
func (in *instance) Access(c *plugin.Ctx) error {
	if !in.canary(c) {
		return nil
	}
	if in.target != nil {
		c.Target = in.target
	} else {
		c.Path = in.path
	}
	return nil
}

func (in *instance) canary(c *plugin.Ctx) bool {
	if in.hasOverride {
		if v, ok := in.override.First(c.Req.Header); ok {
			switch v {
			case "always":
				return true
			case "never":
				return false
			}
		}
	}
	switch in.hash {
	case hashAllow:
		return in.inGroups(c)
	case hashDeny:
		return !in.inGroups(c)
	}
	th := in.share(c.StartedAt)
	switch {
	case th == 0:
		return false
	case th >= in.steps:
		return true
	}
	return in.bucket(c) < th
}

// share is how many of the steps buckets go to the canary at now.
func (in *instance) share(now time.Time) uint64 {
	if in.fixed {
		return in.threshold
	}
	t := float64(now.UnixNano()) / 1e9
	switch {
	case t < in.start:
		return 0
	case in.duration == 0 || t >= in.start+in.duration:
		return in.steps
	}
	return uint64((t - in.start) / in.duration * float64(in.steps))
}

// bucket is the request's bucket: its hash value's (header, else
// consumer, else client address, as Kong falls back), or the next in the
// even spread for hash none.
func (in *instance) bucket(c *plugin.Ctx) uint64 {
	if in.hash == hashNone {
		n := (in.n.Add(1) - 1) % in.steps
		return n * in.stride % in.steps
	}
	if in.hash == hashHeader {
		if v, ok := in.header.First(c.Req.Header); ok && v != "" {
			return hashString(v) % in.steps
		}
	}
	if in.hash != hashIP && c.Consumer != nil {
		return hashString(c.Consumer.ID) % in.steps
	}
	return hashString(c.ForwardedIP) % in.steps
}

func (in *instance) inGroups(c *plugin.Ctx) bool {
	if c.Consumer == nil || c.Directory == nil {
		return false
	}
	for _, g := range c.Directory.Groups(c.Consumer.ID) {
		for _, want := range in.groups {
			if g == want {
				return true
			}
		}
	}
	return false
}

// hashString is FNV-1a with a 64-bit finaliser: FNV alone leaves values
// that differ in their last byte (addresses of one subnet, numbered ids)
// close together modulo a small number of buckets.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// coprimeStride is a stride near 0.618 of steps sharing no factor with
// it, so n*stride mod steps is a permutation of the buckets.
func coprimeStride(steps uint64) uint64 {
	s := max(uint64(float64(steps)*0.618), 1)
	for gcd(s, steps) != 1 {
		s++
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
