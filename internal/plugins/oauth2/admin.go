package oauth2

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// Kong's admin API paging: 100 a page unless ?size= says otherwise, at
// most 1000.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// tokenStorer is what an instance of Kong's shape implements so that the
// admin routes reach the token stores in use: the running instances'
// stores, each once (instances share the memory store, and one Redis
// store per server).
type tokenStorer interface{ TokenStore() tokens.Store }

// adminRoutes are Kong's /oauth2_tokens endpoints. Tokens are created by
// the token endpoints only: the store holds their hashes, so an access
// token cannot be given to it from outside.
func adminRoutes() []plugin.AdminRoute {
	return []plugin.AdminRoute{
		{Method: http.MethodGet, Path: "/oauth2_tokens", Serve: serveList},
		{Method: http.MethodGet, Path: "/oauth2_tokens/{id}", Serve: serveGet},
		{Method: http.MethodDelete, Path: "/oauth2_tokens/{id}", Serve: serveDelete},
	}
}

func stores(a plugin.Admin) []tokens.Store {
	var out []tokens.Store
	seen := map[tokens.Store]bool{}
	for _, p := range a.Plugins("oauth2") {
		if in, ok := p.Instance.(tokenStorer); ok && p.Enabled {
			if s := in.TokenStore(); s != nil && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// find looks id up in every store, as a token's id and then, as Kong's
// endpoint key, as its access token.
func find(ctx context.Context, ss []tokens.Store, id string) (tokens.Store, *tokens.Token, error) {
	for _, s := range ss {
		if t, err := s.Get(ctx, id); err != nil || t != nil {
			return s, t, err
		}
	}
	for _, s := range ss {
		if t, err := s.ByAccess(ctx, id); err != nil || t != nil {
			return s, t, err
		}
	}
	return nil, nil, nil
}

func serveGet(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	_, t, err := find(r.Context(), stores(a), r.PathValue("id"))
	switch {
	case err != nil:
		a.Error(w, http.StatusInternalServerError, err.Error())
	case t == nil:
		a.Error(w, http.StatusNotFound, "Not found")
	default:
		a.Reply(w, http.StatusOK, tokenBody(t))
	}
}

// serveDelete revokes a token on every node; like Kong it answers 204
// for a token that does not exist.
func serveDelete(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	s, t, err := find(r.Context(), stores(a), r.PathValue("id"))
	if err == nil && t != nil {
		_, err = s.Delete(r.Context(), t.ID)
	}
	if err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveList answers a page of every store's tokens, store after store.
// The offset is the store's position and its own offset.
func serveList(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			a.Reply(w, http.StatusBadRequest, map[string]any{"code": 9, "name": "invalid size",
				"message": "size must be an integer between 1 and " + strconv.Itoa(maxPageSize)})
			return
		}
		size = n
	}
	ss := stores(a)
	at, offset, ok := parseListOffset(q.Get("offset"), len(ss))
	if !ok {
		a.Reply(w, http.StatusBadRequest, map[string]any{"code": 7, "name": "invalid offset",
			"message": "'" + q.Get("offset") + "' is not a valid offset"})
		return
	}
	data := make([]any, 0, min(size, 64))
	next := ""
	for ; at < len(ss) && len(data) < size; at, offset = at+1, "" {
		page, more, err := ss[at].List(r.Context(), offset, size-len(data))
		if err != nil {
			if errors.Is(err, tokens.ErrOffset) {
				a.Reply(w, http.StatusBadRequest, map[string]any{"code": 7, "name": "invalid offset",
					"message": "'" + q.Get("offset") + "' is not a valid offset"})
				return
			}
			a.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		for _, t := range page {
			data = append(data, tokenBody(t))
		}
		if more != "" {
			next = strconv.Itoa(at) + ":" + more
			break
		}
	}
	if next == "" && at < len(ss) {
		next = strconv.Itoa(at) + ":"
	}
	body := map[string]any{"data": data, "next": nil}
	if next != "" {
		off := base64.RawURLEncoding.EncodeToString([]byte(next))
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("offset", off)
		body["next"] = r.URL.Path + "?" + nq.Encode()
		body["offset"] = off
	}
	a.Reply(w, http.StatusOK, body)
}

func parseListOffset(s string, stores int) (at int, offset string, ok bool) {
	if s == "" {
		return 0, "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", false
	}
	i, offset, found := strings.Cut(string(b), ":")
	at, err = strconv.Atoi(i)
	if !found || err != nil || at < 0 || at >= stores {
		return 0, "", false
	}
	return at, offset, true
}

// tokenBody is Kong's oauth2_tokens entity. access_token and
// refresh_token are not shown: the store keeps only their hashes.
func tokenBody(t *tokens.Token) map[string]any {
	body := map[string]any{
		"id":                   t.ID,
		"created_at":           t.CreatedAt.Unix(),
		"credential":           map[string]any{"id": t.CredentialID},
		"service":              nil,
		"token_type":           t.TokenType,
		"expires_in":           t.ExpiresIn,
		"authenticated_userid": orNull(t.AuthenticatedUserID),
		"scope":                orNull(t.Scope),
	}
	if t.ServiceID != "" {
		body["service"] = map[string]any{"id": t.ServiceID}
	}
	if t.TokenType == "" {
		body["token_type"] = "bearer"
	}
	return body
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TokenStore is the store the instance keeps its tokens in.
func (k *kong) TokenStore() tokens.Store { return k.store }
