package upstream

// HealthCheck is an upstream's health checks as the snapshot compiles them
// from Kong's healthchecks block; times are in seconds, as Kong gives them.
// The leaf types have the fields of config's, in the same order, so the
// compiler converts them as they are.
type HealthCheck struct {
	Threshold float64
	Active    ActiveHealthCheck
	Passive   PassiveHealthCheck
}

// ActiveHealthCheck configures probes.
type ActiveHealthCheck struct {
	Type                   string
	Timeout                float64
	Concurrency            int
	HTTPPath               string
	HTTPSSNI               string
	HTTPSVerifyCertificate bool
	Headers                map[string][]string
	Healthy                ActiveHealthy
	Unhealthy              ActiveUnhealthy
}

// ActiveHealthy is the healthy side of active checks.
type ActiveHealthy struct {
	Interval     float64
	HTTPStatuses []int
	Successes    int
}

// ActiveUnhealthy is the unhealthy side of active checks.
type ActiveUnhealthy struct {
	Interval     float64
	HTTPStatuses []int
	TCPFailures  int
	Timeouts     int
	HTTPFailures int
}

// PassiveHealthCheck counts the outcomes of real traffic.
type PassiveHealthCheck struct {
	Type      string
	Healthy   PassiveHealthy
	Unhealthy PassiveUnhealthy
}

// PassiveHealthy is the healthy side of passive checks.
type PassiveHealthy struct {
	HTTPStatuses []int
	Successes    int
}

// PassiveUnhealthy is the unhealthy side of passive checks.
type PassiveUnhealthy struct {
	HTTPStatuses []int
	TCPFailures  int
	Timeouts     int
	HTTPFailures int
}

// Enabled reports whether the checks do anything, with Kong's rule: an
// active interval or a passive unhealthy counter set. Otherwise the
// upstream's targets are reported as HEALTHCHECKS_OFF.
func (h *HealthCheck) Enabled() bool {
	a, p := &h.Active, &h.Passive.Unhealthy
	return a.Healthy.Interval > 0 || a.Unhealthy.Interval > 0 ||
		p.TCPFailures > 0 || p.Timeouts > 0 || p.HTTPFailures > 0
}
