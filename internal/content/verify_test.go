package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func digestOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func TestVerifyReader(t *testing.T) {
	good := []byte("the content as declared")
	errSize, errHash := errors.New("size"), errors.New("hash")
	for _, tc := range []struct {
		name    string
		data    []byte
		size    int64
		want    error // nil: verified
		maxRead int   // bytes the reader may take from the source
	}{
		{"exact", good, int64(len(good)), nil, len(good)},
		{"short", good[:5], int64(len(good)), errSize, 5},
		{"long", append(append([]byte{}, good...), "and more, much more"...), int64(len(good)), errSize, len(good) + 1},
		{"other content", bytes.ToUpper(good), int64(len(good)), errHash, len(good)},
		{"empty", nil, 0, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.NewReader(tc.data)
			var done []error
			vr := NewVerifyReader(iotest.OneByteReader(src), "blob x", digestOf(good[:tc.size]), tc.size).
				Wrap(errSize, errHash).OnDone(func(err error) { done = append(done, err) })
			_, err := io.ReadAll(vr)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !errors.Is(vr.Err(), tc.want) || (tc.want == nil) != (vr.Err() == nil) {
				t.Errorf("Err() = %v, want %v", vr.Err(), tc.want)
			}
			if len(done) != 1 || !errors.Is(done[0], tc.want) {
				t.Errorf("OnDone calls %v, want one with %v", done, tc.want)
			}
			if read := len(tc.data) - src.Len(); read > tc.maxRead {
				t.Errorf("read %d bytes of the source, at most %d expected", read, tc.maxRead)
			}
			if tc.want != nil {
				if n, err := vr.Read(make([]byte, 8)); n != 0 || !errors.Is(err, tc.want) {
					t.Errorf("read after the failure: %d, %v", n, err)
				}
			}
		})
	}
	var nilReader *VerifyReader
	if nilReader.Err() != nil {
		t.Error("nil reader has an error")
	}
}
