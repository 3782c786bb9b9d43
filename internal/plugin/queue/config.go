package queue

import (
	"math"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is Kong's queue record (kong/tools/queue_schema.lua), the
// `queue` field of http-log (and of Kong's other batching plugins).
type Config struct {
	MaxBatchSize int `yaml:"max_batch_size"`
	// MaxCoalescingDelay is how long (seconds) a batch waits for more
	// entries after its first.
	MaxCoalescingDelay float64 `yaml:"max_coalescing_delay"`
	MaxEntries         int     `yaml:"max_entries"`
	// MaxBytes bounds the bytes waiting (nil: DefaultMaxBytes; Kong's
	// default is no bound).
	MaxBytes *int `yaml:"max_bytes"`
	// MaxRetryTime is how long (seconds) a failing batch is retried
	// before it is dropped; 0 or less: not retried.
	MaxRetryTime      float64 `yaml:"max_retry_time"`
	InitialRetryDelay float64 `yaml:"initial_retry_delay"`
	MaxRetryDelay     float64 `yaml:"max_retry_delay"`
	// ConcurrencyLimit is 1 or -1 (Kong: unlimited senders); both send
	// with one goroutine here, which keeps entries in order.
	ConcurrencyLimit int `yaml:"concurrency_limit"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.MaxBatchSize = 1
	c.MaxCoalescingDelay = 1
	c.MaxEntries = DefaultMaxEntries
	c.MaxRetryTime = 60
	c.InitialRetryDelay = 0.01
	c.MaxRetryDelay = 60
	c.ConcurrencyLimit = 1
}

// Validate checks c as Kong's schema does; paths are prefix + the
// field's name ("queue.max_batch_size").
func (c *Config) Validate(prefix string) plugin.Errors {
	var errs plugin.Errors
	add := func(field, msg string) { errs = append(errs, plugin.Problem{Path: prefix + field, Message: msg}) }
	between := func(field string, v, lo, hi float64) {
		if math.IsNaN(v) || v < lo || v > hi {
			add(field, "value should be between "+num(lo)+" and "+num(hi))
		}
	}
	between("max_batch_size", float64(c.MaxBatchSize), 1, 1e6)
	between("max_coalescing_delay", c.MaxCoalescingDelay, 0, 3600)
	between("max_entries", float64(c.MaxEntries), 1, 1e6)
	// Kong asks only for a positive number, but here an entry counts its
	// buffer's capacity: a smaller bound would drop every entry.
	if c.MaxBytes != nil && *c.MaxBytes < BufferSize {
		add("max_bytes", "value must be at least "+strconv.Itoa(BufferSize)+" (the memory one entry holds)")
	}
	if math.IsNaN(c.MaxRetryTime) || math.IsInf(c.MaxRetryTime, 0) {
		add("max_retry_time", "expected a number")
	}
	between("initial_retry_delay", c.InitialRetryDelay, 0.001, 1e6)
	between("max_retry_delay", c.MaxRetryDelay, 0.001, 1e6)
	if c.ConcurrencyLimit != 1 && c.ConcurrencyLimit != -1 {
		add("concurrency_limit", "expected one of: -1, 1")
	}
	return errs
}

// Key is the text of the settings that change how a queue behaves, for
// telling queues apart.
func (c *Config) Key() string {
	b := strconv.AppendInt(nil, int64(c.MaxBatchSize), 10)
	for _, f := range []float64{c.MaxCoalescingDelay, float64(c.MaxEntries), c.MaxRetryTime, c.InitialRetryDelay, c.MaxRetryDelay} {
		b = strconv.AppendFloat(append(b, ':'), f, 'g', -1, 64)
	}
	if c.MaxBytes != nil {
		b = strconv.AppendInt(append(b, ":b"...), int64(*c.MaxBytes), 10)
	}
	return string(b)
}

// Settings turns c into a queue's settings (the caller adds the rest).
func (c *Config) Settings() Settings {
	s := Settings{
		MaxBatch:     c.MaxBatchSize,
		Delay:        seconds(c.MaxCoalescingDelay),
		MaxEntries:   c.MaxEntries,
		RetryTime:    seconds(c.MaxRetryTime),
		InitialDelay: seconds(c.InitialRetryDelay),
		MaxDelay:     seconds(c.MaxRetryDelay),
	}
	if c.MaxBytes != nil {
		s.MaxBytes = *c.MaxBytes
	}
	return s
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
