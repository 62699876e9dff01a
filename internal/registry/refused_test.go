package registry

import (
	"context"
	"net"
	"strings"
	"testing"
)

// A refused connection is reported as such, not as a registry that did not
// answer in time (the auth handshake's context is always cancelled after it).
func TestRefusedIsNotATimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := New(WithRetries(0), WithInsecureRegistries(addr))
	ref, err := c.ParseReference(addr + "/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), ref)
	if err == nil {
		t.Fatal("resolving on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "no answer within") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("error = %v, want a refused connection, not a timeout", err)
	}
}
