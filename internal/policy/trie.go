package policy

import (
	"slices"
	"strings"
)

// The matcher is a segment trie. Each node has literal children, at most one
// "*" child, and two leaves: the rules whose paths end exactly at the node,
// and those ending there with a final "**". A leaf keeps, for every method
// and per method, the OR of the rules' flags (deny, principal allow, scope
// allow), so a decision is one walk down the request's segments, whatever
// the number of rules.
//
// Compile builds a pointer trie (builder) and flattens it into a few
// contiguous arrays (trie), so that a decision touches a handful of cache
// lines of one policy even when millions of policies are cached.

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

// maxLinearEdges: nodes with more literal children use a map.
const maxLinearEdges = 8

type trie struct {
	nodes   []tnode // nodes[0] is the root
	edges   []tedge
	methods []methodFlags
	rules   []int32 // rule indexes of every leaf, for explanations
}

type tnode struct {
	edges     [2]int32         // literal children: edges[lo:hi]
	star      int32            // the "*" child; 0 when none (the root is nobody's child)
	index     map[string]int32 // literal children, when there are many
	end, glob tleaf
}

type tleaf struct {
	all     flags    // flags of the rules for every method
	methods [2]int32 // per-method flags: methods[lo:hi]
	rules   [2]int32 // rules[lo:hi]
}

type tedge struct {
	key string // a substring of one buffer holding every key of the policy
	to  int32
}

type methodFlags struct {
	method string
	f      flags
}

func (t *trie) child(n *tnode, seg string) int32 {
	if n.index != nil {
		return n.index[seg] // 0 when absent
	}
	for _, e := range t.edges[n.edges[0]:n.edges[1]] {
		if e.key == seg {
			return e.to
		}
	}
	return 0
}

func (t *trie) lookup(l *tleaf, method string) flags {
	f := l.all
	for _, m := range t.methods[l.methods[0]:l.methods[1]] {
		if m.method == method {
			return f | m.f
		}
	}
	return f
}

// walk ORs the flags of every rule matching method and the segments in rest
// ("a/b/c", or "" for none) from node n down, stopping once a deny is found.
func (t *trie) walk(n int32, rest, method string, acc flags) flags {
	nd := &t.nodes[n]
	acc |= t.lookup(&nd.glob, method)
	if rest == "" {
		return acc | t.lookup(&nd.end, method)
	}
	seg, next := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg, next = rest[:i], rest[i+1:]
	}
	if c := t.child(nd, seg); c != 0 {
		if acc = t.walk(c, next, method, acc); acc&fDeny != 0 {
			return acc
		}
	}
	if nd.star != 0 {
		acc = t.walk(nd.star, next, method, acc)
	}
	return acc
}

// collect appends the rules whose paths match rest, whatever their methods.
func (t *trie) collect(n int32, rest string, out *[]int32) {
	nd := &t.nodes[n]
	*out = append(*out, t.rules[nd.glob.rules[0]:nd.glob.rules[1]]...)
	if rest == "" {
		*out = append(*out, t.rules[nd.end.rules[0]:nd.end.rules[1]]...)
		return
	}
	seg, next := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg, next = rest[:i], rest[i+1:]
	}
	if c := t.child(nd, seg); c != 0 {
		t.collect(c, next, out)
	}
	if nd.star != 0 {
		t.collect(nd.star, next, out)
	}
}

// builder is the pointer trie Compile fills before flattening it.
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
	n.keys = append(n.keys, seg) // kept in order for flattening
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

// flatten lays the trie out breadth-first: a node's literal children are
// consecutive edges, and every key is a substring of one buffer.
func (b *builder) flatten() trie {
	var nNodes, nEdges, nMethods, nRules, nKeyBytes int
	var count func(n *bnode)
	count = func(n *bnode) {
		nNodes++
		nEdges += len(n.keys)
		nMethods += len(n.end.methods) + len(n.glob.methods)
		nRules += len(n.end.rules) + len(n.glob.rules)
		for i, k := range n.keys {
			nKeyBytes += len(k)
			count(n.kids[i])
		}
		if n.star != nil {
			count(n.star)
		}
	}
	count(&b.root)
	t := trie{
		nodes:   make([]tnode, 0, nNodes),
		edges:   make([]tedge, 0, nEdges),
		methods: make([]methodFlags, 0, nMethods),
		rules:   make([]int32, 0, nRules),
	}
	var keys strings.Builder
	keys.Grow(nKeyBytes)
	// Write every key once, then slice the finished buffer.
	queue := []*bnode{&b.root}
	for i := 0; i < len(queue); i++ {
		n := queue[i]
		for j, k := range n.keys {
			keys.WriteString(k)
			queue = append(queue, n.kids[j])
		}
		if n.star != nil {
			queue = append(queue, n.star)
		}
	}
	buf := keys.String()
	pos := 0
	leaf := func(l *bleaf) tleaf {
		out := tleaf{all: l.all}
		out.methods[0] = int32(len(t.methods))
		t.methods = append(t.methods, l.methods...)
		out.methods[1] = int32(len(t.methods))
		out.rules[0] = int32(len(t.rules))
		t.rules = append(t.rules, l.rules...)
		out.rules[1] = int32(len(t.rules))
		return out
	}
	// Nodes take the queue's order, so a node's number is its queue index.
	next := int32(1) // the number the next child gets
	for _, n := range queue {
		tn := tnode{end: leaf(&n.end), glob: leaf(&n.glob)}
		tn.edges[0] = int32(len(t.edges))
		for _, k := range n.keys {
			t.edges = append(t.edges, tedge{key: buf[pos : pos+len(k)], to: next})
			pos += len(k)
			next++
		}
		tn.edges[1] = int32(len(t.edges))
		if n.star != nil {
			tn.star = next
			next++
		}
		if len(n.keys) > maxLinearEdges {
			tn.index = make(map[string]int32, len(n.keys))
			for _, e := range t.edges[tn.edges[0]:tn.edges[1]] {
				tn.index[e.key] = e.to
			}
		}
		t.nodes = append(t.nodes, tn)
	}
	return t
}
