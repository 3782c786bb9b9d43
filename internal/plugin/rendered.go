package plugin

import "sync"

// Rendered is a rendering made on first use and kept, for what only a few
// requests need (request-termination's echo) and a compile should not pay
// for on every entity.
type Rendered struct {
	once   sync.Once
	render func() []byte
	b      []byte
}

// NewRendered returns the Rendered that render makes.
func NewRendered(render func() []byte) *Rendered { return &Rendered{render: render} }

// Bytes returns the rendering; it must not be modified.
func (r *Rendered) Bytes() []byte {
	r.once.Do(func() { r.b, r.render = r.render(), nil })
	return r.b
}
