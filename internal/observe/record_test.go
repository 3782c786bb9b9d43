package observe

import (
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/record"
)

// The upstream fields of an access-log line come from the attempts: the
// last target tried, and status and latency of the response that went to
// the client only; tries are listed when there was more than one.
func TestAppendRecordUpstreamFields(t *testing.T) {
	r := &record.Record{Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), RequestID: "id", Method: "GET", URI: "/",
		Status: 200, Source: "upstream", Latency: 3 * time.Millisecond}
	i := r.AddAttempt("10.0.0.1:80", 0)
	r.Attempts[i].Outcome, r.Attempts[i].End = "connect_error", 1500*time.Microsecond
	i = r.AddAttempt("10.0.0.2:80", 2*time.Millisecond)
	r.Attempts[i].Outcome, r.Attempts[i].Status, r.Attempts[i].Head, r.Attempts[i].End = "response", 200, time.Millisecond, 4*time.Millisecond
	r.Answered = i + 1
	want := `{"time":"2026-11-25T10:00:00.000Z","request_id":"id","client_ip":"","method":"GET","uri":"/","host":"","protocol":"",` +
		`"status":200,"bytes_sent":0,"bytes_received":0,"latency_ms":3,"upstream":"10.0.0.2:80","upstream_status":200,` +
		`"upstream_latency_ms":1,"source":"upstream","tries":[{"target":"10.0.0.1:80","outcome":"connect_error","latency_ms":1.5},` +
		`{"target":"10.0.0.2:80","status":200,"outcome":"response","latency_ms":1}]}` + "\n"
	if got := string(AppendRecord(nil, r)); got != want {
		t.Errorf("line\n got %s\nwant %s", got, want)
	}
	r.Answered = 0 // every attempt failed or was retried (a failed body keeps Answered)
	if got := string(AppendRecord(nil, r)); !strings.Contains(got, `"upstream":"10.0.0.2:80","upstream_status":0,"upstream_latency_ms":0,`) {
		t.Errorf("unanswered: %s", got)
	}
}
