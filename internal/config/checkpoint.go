package config

import "context"

// checkEvery is how many steps a long walk takes between two looks at its
// load's context: often enough to stop within a millisecond or so, rarely
// enough to cost nothing.
const checkEvery = 256

// checkpoint lets a walk over a document (decoding, validating) stop once
// its load is abandoned (a time or memory budget, shutdown) instead of
// running to the end first.
type checkpoint struct {
	ctx   context.Context
	steps int
	done  bool
}

// stop counts a step and reports whether the walk must stop; once it has
// said so it keeps saying so. A nil ctx never stops.
func (c *checkpoint) stop() bool {
	if c.done || c.ctx == nil {
		return c.done
	}
	c.steps++
	if c.steps%checkEvery == 0 && c.ctx.Err() != nil {
		c.done = true
	}
	return c.done
}
