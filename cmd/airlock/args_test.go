package main

import (
	"io"
	"reflect"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	cases := []struct{ in, want []string }{
		{[]string{"airlock", "import", "b.tar", "--to", "r/x", "--dry-run", "--key", "k.pub"},
			[]string{"airlock", "import", "--to", "r/x", "--dry-run", "--key", "k.pub", "b.tar"}},
		{[]string{"airlock", "--debug", "export", "img:1", "-o", "b.tar", "img:2"},
			[]string{"airlock", "--debug", "export", "-o", "b.tar", "img:1", "img:2"}},
		{[]string{"airlock", "trust", "update", "b.tar", "--trust-dir", "d"},
			[]string{"airlock", "trust", "update", "--trust-dir", "d", "b.tar"}},
		{[]string{"airlock", "verify", "--policy=p.yaml", "b.tar", "--", "-odd-name"},
			[]string{"airlock", "verify", "--policy=p.yaml", "b.tar", "--", "-odd-name"}},
		{[]string{"airlock", "inspect", "b.tar"}, []string{"airlock", "inspect", "b.tar"}},
		// Global flags anywhere on the line, but not after "--".
		{[]string{"airlock", "verify", "b.tar", "--debug", "--key", "k.pub", "-q"},
			[]string{"airlock", "--debug", "-q", "verify", "--key", "k.pub", "b.tar"}},
		{[]string{"airlock", "trust", "list", "--quiet", "--", "--debug"},
			[]string{"airlock", "--quiet", "trust", "list", "--", "--debug"}},
	}
	for _, c := range cases {
		if got := interspersed(app, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("interspersed(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
