package istio

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// meta is the Kubernetes object envelope every input document has.
type meta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
		UID       string `yaml:"uid"`
		// CreationTimestamp (RFC 3339, UTC, as the API server writes it)
		// orders objects oldest first.
		CreationTimestamp string `yaml:"creationTimestamp"`
	} `yaml:"metadata"`
	Status any `yaml:"status"`
}

func (m meta) id() string {
	return m.Kind + " " + m.ns() + "/" + m.Metadata.Name
}

// tags are the tags of the entities the object makes, as Kong's
// Kubernetes controller writes them.
func (m meta) tags() []string {
	return importer.Object{APIVersion: m.APIVersion, Kind: m.Kind, Namespace: m.ns(), Name: m.Metadata.Name, UID: m.Metadata.UID}.Tags()
}

func (m meta) ns() string {
	if m.Metadata.Namespace == "" {
		return "default"
	}
	return m.Metadata.Namespace
}

// The networking.istio.io objects, as far as an edge gateway can use
// them. Fields are Istio's YAML spelling; a field of the input that is
// not here is warned by name (importer.UnknownFields) rather than dropped silently.

type gateway struct {
	meta `yaml:",inline"`
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Servers  []server          `yaml:"servers"`
	} `yaml:"spec"`
}

type server struct {
	Port struct {
		Number     int    `yaml:"number"`
		Protocol   string `yaml:"protocol"`
		Name       string `yaml:"name"`
		TargetPort int    `yaml:"targetPort"`
	} `yaml:"port"`
	Hosts []string `yaml:"hosts"`
	Name  string   `yaml:"name"`
	Bind  string   `yaml:"bind"`
	TLS   *struct {
		HTTPSRedirect      bool     `yaml:"httpsRedirect"`
		Mode               string   `yaml:"mode"`
		CredentialName     string   `yaml:"credentialName"`
		MinProtocolVersion string   `yaml:"minProtocolVersion"`
		MaxProtocolVersion string   `yaml:"maxProtocolVersion"`
		CipherSuites       []string `yaml:"cipherSuites"`
	} `yaml:"tls"`
}

type virtualService struct {
	meta `yaml:",inline"`
	Spec struct {
		Hosts    []string    `yaml:"hosts"`
		Gateways []string    `yaml:"gateways"`
		HTTP     []httpRoute `yaml:"http"`
		TLS      []any       `yaml:"tls"`
		TCP      []any       `yaml:"tcp"`
		ExportTo []string    `yaml:"exportTo"`
	} `yaml:"spec"`
}

type httpRoute struct {
	Name     string       `yaml:"name"`
	Match    []httpMatch  `yaml:"match"`
	Route    []destWeight `yaml:"route"`
	Redirect *struct {
		URI          string `yaml:"uri"`
		Authority    string `yaml:"authority"`
		Port         int    `yaml:"port"`
		Scheme       string `yaml:"scheme"`
		RedirectCode int    `yaml:"redirectCode"`
		DerivePort   string `yaml:"derivePort"`
	} `yaml:"redirect"`
	Rewrite *struct {
		URI             string `yaml:"uri"`
		Authority       string `yaml:"authority"`
		URIRegexRewrite any    `yaml:"uriRegexRewrite"`
	} `yaml:"rewrite"`
	Timeout string `yaml:"timeout"`
	Retries *struct {
		Attempts              *int   `yaml:"attempts"`
		PerTryTimeout         string `yaml:"perTryTimeout"`
		RetryOn               string `yaml:"retryOn"`
		RetryRemoteLocalities any    `yaml:"retryRemoteLocalities"`
	} `yaml:"retries"`
	Fault *struct {
		Delay any `yaml:"delay"`
		Abort *struct {
			HTTPStatus int      `yaml:"httpStatus"`
			GRPCStatus string   `yaml:"grpcStatus"`
			Percentage *percent `yaml:"percentage"`
		} `yaml:"abort"`
	} `yaml:"fault"`
	Mirror           *destination `yaml:"mirror"`
	MirrorPercentage *percent     `yaml:"mirrorPercentage"`
	Mirrors          []struct {
		Destination destination `yaml:"destination"`
		Percentage  *percent    `yaml:"percentage"`
	} `yaml:"mirrors"`
	CorsPolicy *corsPolicy `yaml:"corsPolicy"`
	Headers    *struct {
		Request  *headerOps `yaml:"request"`
		Response *headerOps `yaml:"response"`
	} `yaml:"headers"`
}

type percent struct {
	Value float64 `yaml:"value"`
}

type httpMatch struct {
	Name            string                 `yaml:"name"`
	URI             *stringMatch           `yaml:"uri"`
	Scheme          *stringMatch           `yaml:"scheme"`
	Method          *stringMatch           `yaml:"method"`
	Authority       *stringMatch           `yaml:"authority"`
	Headers         map[string]stringMatch `yaml:"headers"`
	Port            int                    `yaml:"port"`
	QueryParams     map[string]stringMatch `yaml:"queryParams"`
	IgnoreURICase   bool                   `yaml:"ignoreUriCase"`
	WithoutHeaders  map[string]stringMatch `yaml:"withoutHeaders"`
	SourceLabels    map[string]string      `yaml:"sourceLabels"`
	Gateways        []string               `yaml:"gateways"`
	SourceNamespace string                 `yaml:"sourceNamespace"`
}

type stringMatch struct {
	Exact  *string `yaml:"exact"`
	Prefix *string `yaml:"prefix"`
	Regex  *string `yaml:"regex"`
}

type destWeight struct {
	Destination destination `yaml:"destination"`
	Weight      *int        `yaml:"weight"`
	Headers     any         `yaml:"headers"`
}

type destination struct {
	Host   string `yaml:"host"`
	Subset string `yaml:"subset"`
	Port   struct {
		Number int `yaml:"number"`
	} `yaml:"port"`
}

type corsPolicy struct {
	AllowOrigins     []stringMatch `yaml:"allowOrigins"`
	AllowOrigin      []string      `yaml:"allowOrigin"`
	AllowMethods     []string      `yaml:"allowMethods"`
	AllowHeaders     []string      `yaml:"allowHeaders"`
	ExposeHeaders    []string      `yaml:"exposeHeaders"`
	MaxAge           string        `yaml:"maxAge"`
	AllowCredentials *bool         `yaml:"allowCredentials"`
}

type headerOps struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}

type destinationRule struct {
	meta `yaml:",inline"`
	Spec struct {
		Host          string         `yaml:"host"`
		TrafficPolicy *trafficPolicy `yaml:"trafficPolicy"`
		Subsets       []struct {
			Name          string            `yaml:"name"`
			Labels        map[string]string `yaml:"labels"`
			TrafficPolicy *trafficPolicy    `yaml:"trafficPolicy"`
		} `yaml:"subsets"`
		ExportTo         []string `yaml:"exportTo"`
		WorkloadSelector any      `yaml:"workloadSelector"`
	} `yaml:"spec"`
}

type trafficPolicy struct {
	LoadBalancer   *lbPolicy `yaml:"loadBalancer"`
	ConnectionPool *struct {
		TCP  map[string]any `yaml:"tcp"`
		HTTP map[string]any `yaml:"http"`
	} `yaml:"connectionPool"`
	OutlierDetection *struct {
		Consecutive5xxErrors           *int   `yaml:"consecutive5xxErrors"`
		ConsecutiveGatewayErrors       *int   `yaml:"consecutiveGatewayErrors"`
		ConsecutiveLocalOriginFailures *int   `yaml:"consecutiveLocalOriginFailures"`
		SplitExternalLocalOriginErrors bool   `yaml:"splitExternalLocalOriginErrors"`
		ConsecutiveErrors              *int   `yaml:"consecutiveErrors"`
		Interval                       string `yaml:"interval"`
		BaseEjectionTime               string `yaml:"baseEjectionTime"`
		MaxEjectionPercent             *int   `yaml:"maxEjectionPercent"`
		MinHealthPercent               *int   `yaml:"minHealthPercent"`
	} `yaml:"outlierDetection"`
	TLS               *clientTLS `yaml:"tls"`
	PortLevelSettings any        `yaml:"portLevelSettings"`
	Tunnel            any        `yaml:"tunnel"`
	ProxyProtocol     any        `yaml:"proxyProtocol"`
}

// clientTLS is a DestinationRule's TLS toward the upstream.
type clientTLS struct {
	Mode               string   `yaml:"mode"`
	SNI                string   `yaml:"sni"`
	CredentialName     string   `yaml:"credentialName"`
	InsecureSkipVerify *bool    `yaml:"insecureSkipVerify"`
	ClientCertificate  string   `yaml:"clientCertificate"`
	PrivateKey         string   `yaml:"privateKey"`
	CACertificates     string   `yaml:"caCertificates"`
	CACrl              string   `yaml:"caCrl"`
	SubjectAltNames    []string `yaml:"subjectAltNames"`
}

type lbPolicy struct {
	Simple         string `yaml:"simple"`
	ConsistentHash *struct {
		HTTPHeaderName string `yaml:"httpHeaderName"`
		HTTPCookie     *struct {
			Name string `yaml:"name"`
			Path string `yaml:"path"`
			TTL  string `yaml:"ttl"`
		} `yaml:"httpCookie"`
		UseSourceIP            bool   `yaml:"useSourceIp"`
		HTTPQueryParameterName string `yaml:"httpQueryParameterName"`
		RingHash               any    `yaml:"ringHash"`
		Maglev                 any    `yaml:"maglev"`
		MinimumRingSize        any    `yaml:"minimumRingSize"`
	} `yaml:"consistentHash"`
	LocalityLbSetting  any `yaml:"localityLbSetting"`
	WarmupDurationSecs any `yaml:"warmupDurationSecs"`
}

type secret struct {
	meta       `yaml:",inline"`
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// value returns a key of the secret, base64 `data` decoded or `stringData`
// as written.
func (s *secret) value(key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// decode reads the object into v and warns every field of it v has no
// place for, by its path.
func (p parsed) decode(v any, ws *importer.Warnings) error {
	if err := p.node.Decode(v); err != nil {
		return fmt.Errorf("%s: %s: %w", p.d.Where(), p.meta.id(), err)
	}
	importer.UnknownFields(p.raw, reflect.TypeOf(v).Elem(), "yaml", func(path string) {
		ws.Add(p.meta.id(), path, "unknown field, not imported")
	})
	return nil
}
