package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
)

// The proxy's name for the dashboard's cookie is the dashboard's.
func TestAdminCookieIsTheDashboards(t *testing.T) {
	if adminCookie != dashboard.CookieName {
		t.Fatalf("adminCookie %q, dashboard.CookieName %q", adminCookie, dashboard.CookieName)
	}
}

// An upstream behind the proxy never receives the dashboard's session
// (a browser sends it to every port of the host), and receives every
// other cookie as sent.
func TestDashboardCookieNotForwarded(t *testing.T) {
	got := make(chan []string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Cookie")
	}))
	defer up.Close()
	gw := newGateway(t, simpleConfig, up.URL)
	sid := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		sent []string
		want []string
	}{
		{"alone", []string{"turnpike_dashboard=" + sid}, nil},
		{"among others", []string{"a=1; turnpike_dashboard=" + sid + "; b=2"}, []string{"a=1; b=2"}},
		{"first, no spaces", []string{"turnpike_dashboard=" + sid + ";grafana_session=x"}, []string{"grafana_session=x"}},
		{"twice", []string{"turnpike_dashboard=1; c=3; turnpike_dashboard=2"}, []string{"c=3"}},
		{"two headers", []string{"turnpike_dashboard=" + sid, "d=4"}, []string{"d=4"}},
		{"a longer name kept", []string{"turnpike_dashboard_x=1; x=turnpike_dashboard"}, []string{"turnpike_dashboard_x=1; x=turnpike_dashboard"}},
		{"other cookies untouched", []string{"session=abc;theme=dark"}, []string{"session=abc;theme=dark"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/dashboard/", nil)
		for _, v := range tc.sent {
			req.Header.Add("Cookie", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if g := <-got; strings.Join(g, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: the upstream got Cookie %q, want %q", tc.name, g, tc.want)
		}
	}
}
