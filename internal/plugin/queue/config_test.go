package queue

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestConfigValidate(t *testing.T) {
	neg, under, oneEntry := 0, 1000, BufferSize
	tests := []struct {
		name string
		edit func(*Config)
		want plugin.Errors
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "batch size zero", edit: func(c *Config) { c.MaxBatchSize = 0 },
			want: plugin.Errors{{Path: "queue.max_batch_size", Message: "value should be between 1 and 1000000"}}},
		{name: "coalescing too long", edit: func(c *Config) { c.MaxCoalescingDelay = 3601 },
			want: plugin.Errors{{Path: "queue.max_coalescing_delay", Message: "value should be between 0 and 3600"}}},
		{name: "entries too many", edit: func(c *Config) { c.MaxEntries = 1000001 },
			want: plugin.Errors{{Path: "queue.max_entries", Message: "value should be between 1 and 1000000"}}},
		{name: "bytes zero", edit: func(c *Config) { c.MaxBytes = &neg },
			want: plugin.Errors{{Path: "queue.max_bytes", Message: "value must be at least 2048 (the memory one entry holds)"}}},
		// An entry counts its buffer (BufferSize): 1000 would drop all.
		{name: "bytes under one entry", edit: func(c *Config) { c.MaxBytes = &under },
			want: plugin.Errors{{Path: "queue.max_bytes", Message: "value must be at least 2048 (the memory one entry holds)"}}},
		{name: "bytes one entry", edit: func(c *Config) { c.MaxBytes = &oneEntry }},
		{name: "retry delays", edit: func(c *Config) { c.InitialRetryDelay = 0; c.MaxRetryDelay = 0.0001 },
			want: plugin.Errors{
				{Path: "queue.initial_retry_delay", Message: "value should be between 0.001 and 1000000"},
				{Path: "queue.max_retry_delay", Message: "value should be between 0.001 and 1000000"},
			}},
		{name: "concurrency", edit: func(c *Config) { c.ConcurrencyLimit = 2 },
			want: plugin.Errors{{Path: "queue.concurrency_limit", Message: "expected one of: -1, 1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.SetDefaults()
			tt.edit(&c)
			if diff := cmp.Diff(tt.want, c.Validate("queue.")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigKeyTellsSettingsApart(t *testing.T) {
	var a, b Config
	a.SetDefaults()
	b.SetDefaults()
	if a.Key() != b.Key() {
		t.Fatal("equal settings, different keys")
	}
	b.MaxRetryTime = 5
	if a.Key() == b.Key() {
		t.Error("different retry times, one key")
	}
}
