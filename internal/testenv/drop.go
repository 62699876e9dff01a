package testenv

import (
	"io"
	"net/http"
	"testing"
)

// DropHalfway answers w with upstream's answer to GET url (status and
// headers, Content-Length included), sends half of the body and drops the
// connection: a stream that breaks mid-blob, for fault tests.
func DropHalfway(t testing.TB, w http.ResponseWriter, url string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.CopyN(w, resp.Body, resp.ContentLength/2)
	w.(http.Flusher).Flush()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}
