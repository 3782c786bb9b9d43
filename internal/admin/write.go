package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// The entity writes (Kong's Admin API with a database): each one turns
// the configuration in force into the flat form (config.Export), changes
// the entity there, renders the document and puts it in force through
// Source.Commit, the path POST /config takes: validated, stored,
// applied, or refused with nothing changed. Without a Commit (no config
// store), writes answer 405 as Kong's DB-less mode does (readOnly).

// writeOp is one write, as its method and path say.
type writeOp struct {
	method string
	kind   *writeKind
	// parentKind and parentKey name the entity a nested path is under
	// (/services/{s}/routes); key the entity written ("" for a POST).
	parentKind, parentKey string
	key                   string
	// who is the caller, the change's author in the store.
	who string
}

// parseWrite reads a write's path; ok false when the method does not
// apply to it (POST to an entity, PUT to a list).
func (a *api) parseWrite(r *http.Request) (writeOp, bool) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return writeOp{}, false
		}
		segs = append(segs, u)
	}
	op := writeOp{method: r.Method, who: callerName(r)}
	var kind string
	switch len(segs) {
	case 1, 2:
		kind = a.writes.endpoints[segs[0]]
	case 3, 4:
		kind = a.writes.nested[segs[0]+"/"+segs[2]]
		op.parentKind, op.parentKey = segs[0], segs[1]
	}
	if len(segs)%2 == 0 {
		op.key = segs[len(segs)-1]
	}
	op.kind = a.writes.kinds[kind]
	if op.kind == nil {
		return op, false
	}
	if r.Method == http.MethodPost {
		return op, op.key == ""
	}
	return op, op.key != ""
}

func writeMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch || m == http.MethodDelete
}

// write serves POST, PUT, PATCH and DELETE on an entity path.
func (a *api) write(w http.ResponseWriter, r *http.Request) {
	op, ok := a.parseWrite(r)
	if !ok {
		writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
		return
	}
	var body *config.Object
	if op.method != http.MethodDelete {
		var err error
		if body, err = a.readEntity(w, r, op.kind); err != nil {
			writeBodyError(w, err)
			return
		}
	}
	// One write at a time on this node: each is made from the
	// configuration in force, which the one before it changes. A write
	// that finds another (or a POST /config) running is busy, as Kong is
	// during a load, rather than queued behind a load of unbounded length.
	status, out := http.StatusTooManyRequests, any(message("Currently loading previous configuration"))
	a.whileWriting(func() { status, out = a.applyWrite(op, body) })
	switch {
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, out)
	default:
		writeJSON(w, status, out)
	}
}

// whileWriting runs f unless another write runs. The lock is released
// however f ends: a write that panicked must not leave every later one
// busy until a restart.
func (a *api) whileWriting(f func()) {
	if !a.writeMu.TryLock() {
		return
	}
	defer a.writeMu.Unlock()
	f()
}

// applyWrite makes the write and answers its status and body.
func (a *api) applyWrite(op writeOp, body *config.Object) (int, any) {
	ix := a.entities()
	if ix == nil {
		return http.StatusServiceUnavailable, message("no configuration loaded")
	}
	var parent *entity
	if op.parentKind != "" {
		if parent = ix.find(op.parentKind, op.parentKey); parent == nil {
			return http.StatusNotFound, message("Not found")
		}
	}
	cur := a.findWritten(ix, op, parent)
	flat, err := a.flatForm(ix)
	if err != nil {
		return http.StatusInternalServerError, message("cannot export the configuration in force: " + err.Error())
	}
	ed := &edit{wm: a.writes, flat: flat, kind: op.kind, parentKind: op.parentKind, base: ix.snap.Hash, created: ix.snap.Created()}
	var status int
	var errBody map[string]any
	switch op.method {
	case http.MethodDelete:
		if cur == nil {
			return http.StatusNoContent, nil
		}
		if errBody = ed.remove(op.kind.kind, cur.id); errBody != nil {
			return http.StatusBadRequest, errBody
		}
		status = http.StatusNoContent
	case http.MethodPatch:
		if cur == nil {
			return http.StatusNotFound, message("Not found")
		}
		status, errBody = http.StatusOK, ed.patch(cur.id, body)
	case http.MethodPut:
		status, errBody = http.StatusOK, ed.put(cur, op.key, parent, body)
	default:
		status, errBody = http.StatusCreated, ed.create(parent, body)
	}
	if errBody != nil {
		switch errBody["code"] {
		case codeUniqueViolation, codePrimaryKey:
			return http.StatusConflict, errBody
		case codeNotFound:
			return http.StatusNotFound, message("Not found")
		}
		return http.StatusBadRequest, errBody
	}
	return a.commitWrite(ed, status, op.who)
}

// flatForm is the flat form of the configuration in force: the one the
// last write made when it is still in force (parsing the document again
// is most of an export's cost), else exported. The lists are copied, so
// an edit that is refused leaves the kept form as it was.
func (a *api) flatForm(ix *index) (*config.Flat, error) {
	if a.lastFlat == nil || a.lastFlatHash != ix.snap.Hash {
		return config.Export(ix.snap.Model, a.writes.credentialNames)
	}
	f := *a.lastFlat
	f.Lists = make(map[string][]*config.Object, len(a.lastFlat.Lists))
	for k, list := range a.lastFlat.Lists {
		f.Lists[k] = append([]*config.Object(nil), list...)
	}
	return &f, nil
}

// findWritten is the entity a write names: by id, then by endpoint key;
// for a nested path only among the parent's (where a PerConsumer
// credential is also found by its key, and a target by its address in
// its own upstream although another upstream has it too).
func (a *api) findWritten(ix *index, op writeOp, parent *entity) *entity {
	if op.key == "" {
		return nil
	}
	kind := op.kind.kind
	if parent == nil {
		return ix.find(kind, op.key)
	}
	field := ""
	for _, ref := range a.writes.fks(kind) {
		if ref.parent == op.parentKind {
			field = ref.field
		}
	}
	return ix.findUnder(kind, field, parent.id, op.key)
}

// foreignOf is an indexed entity's foreign key field.
func foreignOf(e *entity, field string) string {
	switch field {
	case "service":
		return e.service
	case "route":
		return e.route
	case "consumer":
		return e.consumer
	case "upstream":
		return e.upstream
	case "certificate":
		return e.certificate
	}
	return ""
}

// commitWrite renders the edited form and puts it in force.
func (a *api) commitWrite(ed *edit, status int, who string) (int, any) {
	data := ed.flat.Render()
	// A configuration put in force since this write read its own (a file
	// edited by hand, another node's write) would be overwritten: the
	// write is refused and the client retries on the new one. Commit
	// checks again where it stores, as one with the store's
	// compare-and-set: a version applied meanwhile is a conflict there.
	if cur := a.snapshot(); cur == nil || cur.Hash != ed.base {
		return http.StatusConflict, message(configstore.ErrConflict.Error())
	}
	snap, err := a.src.Commit(data, ed.base, who)
	if status, out := commitStatus(err); status != 0 {
		return status, out
	} else if err != nil {
		return http.StatusBadRequest, violation(ed.blameWritten(ed.nestSNIs(asErrors(err))), ed.path())
	}
	ix := buildIndex(snap, a.src.Registry, a.kinds, snap.Created())
	a.index.Store(ix)
	a.lastFlat, a.lastFlatHash = ed.flat, snap.Hash
	if status == http.StatusNoContent {
		return status, nil
	}
	e := ix.find(ed.kind.kind, ed.id)
	if e == nil {
		return http.StatusInternalServerError, message("the entity written is not in the configuration applied")
	}
	return status, e.body
}

// commitStatus is the answer to a commit that failed for a reason other
// than its document: busy, a conflict, the store unavailable; 0 when err
// is nil or the document's own errors.
func commitStatus(err error) (int, any) {
	switch {
	case errors.Is(err, reload.ErrBusy):
		return http.StatusTooManyRequests, message("Currently loading previous configuration")
	case errors.Is(err, configstore.ErrConflict):
		return http.StatusConflict, message(err.Error())
	case errors.Is(err, configstore.ErrUnavailable):
		return http.StatusServiceUnavailable, message(err.Error())
	}
	return 0, nil
}

// edit is one write's change to the flat form.
type edit struct {
	wm   *writeModel
	flat *config.Flat
	kind *writeKind
	// parentKind is the kind of a nested path's parent.
	parentKind string
	// base is the hash of the configuration the write was made from.
	base string
	// id is the entity written.
	id string
	// created is the created_at shown for the entities the document
	// gives none (the load's time, which the next load moves).
	created int64
}

// path is the written entity's place in the rendered document, which
// the loader's errors name.
func (ed *edit) path() string {
	for i, o := range ed.flat.Lists[ed.kind.kind] {
		if o.String("id") == ed.id {
			return ed.kind.kind + "[" + strconv.Itoa(i) + "]"
		}
	}
	return ""
}

// nestSNIs puts the errors of a written certificate's SNIs, which the
// flat form holds in the top-level list, under the certificate where the
// body wrote them (`certificates[2].snis[1].name`), so that violation
// reports them as a validate of the same body does.
func (ed *edit) nestSNIs(errs config.Errors) config.Errors {
	if ed.kind.kind != "certificates" {
		return errs
	}
	own := map[int]int{} // top-level index -> index in the certificate
	for i, s := range ed.flat.Lists["snis"] {
		if s.String("certificate") == ed.id {
			own[i] = len(own)
		}
	}
	for i, e := range errs {
		rest, ok := strings.CutPrefix(e.Path, "snis[")
		if !ok {
			continue
		}
		n, tail, ok := strings.Cut(rest, "]")
		top, err := strconv.Atoi(n)
		if k, mine := own[top]; ok && err == nil && mine {
			errs[i].Path = ed.path() + ".snis[" + strconv.Itoa(k) + "]" + tail
		}
	}
	return errs
}

// blameWritten puts a duplicate between an entity the write nests in the
// written one and an entity in force on the nested one, where the body
// wrote it. The load reports the later of the two in the document, which
// may be the one in force (a service's nested routes come before the
// top-level routes), and that one's path outside the written entity
// (`routes[3].name`) reads as a field of the written one.
func (ed *edit) blameWritten(errs config.Errors) config.Errors {
	own := ed.path()
	inOwn := func(p string) bool { return own != "" && (p == own || strings.HasPrefix(p, own+".")) }
	for i, e := range errs {
		end := strings.LastIndex(e.Path, "]")
		if e.First == "" || !inOwn(e.First) || inOwn(e.Path) || end < 0 {
			continue
		}
		errs[i].Path = e.First + e.Path[end+1:]
		errs[i].Message = e.Message[:e.Note] + " (an entity in force has it)"
		errs[i].First, errs[i].Note = "", 0
	}
	return errs
}

func (ed *edit) indexOf(kind, id string) int {
	for i, o := range ed.flat.Lists[kind] {
		if o.String("id") == id {
			return i
		}
	}
	return -1
}

// create adds body as a new entity (under parent for a nested path).
func (ed *edit) create(parent *entity, body *config.Object) map[string]any {
	if id := body.String("id"); id != "" {
		if ed.indexOf(ed.kind.kind, id) >= 0 {
			return primaryKeyViolation(id)
		}
	} else {
		body.Set("id", uuid.NewString())
	}
	ed.stamp(body, true)
	return ed.place(-1, parent, body)
}

// put replaces cur with body, or creates it with the path's key as its
// id (a UUID) or its endpoint key.
func (ed *edit) put(cur *entity, key string, parent *entity, body *config.Object) map[string]any {
	if cur != nil {
		i := ed.indexOf(ed.kind.kind, cur.id)
		if i < 0 {
			return notInFlatForm()
		}
		body.Set("id", cur.id)
		if _, given := body.Get(ed.kind.keyField); !given && ed.kind.keyField != "" && key != cur.id {
			// As Kong: the endpoint key in the path is the entity's.
			body.Set(ed.kind.keyField, key)
		}
		if old, ok := ed.flat.Lists[ed.kind.kind][i].Get("created_at"); ok {
			body.Set("created_at", old)
		}
		ed.keepCreated(body)
		ed.stamp(body, false)
		return ed.place(i, parent, body)
	}
	if _, err := uuid.Parse(key); err == nil {
		body.Set("id", key)
	} else if ed.kind.keyField != "" {
		body.Set("id", uuid.NewString())
		body.Set(ed.kind.keyField, key)
	} else {
		return kongError(codeNotFound, "not found", "Not found", nil)
	}
	ed.stamp(body, true)
	return ed.place(-1, parent, body)
}

// patch merges body into the entity: fields given replace the ones it
// has, a plugin's config is merged field by field as Kong's records are.
func (ed *edit) patch(id string, body *config.Object) map[string]any {
	i := ed.indexOf(ed.kind.kind, id)
	if i < 0 {
		return notInFlatForm()
	}
	old := ed.flat.Lists[ed.kind.kind][i]
	merged := &config.Object{Keys: append([]string{}, old.Keys...), Vals: append([]any{}, old.Vals...)}
	if _, ok := body.Get("url"); ok {
		// The url is the service's protocol, host, port and path at once.
		for _, k := range []string{"protocol", "host", "port", "path"} {
			merged.Delete(k)
		}
	}
	for j, k := range body.Keys {
		if k == "id" {
			continue
		}
		v := body.Vals[j]
		if k == "config" {
			if prev, ok := merged.Get(k); ok {
				v = mergeRecords(prev, v)
			}
		}
		merged.Set(k, v)
	}
	ed.keepCreated(merged)
	ed.stamp(merged, false)
	return ed.place(i, nil, merged)
}

// keepCreated gives an updated entity that has no created_at in the
// document the one the admin API showed for it, so that the load the
// update makes does not move it.
func (ed *edit) keepCreated(o *config.Object) {
	if _, ok := o.Get("created_at"); !ok {
		o.Set("created_at", ed.created)
	}
}

// notInFlatForm answers a write to an entity of the index that the flat
// form does not list (the two are made from one configuration, so only a
// bug in one of them), as not found rather than a panic.
func notInFlatForm() map[string]any {
	return kongError(codeNotFound, "not found", "Not found", nil)
}

// mergeRecords merges b into a where both are objects.
func mergeRecords(a, b any) any {
	ao, ok1 := a.(*config.Object)
	bo, ok2 := b.(*config.Object)
	if !ok1 || !ok2 {
		return b
	}
	out := &config.Object{Keys: append([]string{}, ao.Keys...), Vals: append([]any{}, ao.Vals...)}
	for i, k := range bo.Keys {
		if prev, ok := out.Get(k); ok {
			out.Set(k, mergeRecords(prev, bo.Vals[i]))
		} else {
			out.Set(k, bo.Vals[i])
		}
	}
	return out
}

// stamp sets the times Kong sets on a write, on the kinds that have them,
// and a new entity's `auto` fields.
func (ed *edit) stamp(o *config.Object, created bool) {
	now := time.Now().Unix()
	if created {
		if _, ok := o.Get("created_at"); !ok {
			o.Set("created_at", now)
		}
		for _, f := range autoFields[ed.kind.kind] {
			if v, _ := o.Get(f); v == nil || v == "" {
				o.Set(f, randomString())
			}
		}
	}
	if fieldType(ed.kind.typ, "updated_at") != nil && ed.kind.credential == nil && ed.kind.kind != "targets" {
		o.Set("updated_at", now)
	}
}
