package opentelemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBodyKeep is the largest request body kept for the next batch: a
// batch of huge spans does not hold its memory for the plugin's life.
const maxBodyKeep = 1 << 20

// maxAnswer is how much of the collector's answer is read (the
// connection is reused when that is all of it), maxMessage how much of
// it an error quotes.
const (
	maxAnswer  = 64 << 10
	maxMessage = 256
)

// traceExporter sends batches of encoded spans by OTLP/HTTP (protobuf),
// retrying as the SDK's exporter does: network errors, 429, 502, 503 and
// 504, with exponential backoff from queue.initial_retry_delay to
// queue.max_retry_delay, honouring Retry-After, for queue.max_retry_time
// in all. It is called from the queue's goroutine only.
type traceExporter struct {
	client   *http.Client
	url      string
	header   http.Header // sent with every export
	retry    retry
	resource []byte // the ResourceSpans' resource field
	scope    []byte // the ScopeSpans' scope field
	body     []byte // reused from batch to batch
}

func newTraceExporter(s *settings) *traceExporter {
	h := http.Header{"Content-Type": {"application/x-protobuf"}, "User-Agent": {"turnpike"}}
	for k, v := range s.headers {
		h.Set(k, v)
	}
	e := &traceExporter{client: exporterClient(s), url: s.endpoint, header: h, retry: s.retry}
	e.resource, e.scope = encodeResource(s.resource)
	return e
}

// export sends one batch.
func (e *traceExporter) export(ctx context.Context, spans []*spanChunk) error {
	e.body = appendRequest(e.body[:0], e.resource, e.scope, spans)
	release(spans)
	defer func() {
		if cap(e.body) > maxBodyKeep {
			e.body = nil
		}
	}()
	if !e.retry.enabled {
		_, err := e.post(ctx)
		return err
	}
	start := time.Now()
	delay := e.retry.initial
	for {
		wait, err := e.post(ctx)
		if err == nil || wait < 0 {
			return err
		}
		delay, wait = min(delay, e.retry.max), max(wait, delay)
		if time.Since(start)+wait > e.retry.maxElapsed {
			return errors.New("max retry time would elapse: " + err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		delay *= 2
	}
}

// post sends the body once. A failure that may be retried returns the
// wait the collector asked for (Retry-After; 0 when none), one that may
// not returns -1.
func (e *traceExporter) post(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(e.body))
	if err != nil {
		return -1, err
	}
	req.Header = e.header.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, err
		}
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return 0, nil
	}
	err = errors.New(e.url + ": " + resp.Status + ": " + string(bytes.TrimSpace(msg[:min(len(msg), maxMessage)])))
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return retryAfter(resp.Header.Get("Retry-After")), err
	}
	return -1, err
}

// retryAfter reads a Retry-After header: seconds or a date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func (e *traceExporter) shutdown(context.Context) error {
	e.client.CloseIdleConnections()
	return nil
}
