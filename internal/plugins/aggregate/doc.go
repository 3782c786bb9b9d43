// Package aggregate is Turnpike's aggregate plugin (issue 20): a route
// answers from several backend calls, run in parallel along a small
// dependency graph, whose JSON answers are merged into one.
//
// The config is checked and compiled once, at load: templates become
// segments (template.go), `after` lists a graph checked for cycles
// (config.go), allow/deny dot paths become trees (merge.go). A request
// renders, runs and merges (run.go); response bodies are read bounded and
// scanned by a validating JSON scanner of our own (jsonscan.go), so
// merging copies raw bytes instead of decoding into maps.
package aggregate
