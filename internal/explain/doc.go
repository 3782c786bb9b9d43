// Package explain answers "which route, and why" for one request against a
// compiled snapshot: the winning route and the path that matched, every
// other route that matched with the priority rule that ranked it lower, the
// plugins that would run in order with their scope, and the upstream URL
// after strip_path and path joining (router.UpstreamPath, so it agrees with
// the proxy). Near misses come from the router's own per-criterion checks
// (router.Check) and the https and gRPC answers from the route's own
// protocol decision (snapshot.Route.CheckProtocol), for the same reason. It
// backs `turnpike explain` and the admin API's GET /explain, and is never
// on the proxy's request path.
package explain
