package kube

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/turnpikegw/turnpike/internal/config"
)

// leaveOut is the reconcile of units whose config does not apply: it
// finds the units to leave out and applies the others. failed (already
// logged) is set when no unit can be blamed (the shared objects are
// broken, a check ran out of time): nothing changes until a retry.
// misfits are the units left out because they do not fit with the
// others, though each passes alone.
func (c *Controller) leaveOut(ctx context.Context, objs *objects, units []*unit, eps *endpoints, sums *sums) (res built, kept []*unit, invalid map[*unit]error, misfits map[*unit]bool, failed error) {
	// The supporting objects alone (global KongClusterPlugins, Services,
	// Secrets): when they fail, no unit is to blame.
	base := build(objs, nil, eps, c.opts)
	err := base.err
	if err == nil {
		err = c.apply.Validate(ctx, base.data)
	}
	if err != nil {
		c.log.Error("kubernetes: the cluster's shared objects (global KongClusterPlugins, Secrets) make a config that does not validate; the one in force stays", "error", err)
		return base, nil, nil, nil, err
	}
	// Units in the config last applied, unchanged, are taken as fitting
	// first: one invalid Ingress edited again checks itself alone, not
	// every unit. When the result does not apply, the rest are checked.
	var known, fresh []*unit
	for _, u := range units {
		if d, ok := c.good[u.id()]; ok && d == sums.doc[u] {
			known = append(known, u)
		} else {
			fresh = append(fresh, u)
		}
	}
	invalid = map[*unit]error{}
	misfits = map[*unit]bool{}
	try := func(check []*unit) bool {
		if err = c.isolate(ctx, objs, check, eps, invalid); err != nil {
			return false
		}
		kept = kept[:0]
		for _, u := range units {
			if invalid[u] == nil {
				kept = append(kept, u)
			}
		}
		res = build(objs, kept, eps, c.opts)
		if res.err == nil {
			res.err = c.applyOnce(res.data)
		}
		return res.err == nil
	}
	// Only a refusal of the set goes on: a load that timed out says
	// nothing of the units.
	more := func() bool { return err == nil && isVerdict(res.err) }
	if !try(fresh) && more() && len(known) > 0 {
		try(known)
	}
	if res.err != nil && more() {
		// Every unit passes alone, not all together (the whole is over
		// the loader's size limit): the units are added one at a time,
		// oldest first. O(n) validations, in this rare case only.
		if err = c.grow(ctx, objs, units, eps, invalid, misfits); err == nil {
			try(nil)
		}
	}
	if err != nil {
		// Leaving out a unit for want of time or memory would drop
		// routes that are fine: nothing changes until a retry.
		c.log.Error("kubernetes: checking the objects one by one failed; the config in force stays", "error", err)
		return res, nil, nil, nil, err
	}
	if res.err != nil {
		c.log.Error("kubernetes: the config built from the cluster does not apply; the one in force stays", "error", res.err)
	}
	return res, kept, invalid, misfits, nil
}

// isolate checks each of units alone (built with every supporting
// object), adding those whose part of the config does not validate to
// invalid. A verdict holds while the unit and the shared objects stay the
// same when it is an importer's error or a validation error
// (config.Errors); any other (a check that ran out of time or memory,
// the gateway stopping) says nothing of the unit and is err.
func (c *Controller) isolate(ctx context.Context, objs *objects, units []*unit, eps *endpoints, invalid map[*unit]error) error {
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return err
		}
		one := build(objs, []*unit{u}, eps, c.opts)
		bad := one.err
		if bad == nil {
			if bad = c.check(ctx, one.data, u); bad == nil {
				continue
			}
			if !isVerdict(bad) {
				return bad
			}
		}
		c.log.Warn("kubernetes: left out, its part of the config does not validate", "object", u.id(), "error", bad)
		invalid[u] = bad
	}
	return nil
}

// grow adds the units that pass alone one at a time, oldest first,
// validating the growing set; a unit whose addition fails is left out.
func (c *Controller) grow(ctx context.Context, objs *objects, units []*unit, eps *endpoints, invalid map[*unit]error, misfits map[*unit]bool) error {
	var set []*unit
	for _, u := range units {
		if invalid[u] != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		next := append(set, u)
		if len(set) == 0 {
			set = next // it passed alone
			continue
		}
		b := build(objs, next, eps, c.opts)
		bad := b.err
		if bad == nil {
			bad = c.check(ctx, b.data, u)
		}
		if bad == nil {
			set = next
			continue
		}
		if b.err == nil && !isVerdict(bad) {
			return bad
		}
		bad = fmt.Errorf("does not fit with the others: %w", bad)
		c.log.Warn("kubernetes: left out", "object", u.id(), "error", bad)
		invalid[u], misfits[u] = bad, true
	}
	return nil
}

// check validates data built for u; an error that is not a verdict is
// named after the check, not the unit ("Kind ns/name: ..." would make the
// reporter blame it).
func (c *Controller) check(ctx context.Context, data []byte, u *unit) error {
	err := c.apply.Validate(ctx, data)
	if err != nil && !isVerdict(err) {
		return fmt.Errorf("checking %s: %w", u.id(), err)
	}
	return err
}

// isVerdict tells a validation's refusal from a check that could not
// run.
func isVerdict(err error) bool {
	var errs config.Errors
	return errors.As(err, &errs)
}

// verdict is why a unit was left out, and what it was built from.
type verdict struct {
	sum [sha256.Size]byte
	// whole: the unit did not fit with the others, a verdict that holds
	// only while every unit stays the same (all).
	whole bool
	all   [sha256.Size]byte
	err   error
}

func (v verdict) holds(s *sums, u *unit) bool {
	return v.sum == s.unit[u] && (!v.whole || v.all == s.all)
}

// sums identify each unit's document (doc), the same over the shared
// objects it is built with (unit), and every unit with the shared
// objects (all).
type sums struct {
	doc, unit map[*unit][sha256.Size]byte
	all       [sha256.Size]byte
}

func unitSums(objs *objects) *sums {
	h := sha256.New()
	for _, d := range objs.ingressSupport {
		h.Write(d.Data)
	}
	for _, d := range objs.istioSupport {
		h.Write(d.Data)
	}
	shared := h.Sum(nil)
	s := &sums{doc: make(map[*unit][sha256.Size]byte, len(objs.units)), unit: make(map[*unit][sha256.Size]byte, len(objs.units))}
	whole := sha256.New()
	whole.Write(shared)
	for _, u := range objs.units {
		d := sha256.Sum256(u.doc.Data)
		s.doc[u] = d
		whole.Write(d[:])
		h.Reset()
		h.Write(shared)
		h.Write(d[:])
		var sum [sha256.Size]byte
		copy(sum[:], h.Sum(nil))
		s.unit[u] = sum
	}
	copy(s.all[:], whole.Sum(nil))
	return s
}
