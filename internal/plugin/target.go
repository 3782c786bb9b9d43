package plugin

// Target is an upstream other than the route's service that an access
// plugin may send a request to (Kong's kong.service.set_target and
// set_upstream, as the canary plugin uses them). The gateway compiles a
// balancer for each Target an instance declares (Retargeter), on every
// route the instance may run on, with the route's service's protocol,
// timeouts, retries and TLS settings; a plugin picks one for a request by
// setting Ctx.Target to the declared pointer.
type Target struct {
	// Host is the name of an `upstreams` entity (its targets, balancer
	// and health checks apply) or a host name or IP to send to; "" is the
	// service's host.
	Host string
	// Port is the port for a host (0: the service's port). It is ignored
	// for an upstreams entity, whose targets name their ports.
	Port int
	// Path, when set, replaces the upstream path (Ctx.Path) if the
	// request goes to the target, and only then.
	Path string
	// Fallback keeps the request on the service when the target has no
	// healthy target to offer (its upstream is below its health threshold
	// or every target is unhealthy).
	Fallback bool
}

// Retargeter is implemented by instances that may set Ctx.Target. The
// pointers it returns are the only values Ctx.Target may take; the
// gateway asks once per compile, not per request.
type Retargeter interface {
	Targets() []*Target
}
