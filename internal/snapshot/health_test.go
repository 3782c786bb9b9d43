package snapshot

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Every setting of a healthchecks block reaches the checker's options.
func TestHealthCheckOf(t *testing.T) {
	m, err := config.Parse([]byte(`_format_version: "3.0"
upstreams:
- name: up
  healthchecks:
    threshold: 25
    active:
      type: https
      timeout: 2.5
      concurrency: 3
      http_path: /status
      https_sni: probe.test
      https_verify_certificate: false
      headers: {X-Probe: [a, b]}
      healthy: {interval: 5, http_statuses: [200], successes: 2}
      unhealthy: {interval: 1.5, http_statuses: [500], tcp_failures: 4, timeouts: 5, http_failures: 6}
    passive:
      type: tcp
      healthy: {http_statuses: [201], successes: 7}
      unhealthy: {http_statuses: [502], tcp_failures: 8, timeouts: 9, http_failures: 10}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := HealthCheckOf(&m.Upstreams[0].Upstream.Healthchecks)
	want := upstream.HealthCheck{
		Threshold: 25,
		Active: upstream.ActiveHealthCheck{Type: "https", Timeout: 2.5, Concurrency: 3, HTTPPath: "/status",
			HTTPSSNI: "probe.test", Headers: map[string][]string{"X-Probe": {"a", "b"}},
			Healthy:   upstream.ActiveHealthy{Interval: 5, HTTPStatuses: []int{200}, Successes: 2},
			Unhealthy: upstream.ActiveUnhealthy{Interval: 1.5, HTTPStatuses: []int{500}, TCPFailures: 4, Timeouts: 5, HTTPFailures: 6},
		},
		Passive: upstream.PassiveHealthCheck{Type: "tcp",
			Healthy:   upstream.PassiveHealthy{HTTPStatuses: []int{201}, Successes: 7},
			Unhealthy: upstream.PassiveUnhealthy{HTTPStatuses: []int{502}, TCPFailures: 8, Timeouts: 9, HTTPFailures: 10},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !got.Enabled() {
		t.Error("checks with intervals are not enabled")
	}
}

// Every field of config's healthchecks block, at any depth, reaches a
// field of the same name in the checker's options. HealthCheckOf copies
// the fields above the leaf types by hand, so a field config gains would
// otherwise be dropped silently: here it fails, whatever its name.
func TestHealthCheckOfCarriesEveryField(t *testing.T) {
	var h config.Healthchecks
	n := 0
	fillFields(t, reflect.ValueOf(&h).Elem(), &n)
	got := HealthCheckOf(&h)
	sameFields(t, "healthchecks", reflect.ValueOf(h), reflect.ValueOf(got))
}

// fillFields gives every field of v, at any depth, a value of its own
// that is not the zero value.
func fillFields(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillFields(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString("v" + strconv.Itoa(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(int64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillFields(t, s.Index(0), n)
		v.Set(s)
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillFields(t, k, n)
		fillFields(t, e, n)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	default:
		t.Fatalf("a healthchecks field of kind %s: teach fillFields to fill it", v.Kind())
	}
}

// sameFields reports every field of from (a config struct) that to (its
// upstream counterpart) lacks by name or holds with another value.
func sameFields(t *testing.T, path string, from, to reflect.Value) {
	t.Helper()
	for i := range from.NumField() {
		name := from.Type().Field(i).Name
		f := to.FieldByName(name)
		switch {
		case !f.IsValid():
			t.Errorf("%s.%s has no field in %s", path, name, to.Type())
		case f.Kind() == reflect.Struct:
			sameFields(t, path+"."+name, from.Field(i), f)
		case !reflect.DeepEqual(from.Field(i).Interface(), f.Interface()):
			t.Errorf("%s.%s is %v in config but %v in the checker's options", path, name, from.Field(i), f)
		}
	}
}
