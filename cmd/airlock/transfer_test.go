package main

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4GiB": 4 << 30, "700MB": 700e6, "65536": 65536, "4 KiB": 4096, "1G": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0", "4XB", "9999999TiB", "1.5GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestTransferFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"export", "-o", "x.tar", "--parity", "2", "localhost:5000/a:v1"},
		{"export", "-o", "x.tar", "--split-size", "100", "localhost:5000/a:v1"},
		{"export", "-o", "x.tar", "--split-size", "lots", "localhost:5000/a:v1"},
		{"export", "-o", "x.tar", "--sign-key", "/nonexistent/cosign.key", "localhost:5000/a:v1"},
	} {
		_, stderr, code := airlockRun(t, args...)
		if code != exitError || !strings.Contains(stderr, "usage") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error (exit %d)", args, code, stderr, exitError)
		}
	}
}
