package policy

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
)

// The matcher is a segment trie. Each node has literal children, at most one
// "*" child, and two leaves: the rules whose paths end exactly at the node,
// and those ending there with a final "**". A leaf keeps, per method, the OR
// of the rules' flags (deny, principal allow, scope allow), so a decision is
// one walk down the request's segments, whatever the number of rules.
//
// Compile builds a pointer trie (builder) and encodes it into one byte slice
// (matcher), which for all but large policies shares one heap object with the
// Policy itself (see newPolicy): a decision then reads a few dozen contiguous
// bytes, so it touches one or two cache lines and one page of a policy even
// when millions of policies are cached. The encoding, little-endian:
//
//	header  u32 cols, u32 root: the column count and the root node's offset
//	methods cols-1 times: u8 length, the method's bytes (column 1, 2, ...)
//	nodes   depth first from the root; a node is:
//	  u8 bits: nLeaves, nStar, nHashed; a linear node's edge count << 4
//	  if nLeaves: the glob row and the end row ([cols]byte each: column 0 is
//	    the flags of the rules for every method, column c those plus the
//	    rules naming method c), u32 offset of the node's rule list
//	  if nStar: u32 offset of the "*" child
//	  if nHashed: u32 mask, (mask+1) u32 edge offsets (0: empty), an
//	    open-addressing table by the hash of the key's first segment
//	  edges: u32 child offset, u8 key length (255: a u32 length follows), key
//	rules   (explanations only) per leaf node, as uvarints: the glob count,
//	        the end count, the rule indexes of each
//
// A chain of nodes without leaves or "*" child and with one literal child is
// one edge whose key holds several segments ("employee/5"), so a typical
// policy is a handful of nodes. Keys are canonical segments, which never hold
// '/', so a key matches when it is a prefix of the rest of the path ending at
// a '/' or at its end; siblings' keys differ in their first segment, so at
// most one matches.

type flags uint8

const (
	fDeny flags = 1 << iota
	fAllowPrincipal
	fAllowScope
)

func (r *Rule) flag() flags {
	switch {
	case r.Effect == Deny:
		return fDeny
	case r.Layer == LayerScope:
		return fAllowScope
	}
	return fAllowPrincipal
}

// maxLinearEdges: nodes with more literal children use a hash table.
const maxLinearEdges = 8

// A linear node's edge count fits in the high bits of its first byte.
const _ = uint(15 - maxLinearEdges)

// Node bits.
const (
	nLeaves     = 1 << iota // the node has the two rows and a rule list
	nStar                   // the node has a "*" child
	nHashed                 // the literal children are in a hash table
	nCountShift = 4         // a linear node's edge count, in the high bits
)

// headerSize is the matcher's fixed header: cols and the root's offset.
const headerSize = 8

// matcher is the encoded trie.
type matcher struct {
	seed maphash.Seed // hashes the keys of hashed nodes
	b    []byte
}

func le32(b []byte, o int) int { return int(binary.LittleEndian.Uint32(b[o:])) }

// header returns the number of columns and the root node's offset.
func (m *matcher) header() (cols, root int) { return le32(m.b, 0), le32(m.b, 4) }

// column returns the column of method: 0 when no rule names it.
func (m *matcher) column(method string, cols int) int {
	b := m.b
	o := headerSize
	for c := 1; c < cols; c++ {
		n := int(b[o])
		if n == len(method) && string(b[o+1:o+1+n]) == method {
			return c
		}
		o += 1 + n
	}
	return 0
}

// match ORs the flags of every rule matching method and the segments in rest
// ("a/b/c", or "" for none), stopping once a deny is found. cols and root
// are the header's.
func (m *matcher) match(method, rest string, cols, root int) flags {
	return m.walk(root, rest, m.column(method, cols), cols, 0)
}

func (m *matcher) walk(o int, rest string, col, cols int, acc flags) flags {
	b := m.b
	for {
		bits := b[o]
		o++
		if bits&nLeaves != 0 {
			acc |= flags(b[o+col])
			if rest == "" {
				return acc | flags(b[o+cols+col])
			}
			o += 2*cols + 4
		} else if rest == "" {
			return acc
		}
		star := 0
		if bits&nStar != 0 {
			star = le32(b, o)
			o += 4
		}
		var child int
		var next string
		if bits&nHashed != 0 {
			child, next = m.hashedChild(o, rest)
		} else {
			// child, by hand: this loop is most of a decision's work.
			for n := bits >> nCountShift; n > 0; n-- {
				c, k, end := m.edge(o)
				if rest, ok := prefixOf(b, k, end, rest); ok {
					child, next = c, rest
					break
				}
				o = end
			}
		}
		if star == 0 {
			if child == 0 {
				return acc
			}
			o, rest = child, next
			continue
		}
		if child != 0 {
			if acc = m.walk(child, next, col, cols, acc); acc&fDeny != 0 {
				return acc
			}
		}
		_, rest = cut(rest)
		o = star
	}
}

// cut returns the first segment of rest and the segments after it. (A loop:
// segments are short, and strings.IndexByte is a call.)
func cut(rest string) (seg, after string) {
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:]
		}
	}
	return rest, ""
}

// edge decodes the edge at o: its child and its key's bounds.
func (m *matcher) edge(o int) (child, key, end int) {
	b := m.b
	child, n := le32(b, o), int(b[o+4])
	key = o + 5
	if n == 255 {
		n, key = le32(b, key), key+4
	}
	return child, key, key + n
}

// prefixOf reports whether the key b[k:end] is the first segments of rest,
// and returns the segments after them.
func prefixOf(b []byte, k, end int, rest string) (string, bool) {
	n := end - k
	if n > len(rest) || string(b[k:end]) != rest[:n] {
		return "", false
	}
	if n == len(rest) {
		return "", true
	}
	if rest[n] != '/' {
		return "", false
	}
	return rest[n+1:], true
}

// child returns the literal child of the node whose edges start at o that
// rest goes to, and the rest after its key; 0 when none.
func (m *matcher) child(o int, bits byte, rest string) (int, string) {
	if bits&nHashed != 0 {
		return m.hashedChild(o, rest)
	}
	for n := bits >> nCountShift; n > 0; n-- {
		child, k, end := m.edge(o)
		if next, ok := prefixOf(m.b, k, end, rest); ok {
			return child, next
		}
		o = end
	}
	return 0, ""
}

func (m *matcher) hashedChild(o int, rest string) (int, string) {
	b := m.b
	seg, after := cut(rest)
	mask := uint64(le32(b, o))
	o += 4
	for i := maphash.String(m.seed, seg) & mask; ; i = (i + 1) & mask {
		e := le32(b, o+4*int(i))
		if e == 0 {
			return 0, ""
		}
		child, k, end := m.edge(e)
		n := len(seg)
		if end-k < n || string(b[k:k+n]) != seg {
			continue
		}
		if end-k == n {
			return child, after
		}
		if b[k+n] != '/' {
			continue // the key's first segment is longer
		}
		// The one key whose first segment is seg holds more segments.
		if next, ok := prefixOf(b, k, end, rest); ok {
			return child, next
		}
		return 0, ""
	}
}

// collect appends the rules whose paths match rest, whatever their methods.
func (m *matcher) collect(rest string, out *[]int32) {
	cols, root := m.header()
	m.collectFrom(root, rest, cols, out)
}

func (m *matcher) collectFrom(o int, rest string, cols int, out *[]int32) {
	b := m.b
	bits := b[o]
	o++
	if bits&nLeaves != 0 {
		r := le32(b, o+2*cols)
		nGlob, n := binary.Uvarint(b[r:])
		r += n
		nEnd, n := binary.Uvarint(b[r:])
		r += n
		for i := range nGlob + nEnd {
			idx, n := binary.Uvarint(b[r:])
			r += n
			if i < nGlob || rest == "" {
				*out = append(*out, int32(idx))
			}
		}
		if rest == "" {
			return
		}
		o += 2*cols + 4
	} else if rest == "" {
		return
	}
	star := 0
	if bits&nStar != 0 {
		star = le32(b, o)
		o += 4
	}
	if child, next := m.child(o, bits, rest); child != 0 {
		m.collectFrom(child, next, cols, out)
	}
	if star != 0 {
		_, after := cut(rest)
		m.collectFrom(star, after, cols, out)
	}
}

// builder is the pointer trie Compile fills before encoding it.
type builder struct{ root bnode }

type bnode struct {
	keys      []string
	kids      []*bnode
	index     map[string]*bnode
	star      *bnode
	end, glob bleaf
}

type bleaf struct {
	all     flags
	methods []methodFlags
	rules   []int32
}

type methodFlags struct {
	method string
	f      flags
}

func (n *bnode) childOrNew(seg string) *bnode {
	if n.index != nil {
		if c := n.index[seg]; c != nil {
			return c
		}
	} else {
		for i, k := range n.keys {
			if k == seg {
				return n.kids[i]
			}
		}
	}
	c := &bnode{}
	if n.index == nil && len(n.keys) == maxLinearEdges {
		n.index = make(map[string]*bnode, 2*maxLinearEdges)
		for i, k := range n.keys {
			n.index[k] = n.kids[i]
		}
	}
	if n.index != nil {
		n.index[seg] = c
	}
	n.keys = append(n.keys, seg) // kept in order for encoding
	n.kids = append(n.kids, c)
	return c
}

func (b *builder) insert(segs []patSeg, r *Rule, idx int32) {
	cur := &b.root
	for _, g := range segs {
		switch g.kind {
		case segGlob:
			cur.glob.add(r, idx)
			return
		case segStar:
			if cur.star == nil {
				cur.star = &bnode{}
			}
			cur = cur.star
		default:
			cur = cur.childOrNew(g.text)
		}
	}
	cur.end.add(r, idx)
}

func (l *bleaf) add(r *Rule, idx int32) {
	l.rules = append(l.rules, idx)
	f := r.flag()
	ms := r.Statement.Methods
	if ms == nil {
		l.all |= f
		return
	}
	if r.Effect == Deny && slices.Contains(ms, "GET") && !slices.Contains(ms, "HEAD") {
		ms = append(slices.Clip(ms), "HEAD")
	}
next:
	for _, m := range ms {
		for i := range l.methods {
			if l.methods[i].method == m {
				l.methods[i].f |= f
				continue next
			}
		}
		l.methods = append(l.methods, methodFlags{m, f})
	}
}

func (n *bnode) hasLeaves() bool { return len(n.end.rules) > 0 || len(n.glob.rules) > 0 }

// encoder writes a builder's trie in the matcher's encoding.
type encoder struct {
	b      []byte
	cols   map[string]int // method -> column
	ncols  int
	seed   maphash.Seed
	leaves []*bnode // in the order of ruleAt
	ruleAt []int    // offsets of the leaf nodes' rule-list fields
}

// encode returns the encoded trie, and the seed its hashed nodes use.
func (bd *builder) encode() ([]byte, maphash.Seed) {
	e := encoder{cols: map[string]int{}, ncols: 1}
	var methods []string
	hashed := false
	size := headerSize // about what the encoding takes
	var count func(n *bnode)
	count = func(n *bnode) {
		size++
		for _, l := range [2]*bleaf{&n.glob, &n.end} {
			for _, mf := range l.methods {
				if _, ok := e.cols[mf.method]; !ok {
					e.cols[mf.method] = e.ncols
					e.ncols++
					methods = append(methods, mf.method)
					size += 1 + len(mf.method)
				}
			}
		}
		if n.hasLeaves() {
			size += 4 + 2 + len(n.glob.rules) + len(n.end.rules)
			e.leaves = append(e.leaves, n)
		}
		if len(n.keys) > maxLinearEdges {
			hashed = true
			size += 4 + 4*2*len(n.keys)
		}
		for i, k := range n.kids {
			size += 5 + len(n.keys[i]) + 1
			count(k)
		}
		if n.star != nil {
			size += 4
			count(n.star)
		}
	}
	count(&bd.root)
	if hashed {
		e.seed = maphash.MakeSeed()
	}
	size += 2 * e.ncols * len(e.leaves)
	e.b = make([]byte, 0, size)
	e.leaves = e.leaves[:0]
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(e.ncols))
	e.b = binary.LittleEndian.AppendUint32(e.b, 0) // the root, below
	for _, m := range methods {
		e.b = append(e.b, byte(len(m)))
		e.b = append(e.b, m...)
	}
	binary.LittleEndian.PutUint32(e.b[4:], uint32(len(e.b)))
	e.node(&bd.root)
	// The rule lists, after every node.
	for i, n := range e.leaves {
		binary.LittleEndian.PutUint32(e.b[e.ruleAt[i]:], uint32(len(e.b)))
		e.b = binary.AppendUvarint(e.b, uint64(len(n.glob.rules)))
		e.b = binary.AppendUvarint(e.b, uint64(len(n.end.rules)))
		for _, l := range [2]*bleaf{&n.glob, &n.end} {
			for _, r := range l.rules {
				e.b = binary.AppendUvarint(e.b, uint64(r))
			}
		}
	}
	return e.b, e.seed
}

// row writes a leaf's row: the flags of its rules, per column.
func (e *encoder) row(l *bleaf) {
	at := len(e.b)
	for range e.ncols {
		e.b = append(e.b, byte(l.all))
	}
	for _, mf := range l.methods {
		e.b[at+e.cols[mf.method]] |= byte(mf.f)
	}
}

// node writes n and the nodes below it, and returns n's offset.
func (e *encoder) node(n *bnode) int {
	type lit struct {
		key   string
		child *bnode
		at    int // offset of the edge
	}
	lits := make([]lit, len(n.keys))
	for i, k := range n.keys {
		c := n.kids[i]
		if !c.hasLeaves() && c.star == nil && len(c.keys) == 1 {
			var key strings.Builder
			key.WriteString(k)
			for !c.hasLeaves() && c.star == nil && len(c.keys) == 1 {
				key.WriteByte('/')
				key.WriteString(c.keys[0])
				c = c.kids[0]
			}
			k = key.String()
		}
		lits[i] = lit{key: k, child: c}
	}
	at := len(e.b)
	var bits byte
	if n.hasLeaves() {
		bits |= nLeaves
	}
	if n.star != nil {
		bits |= nStar
	}
	hashed := len(lits) > maxLinearEdges
	if hashed {
		bits |= nHashed
	} else {
		bits |= byte(len(lits)) << nCountShift
	}
	e.b = append(e.b, bits)
	if bits&nLeaves != 0 {
		e.row(&n.glob)
		e.row(&n.end)
		e.leaves = append(e.leaves, n)
		e.ruleAt = append(e.ruleAt, len(e.b))
		e.b = append(e.b, 0, 0, 0, 0)
	}
	starAt := len(e.b)
	if n.star != nil {
		e.b = append(e.b, 0, 0, 0, 0)
	}
	var table, mask int
	if hashed {
		size := 2
		for size < 2*len(lits) {
			size *= 2
		}
		mask = size - 1
		e.b = binary.LittleEndian.AppendUint32(e.b, uint32(mask))
		table = len(e.b)
		e.b = append(e.b, make([]byte, 4*size)...)
	}
	for i := range lits {
		l := &lits[i]
		l.at = len(e.b)
		e.b = append(e.b, 0, 0, 0, 0)
		if len(l.key) < 255 {
			e.b = append(e.b, byte(len(l.key)))
		} else {
			e.b = append(e.b, 255)
			e.b = binary.LittleEndian.AppendUint32(e.b, uint32(len(l.key)))
		}
		e.b = append(e.b, l.key...)
		if hashed {
			first, _ := cut(l.key)
			j := int(maphash.String(e.seed, first)) & mask
			for le32(e.b, table+4*j) != 0 {
				j = (j + 1) & mask
			}
			binary.LittleEndian.PutUint32(e.b[table+4*j:], uint32(l.at))
		}
	}
	// e.node appends to e.b: patch the offsets once each child is written.
	for _, l := range lits {
		c := e.node(l.child)
		binary.LittleEndian.PutUint32(e.b[l.at:], uint32(c))
	}
	if n.star != nil {
		c := e.node(n.star)
		binary.LittleEndian.PutUint32(e.b[starAt:], uint32(c))
	}
	return at
}
