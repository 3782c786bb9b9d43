package admin

import (
	"encoding/json"
	"testing"
)

// decK updates a certificate with a PUT listing the names of its SNIs
// (go-database-reconciler pkg/types/certificate.go:183-200): the SNIs
// under those names stay, with their ids and tags, as Kong's update_list
// keeps them; the others go.
func TestAdminCertificatePutKeepsListedSNIs(t *testing.T) {
	f := newWriteFixture(t)
	cert, key := selfSigned(t)
	const cid, sid = "d0000000-0000-4000-8000-000000000061", "d0000000-0000-4000-8000-000000000062"
	body, _ := json.Marshal(map[string]any{"cert": cert, "key": key})
	f.expect(200, "PUT", "/certificates/"+cid, js, string(body))
	f.expect(200, "PUT", "/snis/"+sid, js, `{"name": "a.example", "tags": ["kept"], "certificate": {"id": "`+cid+`"}}`)
	f.expect(201, "POST", "/certificates/"+cid+"/snis", js, `{"name": "b.example"}`)

	body, _ = json.Marshal(map[string]any{"id": cid, "cert": cert, "key": key, "snis": []string{"a.example", "c.example"}})
	f.expect(200, "PUT", "/certificates/"+cid, js, string(body))
	sni := f.get("/snis/a.example")
	if sni["id"] != sid || len(sni["tags"].([]any)) != 1 {
		t.Errorf("the listed SNI was replaced: %v", sni)
	}
	if got := names(t, f.get("/certificates/"+cid+"/snis"), "name"); len(got) != 2 || got[0] != "a.example" || got[1] != "c.example" {
		t.Errorf("snis after the PUT: %v", got)
	}
}
