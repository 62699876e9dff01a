package human

// Block is one entry of a summary: one item on its own, or a group of items
// of one shape that the summary describes once.
type Block struct {
	Members []int // indexes of the items, in their order
	Group   bool  // the members share a shape (at least the minimum of them)
}

// Blocks splits n items into the blocks of a summary, in the items' order,
// so that a thousand alike items read as one entry and the few that differ
// stand out: the items whose shape is shared by at least min of them form
// one block, placed where its first member is; every other item, and every
// item shape reports as not groupable (ok false), is a block of its own.
// shape(i) describes item i without what is its own (names, digests).
func Blocks(n, min int, shape func(i int) (s string, ok bool)) []Block {
	shapes := make([]string, n)
	grouped := make([]bool, n)
	byShape := map[string][]int{}
	for i := range n {
		if s, ok := shape(i); ok {
			shapes[i], grouped[i] = s, true
			byShape[s] = append(byShape[s], i)
		}
	}
	var blocks []Block
	done := map[string]bool{}
	for i := range n {
		s := shapes[i]
		if !grouped[i] || len(byShape[s]) < min {
			blocks = append(blocks, Block{Members: []int{i}})
			continue
		}
		if !done[s] {
			done[s] = true
			blocks = append(blocks, Block{Members: byShape[s], Group: true})
		}
	}
	return blocks
}
