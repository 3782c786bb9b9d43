package ingress

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	netv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/turnpikegw/turnpike/internal/importer"
)

const kongPrefix = "konghq.com/"

// kong applies the Kong Ingress Controller's annotations; they come after
// NGINX's, so a Kong annotation wins over an NGINX one for the same field.
func (c *converter) kong(in *netv1.Ingress, s *settings) {
	obj := objName(in)
	for _, full := range slices.Sorted(maps.Keys(in.Annotations)) {
		name, ok := strings.CutPrefix(full, kongPrefix)
		if !ok {
			continue
		}
		v := in.Annotations[full]
		bad := func(want string) { c.ws.Add(obj, full, "%q is not %s: ignored", v, want) }
		boolean := func(dst **bool) {
			if b, err := strconv.ParseBool(v); err == nil {
				*dst = importer.Bool(b)
			} else {
				bad("true or false")
			}
		}
		integer := func(field string) {
			if n, err := strconv.Atoi(v); err == nil {
				s.tmpl.Fields[field] = n
			} else {
				bad("a number")
			}
		}
		switch {
		case name == "plugins":
			for _, p := range c.plugins(obj, full, in.Namespace, v) {
				s.addPlugin(p)
			}
		case name == "strip-path":
			boolean(&s.tmpl.StripPath)
		case name == "preserve-host":
			boolean(&s.tmpl.PreserveHost)
		case name == "methods":
			s.tmpl.Methods = nil
			for _, m := range splitList(v) {
				s.tmpl.Methods = append(s.tmpl.Methods, strings.ToUpper(m.(string)))
			}
		case name == "protocols":
			s.tmpl.Fields["protocols"] = splitList(v)
		case name == "https-redirect-status-code":
			integer("https_redirect_status_code")
		case name == "regex-priority":
			if n, err := strconv.Atoi(v); err == nil {
				s.tmpl.RegexPriority = importer.Int(n)
			} else {
				bad("a number")
			}
		case strings.HasPrefix(name, "headers."):
			if s.tmpl.Headers == nil {
				s.tmpl.Headers = map[string][]string{}
			}
			var vals []string
			for _, x := range splitList(v) {
				vals = append(vals, x.(string))
			}
			s.tmpl.Headers[strings.TrimPrefix(name, "headers.")] = vals
		case name == "path":
			if !strings.HasPrefix(v, "/") {
				bad("a path starting with /")
				continue
			}
			s.svc.path = v
		case name == "tags":
			if _, bad := importer.UserTags(v); len(bad) > 0 {
				c.ws.Add(obj, full, "%q: a tag holds characters the Admin API's tag filter refuses: left out", bad)
			}
		case name == "override":
			c.ws.Add(obj, full, "KongIngress overrides are deprecated (use the konghq.com/* annotations): ignored")
		default:
			c.ws.Add(obj, full, "not an annotation the import maps: ignored")
		}
	}
}

// plugins resolves a konghq.com/plugins list: a KongPlugin of the
// object's namespace, else a KongClusterPlugin of that name.
func (c *converter) plugins(obj, field, ns, list string) []*importer.Plugin {
	var out []*importer.Plugin
	for _, n := range splitList(list) {
		name := n.(string)
		kp := c.o.plugins[key(ns, name)]
		if kp == nil {
			kp = c.o.clusterPlugins[name]
		}
		if kp == nil {
			c.ws.Add(obj, field, "no KongPlugin %s/%s or KongClusterPlugin %s in the input: not attached", ns, name, name)
			continue
		}
		if p := c.plugin(kp, ns); p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (c *converter) plugin(kp *kongPlugin, ns string) *importer.Plugin {
	obj := kp.Kind + " " + kp.Name
	if kp.Kind == "KongPlugin" {
		obj = "KongPlugin " + kp.Namespace + "/" + kp.Name
	}
	if kp.PluginName == "" {
		c.ws.Add(obj, "plugin", "no plugin name: not attached")
		return nil
	}
	p := &importer.Plugin{Name: kp.PluginName, Config: kp.Config, Fields: importer.Fields{}, Tags: tagsOf(kp.TypeMeta, kp.ObjectMeta)}
	if kp.ConfigFrom != nil && kp.ConfigFrom.SecretKeyRef != nil {
		if kp.Config != nil {
			c.ws.Add(obj, "configFrom", "config and configFrom are exclusive: config kept")
		} else if cfg, ok := c.configFrom(obj, kp, ns); ok {
			p.Config = cfg
		} else {
			return nil
		}
	}
	p.Config = normalize(p.Config).(map[string]any)
	if path, bad := importer.BadKey(p.Config); bad {
		c.ws.Add(obj, "config."+path, "a key with a control character: plugin not attached")
		return nil
	}
	if kp.Disabled {
		p.Fields["enabled"] = false
	}
	if len(kp.Protocols) > 0 {
		p.Fields["protocols"] = importer.Anys(kp.Protocols)
	}
	if kp.InstanceName != "" {
		p.Fields["instance_name"] = kp.InstanceName
	}
	// In a fixed order: the warnings are compared as text.
	for _, f := range []struct {
		name string
		set  bool
	}{{"configPatches", kp.ConfigPatches != nil}, {"ordering", kp.Ordering != nil}, {"run_on", kp.RunOn != ""}} {
		if f.set {
			c.ws.Add(obj, f.name, "not imported: ignored")
		}
	}
	return p
}

// configFrom reads the plugin's config from a Secret's key (YAML or JSON).
func (c *converter) configFrom(obj string, kp *kongPlugin, ns string) (map[string]any, bool) {
	ref := kp.ConfigFrom.SecretKeyRef
	if ref.Namespace != "" && ref.Namespace != ns {
		// Only a KongClusterPlugin may name another namespace (Kong's CRDs):
		// whoever may create a KongPlugin in one namespace must not read
		// Secrets of another through the gateway.
		if kp.Kind != "KongClusterPlugin" {
			c.ws.Add(obj, "configFrom.secretKeyRef.namespace", "a KongPlugin reads Secrets of its own namespace (%s) only: plugin not attached", ns)
			return nil, false
		}
		ns = ref.Namespace
	}
	sec := c.o.secrets[key(ns, ref.Name)]
	if sec == nil {
		c.ws.Add(obj, "configFrom.secretKeyRef", "Secret %s/%s is not in the input: plugin not attached", ns, ref.Name)
		return nil, false
	}
	raw, ok := sec.Data[ref.Key]
	if !ok {
		c.ws.Add(obj, "configFrom.secretKeyRef.key", "Secret %s/%s has no key %q: plugin not attached", ns, ref.Name, ref.Key)
		return nil, false
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		c.ws.Add(obj, "configFrom.secretKeyRef.key", "Secret %s/%s key %q is not a YAML or JSON object (%v): plugin not attached", ns, ref.Name, ref.Key, err)
		return nil, false
	}
	return cfg, true
}

// normalize turns the float64s of JSON decoding back into integers where
// they are whole, so that the output reads `minute: 100`.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
	}
	return v
}

// serviceAnnotations applies konghq.com/* annotations of the Kubernetes
// Service behind a backend, when it is in the input.
func (c *converter) serviceAnnotations(s *importer.Service, ns, name string) {
	svc := c.o.services[key(ns, name)]
	if svc == nil {
		return
	}
	obj := "Service " + ns + "/" + name
	for _, full := range slices.Sorted(maps.Keys(svc.Annotations)) {
		field, ok := strings.CutPrefix(full, kongPrefix)
		if !ok {
			continue
		}
		v := svc.Annotations[full]
		switch field {
		case "plugins":
			s.Plugins = append(s.Plugins, c.plugins(obj, full, ns, v)...)
		case "protocol":
			s.Protocol = v
		case "path":
			s.Path = v
		case "connect-timeout", "read-timeout", "write-timeout", "retries":
			n, err := strconv.Atoi(v)
			limit := importer.MaxTimeout
			if field == "retries" {
				limit = 32767
			}
			if err != nil || n < 0 || n > limit {
				c.ws.Add(obj, full, "%q is not a number from 0 to %d: ignored", v, limit)
				continue
			}
			s.Fields[strings.ReplaceAll(field, "-", "_")] = n
		default:
			c.ws.Add(obj, full, "not an annotation the import maps: ignored")
		}
	}
}
