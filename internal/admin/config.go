package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// maxPluginBody bounds the bodies of POST /schemas/plugins/validate and
// of plugin admin routes: one plugin entity, or a purge request, is a few
// kilobytes.
const maxPluginBody = 64 << 10

// readPluginBody reads a body of at most maxPluginBody bytes; when it
// cannot, it has answered 413.
func readPluginBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPluginBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeJSON(w, http.StatusRequestEntityTooLarge, message("request body too large (the limit is "+strconv.Itoa(maxPluginBody)+" bytes)"))
		return nil, false
	case err != nil:
		// The client broke off or stalled past the read timeout.
		writeJSON(w, http.StatusBadRequest, message("could not read the request body"))
		return nil, false
	}
	return body, true
}

// config serves Kong's DB-less /config: GET returns the document in force,
// POST replaces it through the Loader (the one path every reload takes).
func (a *api) config(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		snap := a.snapshot()
		if snap == nil {
			writeJSON(w, http.StatusServiceUnavailable, message("no configuration loaded"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"config": string(snap.Model.Source)})
	case http.MethodPost:
		a.postConfig(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
	}
}

func (a *api) postConfig(w http.ResponseWriter, r *http.Request) {
	if a.src.Loader == nil {
		writeJSON(w, http.StatusServiceUnavailable, message("configuration loading is not available"))
		return
	}
	data, status, msg := readConfig(w, r, a.src.Loader.MaxSize())
	if status != 0 {
		writeJSON(w, status, message(msg))
		return
	}
	if configCheck(r) {
		a.checkConfig(w, r, data)
		return
	}
	if r.URL.Query().Get("check_hash") == "1" {
		if snap := a.snapshot(); snap != nil && snap.Hash == config.SourceHash(data) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	// Not between an entity write's read and its commit; while one runs
	// (or another POST's load), busy as Kong is during a load.
	var snap *snapshot.Snapshot
	err := reload.ErrBusy
	a.whileWriting(func() { snap, err = a.commit(data, r) })
	if status, out := commitStatus(err); status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, status, out)
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, a.invalidConfig(r, err, data))
		return
	}
	ix := buildIndex(snap, a.src.Registry, a.kinds, snap.Created())
	a.index.Store(ix)
	// Kong answers with the entities it loaded, by kind and id.
	out := map[string]any{}
	for _, kind := range a.kinds {
		if es := ix.byKind[kind]; len(es) > 0 {
			byID := make(map[string]any, len(es))
			for _, e := range es {
				byID[e.id] = e.body
			}
			out[kind] = byID
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// emptyConfigHash is Kong's configuration_hash while it holds no entity
// (DECLARATIVE_EMPTY_CONFIG_HASH): Kong's ingress controller pushes its
// configuration again, even unchanged, to a gateway that reports it
// (KIC internal/dataplane/sendconfig/config_change_detector.go).
const emptyConfigHash = "00000000000000000000000000000000"

// kongHash is the configuration_hash GET / and GET /status report for snap.
func kongHash(snap *snapshot.Snapshot) string {
	if snap == nil {
		return emptyConfigHash
	}
	m := snap.Model
	if len(m.Services)+len(m.Routes)+len(m.Consumers)+len(m.Plugins)+len(m.Upstreams)+
		len(m.Certificates)+len(m.CACerts)+len(m.Credentials) == 0 {
		return emptyConfigHash
	}
	return snap.Hash
}

// echoSlack is what the flattened answer may echo beyond the document's
// own size: the parent keys it adds to nested entities.
const echoSlack = 64 << 10

// flattenGate lets one refused document at a time be parsed again for
// its entities, so that concurrent refusals of large documents cannot
// hold many parse trees.
var flattenGate = make(chan struct{}, 1)

// invalidConfig is the 400 body for a document that did not load: Kong's
// flattened form when the request asks for it (flatten_errors) and the
// document parses, else Kong's nested one.
func (a *api) invalidConfig(r *http.Request, err error, data []byte) map[string]any {
	if !flattenTruthy(r.URL.Query().Get("flatten_errors")) {
		return declarativeError(err)
	}
	select {
	case flattenGate <- struct{}{}:
		defer func() { <-flattenGate }()
	case <-r.Context().Done():
		return declarativeError(err)
	}
	raw, perr := config.ParseRaw(data, "")
	if perr != nil || !raw.IsSet() {
		return declarativeError(err)
	}
	// A document's entities fit in its own size, but for what aliases
	// repeat.
	return flattenedError(asErrors(err), raw.Value(), a.writes, len(data)+echoSlack)
}

// callerName is the change's author: the caller's credential, or "admin"
// on an admin API without credentials (loopback only).
func callerName(r *http.Request) string {
	if who := Caller(r); who != "" {
		return who
	}
	return "admin"
}

// commit changes the config through Source.Commit, or on this node only.
func (a *api) commit(data []byte, r *http.Request) (*snapshot.Snapshot, error) {
	if a.src.Commit != nil {
		return a.src.Commit(data, "", callerName(r))
	}
	return a.src.Loader.TryApply(data, "admin")
}

// readConfig takes the declarative document from the body as Kong does:
// the body itself (YAML or JSON), a `config` form or multipart field, or
// a JSON object `{"config": "<document>"}`, of at most maxSize bytes (0:
// no limit). A non-zero status is the error to answer.
func readConfig(w http.ResponseWriter, r *http.Request, maxSize int64) ([]byte, int, string) {
	if maxSize <= 0 {
		maxSize = math.MaxInt64
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSize)
	tooLarge := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	large := "configuration too large (the limit is " + strconv.FormatInt(maxSize, 10) + " bytes, --config-max-size)"
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var data []byte
	switch mt {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxSize); err != nil {
			if tooLarge(err) {
				return nil, http.StatusRequestEntityTooLarge, large
			}
			return nil, http.StatusBadRequest, "cannot parse multipart body: " + err.Error()
		}
		if v := r.MultipartForm.Value["config"]; len(v) > 0 {
			data = []byte(v[0])
		} else if fh := r.MultipartForm.File["config"]; len(fh) > 0 {
			f, err := fh[0].Open()
			if err != nil {
				return nil, http.StatusBadRequest, err.Error()
			}
			data, err = io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, http.StatusBadRequest, err.Error()
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			if tooLarge(err) {
				return nil, http.StatusRequestEntityTooLarge, large
			}
			return nil, http.StatusBadRequest, "cannot parse form body: " + err.Error()
		}
		data = []byte(r.PostForm.Get("config"))
	default:
		var err error
		data, err = io.ReadAll(r.Body)
		if err != nil {
			if tooLarge(err) {
				return nil, http.StatusRequestEntityTooLarge, large
			}
			return nil, http.StatusBadRequest, "cannot read body: " + err.Error()
		}
		// encoding/json would turn bytes that are not UTF-8 into U+FFFD
		// without a word; such a body is left for the config parser to
		// refuse.
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' && utf8.Valid(trimmed) {
			var wrapper struct {
				Config        *string         `json:"config"`
				FormatVersion json.RawMessage `json:"_format_version"`
			}
			if json.Unmarshal(trimmed, &wrapper) == nil && wrapper.Config != nil && wrapper.FormatVersion == nil {
				data = []byte(*wrapper.Config)
			}
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, http.StatusBadRequest, "expected a declarative configuration"
	}
	return data, 0, ""
}

func asErrors(err error) config.Errors {
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		errs = config.Errors{{Message: err.Error()}}
	}
	return errs
}

// validatePlugin is Kong's POST /schemas/plugins/validate: it checks one
// plugin entity (name, config, protocols...) exactly as a load would, by
// compiling a configuration holding only that plugin, and applies nothing.
func (a *api) validatePlugin(w http.ResponseWriter, r *http.Request) {
	body, ok := readPluginBody(w, r)
	if !ok {
		return
	}
	a.checkDocument(w, "plugins[0]", func() ([]byte, error) { return a.pluginDocument(body) })
}

// checkDocument answers Kong's validate endpoints once the caller has read
// the body (outside the loader's gate, at the client's pace): build makes
// the document to check inside the gate and its budget, like any load:
// one parse at a time, whoever sends it. prefix is the checked entity's
// place in it. A node without a loader answers 503 only after the body
// was read: the body is bounded, so reading it first costs little.
func (a *api) checkDocument(w http.ResponseWriter, prefix string, build func() ([]byte, error)) {
	if a.src.Loader == nil {
		writeJSON(w, http.StatusServiceUnavailable, message("configuration loading is not available"))
		return
	}
	_, err := a.src.Loader.Check(build)
	var ee entityError
	var be bodyError
	switch {
	case errors.Is(err, reload.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, message("Currently loading previous configuration"))
	case errors.As(err, &be):
		writeJSON(w, http.StatusBadRequest, message(be.Error()))
	case errors.As(err, &ee):
		writeJSON(w, http.StatusBadRequest, violation(config.Errors{{Message: ee.msg}}, ""))
	case err != nil:
		writeJSON(w, http.StatusBadRequest, violation(asErrors(err), prefix))
	default:
		writeJSON(w, http.StatusOK, message("schema validation successful"))
	}
}

// caCertsInForce are the CA certificates of the configuration in force,
// as entities of a checked document: services and plugins (mtls-auth)
// name them by id, so a checked entity is checked against them.
func (a *api) caCertsInForce() []*config.Object {
	snap := a.snapshot()
	if snap == nil {
		return nil
	}
	cas := make([]*config.Object, len(snap.Model.CACerts))
	for i, ce := range snap.Model.CACerts {
		ca := &config.Object{}
		if ce.CACert.ID != "" {
			ca.Set("id", ce.CACert.ID)
		}
		ca.Set("cert", ce.CACert.Cert)
		cas[i] = ca
	}
	return cas
}

// bodyError is an entity body that does not parse, answered as Kong's
// entity endpoints answer it (a message, not a schema violation).
type bodyError struct{ error }

// entityError is a plugin body that is not a plugin entity at all.
type entityError struct{ msg string }

func (e entityError) Error() string { return e.msg }

// pluginDocument makes a configuration holding only the plugin in body.
func (a *api) pluginDocument(body []byte) ([]byte, error) {
	// The config package's parser, not a plain YAML decoder: it bounds
	// nesting, values and alias expansion as every config load does.
	raw, err := config.ParseRaw(body, "")
	if err != nil {
		return nil, entityError{err.Error()}
	}
	p, ok := raw.Value().(map[string]any)
	if !ok {
		return nil, entityError{"expected a plugin object"}
	}
	// Foreign keys name entities this synthetic config does not have; only
	// whether a consumer scope is allowed matters to the plugin's schema.
	_, hasConsumer := p["consumer"]
	delete(p, "service")
	delete(p, "route")
	delete(p, "consumer")
	doc := map[string]any{"_format_version": "3.0", "plugins": []any{p}}
	if hasConsumer {
		doc["consumers"] = []any{map[string]any{"username": "schema-validation"}}
		p["consumer"] = "schema-validation"
	}
	// Plugins such as mtls-auth name CA certificates by id: the ones in
	// force are what the plugin would be checked against.
	if cas := a.caCertsInForce(); len(cas) > 0 {
		doc["ca_certificates"] = cas
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, entityError{err.Error()}
	}
	return data, nil
}
