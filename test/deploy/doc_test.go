// Package deploy tests the files under deploy/: the Dockerfile, the plain
// Kubernetes manifests and the Helm chart, against the binary they run.
// The chart is rendered with Helm's own Go library and every object is
// decoded strictly with the Kubernetes API types, so a misspelt or
// misplaced field fails here rather than at `kubectl apply`.
package deploy
