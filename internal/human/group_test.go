package human

import (
	"reflect"
	"testing"
)

func TestBlocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shapes []string // "" : not groupable
		min    int
		want   []Block
	}{
		{"none", nil, 3, nil},
		{"below the minimum, one block each", []string{"a", "a"}, 3, []Block{{Members: []int{0}}, {Members: []int{1}}}},
		{"a group where its first member is, the odd ones in between",
			[]string{"b", "a", "x", "a", "", "a", "b"}, 3,
			[]Block{{Members: []int{0}}, {Members: []int{1, 3, 5}, Group: true}, {Members: []int{2}}, {Members: []int{4}}, {Members: []int{6}}}},
		{"two groups; an item that is not groupable stays alone",
			[]string{"a", "b", "a", "b", ""}, 2,
			[]Block{{Members: []int{0, 2}, Group: true}, {Members: []int{1, 3}, Group: true}, {Members: []int{4}}}},
	} {
		got := Blocks(len(tc.shapes), tc.min, func(i int) (string, bool) { return tc.shapes[i], tc.shapes[i] != "" })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
