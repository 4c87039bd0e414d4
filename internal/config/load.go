package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Load parses a configuration file (YAML, or JSON, which is YAML too) and
// substitutes ${NAME} in its string values with getenv(NAME).
//
// Substitution happens in the parsed values, never in the text: a value from
// the environment is never read as YAML, so a secret may contain any
// character ('#', quotes, newlines) and cannot change the file's structure.
// "$$" stands for one '$'; any other '$' is kept as written, so password
// hashes need no escaping. A variable that getenv reports as "" is an error
// naming the variable and the line, never its value. Keys are not
// substituted, nor values in flow collections written unquoted ([${X}] is
// a syntax error: write ["${X}"]). With a nil getenv nothing is substituted
// and "$$" stays "$$": that is how a File already substituted and marshalled
// to JSON is read again.
//
// Every problem is reported at once, with its path and line, as a
// *ValidationError (EINVALID): a syntax error, a key the schema does not
// know, a value of the wrong shape, an unset variable. Load does not check
// the values themselves; Validate does. Files over MaxFileBytes, or nested
// deeper than any file of this schema needs, are refused before parsing;
// anchors, aliases, merge keys and tags are refused too.
func Load(data []byte, getenv func(string) string) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, invalid([]Problem{{Message: fmt.Sprintf("the file is larger than %d MiB; split it", MaxFileBytes>>20)}})
	}
	if n := maxNesting(data); n > maxDepth {
		return nil, invalid([]Problem{{Message: fmt.Sprintf("nested more than %d levels deep", maxDepth)}})
	}
	parsed, err := parse(data)
	if err != nil {
		return nil, invalid([]Problem{syntaxProblem(err)})
	}
	d := &decoder{getenv: getenv, lines: map[string]int{}, fromEnv: map[string]bool{}}
	f := &File{}
	var body ast.Node
	for _, doc := range parsed.Docs {
		if doc == nil || isNull(doc.Body) {
			continue
		}
		if body != nil {
			d.problem("", doc.Body, "only one YAML document is allowed")
			continue
		}
		body = doc.Body
	}
	if body != nil {
		d.file(f, body)
	}
	if len(d.problems) > 0 {
		return nil, invalid(d.problems)
	}
	f.lines, f.fromEnv = d.lines, d.fromEnv
	return f, nil
}

// MaxFileBytes bounds the size of a configuration file.
const MaxFileBytes = 8 << 20

// parse runs the YAML parser. It sees input from the admin API: a bug in it
// must be a refused file, not a crashed server.
func parse(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, errors.New("the file could not be parsed")
		}
	}()
	return parser.ParseBytes(data, 0)
}

// maxDepth bounds the nesting of a file: the schema needs five levels, and
// the parser's time grows faster than linearly with nesting (100,000 open
// brackets take minutes).
const maxDepth = 64

// maxNesting returns an upper bound of the flow and block nesting depth of
// data: it counts open brackets and braces (ignoring quoting) and the
// indentation of lines, which is enough to refuse a pathological file before
// the parser recurses into it.
func maxNesting(data []byte) int {
	depth, most := 0, 0
	for _, c := range data {
		switch c {
		case '[', '{':
			depth++
			most = max(most, depth)
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	indent, atStart := 0, true
	for _, c := range data {
		switch {
		case c == '\n':
			indent, atStart = 0, true
		case atStart && (c == ' ' || c == '-'):
			indent++
		default:
			atStart = false
		}
		// Two columns per level is as tight as YAML indentation gets.
		most = max(most, indent/2)
	}
	return most
}

func syntaxProblem(err error) Problem {
	if e, ok := err.(yaml.Error); ok {
		p := Problem{Message: e.GetMessage()}
		if tk := e.GetToken(); tk != nil && tk.Position != nil {
			p.Line = tk.Position.Line
		}
		return p
	}
	// Not expected from the parser; its text may quote the file, which is
	// acceptable, but keep it on one line.
	return Problem{Message: strings.ReplaceAll(err.Error(), "\n", " ")}
}

type decoder struct {
	getenv   func(string) string
	problems []Problem
	lines    map[string]int
	fromEnv  map[string]bool
}

func (d *decoder) problem(path string, n ast.Node, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: line(n), Message: fmt.Sprintf(format, args...)})
}

func line(n ast.Node) int {
	if n == nil {
		return 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// plain reports the node features the schema has no use for, and returns n
// when it is usable.
func (d *decoder) plain(path string, n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode:
		d.problem(path, n, "anchors and aliases are not supported")
		return nil, false
	case *ast.TagNode:
		d.problem(path, n, "tags are not supported")
		return nil, false
	case *ast.MergeKeyNode:
		d.problem(path, n, "merge keys (<<) are not supported")
		return nil, false
	}
	return n, true
}

// field is one key of a mapping the schema knows, and what to do with its
// value.
type field struct {
	name   string
	decode func(path string, value ast.Node)
}

// object decodes a mapping whose keys must all be fields.
func (d *decoder) object(path string, n ast.Node, fields ...field) {
	n, ok := d.plain(path, n)
	if !ok {
		return
	}
	m, ok := n.(ast.MapNode)
	if !ok {
		d.problem(path, n, "expected a mapping of fields (%s)", fieldNames(fields))
		return
	}
	d.lines[path] = line(n)
	seen := map[string]bool{}
	for it := m.MapRange(); it.Next(); {
		key, ok := d.key(path, it.Key())
		if !ok {
			continue
		}
		p := joinKey(path, key)
		var f *field
		for i := range fields {
			if fields[i].name == key {
				f = &fields[i]
			}
		}
		switch {
		case f == nil:
			msg := "unknown field"
			if s := suggest(key, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.problem(p, it.Key(), "%s", msg)
		case seen[key]:
			d.problem(p, it.Key(), "duplicate field")
		default:
			seen[key] = true
			d.lines[p] = line(it.Key())
			f.decode(p, it.Value())
		}
	}
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// suggest returns the field name closest to key, if it is close enough to be
// a typing mistake.
func suggest(key string, fields []field) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := editDistance(strings.ToLower(key), f.name); d < bestDist {
			best, bestDist = f.name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// key returns the text of a mapping key; keys are never substituted.
func (d *decoder) key(path string, k ast.MapKeyNode) (string, bool) {
	if k == nil {
		d.problem(path, nil, "empty key")
		return "", false
	}
	if _, ok := d.plain(path, k); !ok {
		return "", false
	}
	switch k := k.(type) {
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		if tk := k.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	d.problem(path, k, "keys must be plain strings")
	return "", false
}

// joinKey appends a mapping key to a path: ".name" when the key is simple,
// otherwise ["quoted"].
func joinKey(path, key string) string {
	simple := key != ""
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// str decodes a scalar into a string. Numbers and booleans keep their text as
// written (id: 5 is "5"); null is "".
func (d *decoder) str(path string, n ast.Node) string {
	if isNull(n) {
		return ""
	}
	n, ok := d.plain(path, n)
	if !ok {
		return ""
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return d.expand(path, n, n.Value)
	case *ast.LiteralNode:
		if n.Value == nil {
			return ""
		}
		return d.expand(path, n, n.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value
		}
	}
	d.problem(path, n, "expected a string")
	return ""
}

// list decodes a sequence of strings; null is an empty list.
func (d *decoder) list(path string, n ast.Node) []string {
	if isNull(n) {
		return nil
	}
	n, ok := d.plain(path, n)
	if !ok {
		return nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.problem(path, n, "expected a list of strings")
		return nil
	}
	out := make([]string, 0, len(seq.Values))
	for i, item := range seq.Values {
		p := index(path, i)
		d.lines[p] = line(item)
		if isNull(item) {
			d.problem(p, item, "empty item")
			continue
		}
		out = append(out, d.str(p, item))
	}
	return out
}

// listOrString decodes a sequence of strings or a single string (a list of
// one).
func (d *decoder) listOrString(path string, n ast.Node) []string {
	if _, ok := n.(*ast.SequenceNode); ok || isNull(n) {
		return d.list(path, n)
	}
	if n, ok := d.plain(path, n); !ok {
		return nil
	} else if _, ok := n.(ast.MapNode); ok {
		d.problem(path, n, "expected a string or a list of strings")
		return nil
	}
	return []string{d.str(path, n)}
}

// boolean decodes true or false; a string "true" or "false" (from the
// environment, say) is accepted too.
func (d *decoder) boolean(path string, n ast.Node) bool {
	if n, ok := n.(*ast.BoolNode); ok {
		return n.Value
	}
	if s, ok := n.(*ast.StringNode); ok {
		switch d.expand(path, s, s.Value) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	if _, ok := d.plain(path, n); ok {
		d.problem(path, n, "expected true or false")
	}
	return false
}

// listMap decodes a mapping from names to lists of strings; listOf decodes
// each value.
func (d *decoder) listMap(path string, n ast.Node, listOf func(string, ast.Node) []string) map[string][]string {
	if isNull(n) {
		return nil
	}
	n, ok := d.plain(path, n)
	if !ok {
		return nil
	}
	m, ok := n.(ast.MapNode)
	if !ok {
		d.problem(path, n, "expected a mapping")
		return nil
	}
	out := map[string][]string{}
	for it := m.MapRange(); it.Next(); {
		key, ok := d.key(path, it.Key())
		if !ok {
			continue
		}
		p := joinKey(path, key)
		if _, dup := out[key]; dup {
			d.problem(p, it.Key(), "duplicate key")
			continue
		}
		d.lines[p] = line(it.Key())
		v := listOf(p, it.Value())
		if v == nil {
			v = []string{}
		}
		out[key] = v
	}
	return out
}

// expand substitutes ${NAME} and $$ in s (see Load).
func (d *decoder) expand(path string, n ast.Node, s string) string {
	if d.getenv == nil || !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				d.problem(path, n, "unterminated ${ (write $$ for a literal '$')")
				return ""
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			if !validEnvName(name) {
				d.problem(path, n, "invalid environment variable name %q in ${...}", truncate(name, 40))
				continue
			}
			v := d.getenv(name)
			if v == "" {
				d.problem(path, n, "environment variable %s is not set (or is empty)", name)
				continue
			}
			d.fromEnv[path] = true
			b.WriteString(v)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

func validEnvName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// entries decodes a top-level list of objects.
func (d *decoder) entries(path string, n ast.Node, each func(path string, item ast.Node)) {
	if isNull(n) {
		return
	}
	n, ok := d.plain(path, n)
	if !ok {
		return
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.problem(path, n, "expected a list")
		return
	}
	for i, item := range seq.Values {
		p := index(path, i)
		d.lines[p] = line(item)
		each(p, item)
	}
}

func (d *decoder) file(f *File, n ast.Node) {
	d.object("", n,
		field{"orgs", func(path string, v ast.Node) {
			d.entries(path, v, func(path string, item ast.Node) { f.Orgs = append(f.Orgs, d.org(path, item)) })
		}},
		field{"audiences", func(path string, v ast.Node) {
			d.entries(path, v, func(path string, item ast.Node) { f.Audiences = append(f.Audiences, d.audience(path, item)) })
		}},
		field{"roles", func(path string, v ast.Node) {
			d.entries(path, v, func(path string, item ast.Node) { f.Roles = append(f.Roles, d.role(path, item)) })
		}},
		field{"users", func(path string, v ast.Node) {
			d.entries(path, v, func(path string, item ast.Node) { f.Users = append(f.Users, d.user(path, item)) })
		}},
		field{"clients", func(path string, v ast.Node) {
			d.entries(path, v, func(path string, item ast.Node) { f.Clients = append(f.Clients, d.client(path, item)) })
		}},
	)
}

func (d *decoder) strField(name string, p *string) field {
	return field{name, func(path string, v ast.Node) { *p = d.str(path, v) }}
}

func (d *decoder) listField(name string, p *[]string) field {
	return field{name, func(path string, v ast.Node) { *p = d.list(path, v) }}
}

func (d *decoder) org(path string, n ast.Node) (o Org) {
	d.object(path, n,
		d.strField("id", &o.ID),
		d.strField("name", &o.Name),
		field{"signup", func(path string, v ast.Node) { o.Signup = d.boolean(path, v) }},
		d.listField("default_roles", &o.DefaultRoles),
	)
	return o
}

func (d *decoder) audience(path string, n ast.Node) (a Audience) {
	d.object(path, n,
		d.strField("id", &a.ID),
		d.strField("name", &a.Name),
		field{"scopes", func(path string, v ast.Node) { a.Scopes = d.listMap(path, v, d.list) }},
	)
	return a
}

func (d *decoder) role(path string, n ast.Node) (r Role) {
	d.object(path, n,
		d.strField("id", &r.ID),
		d.strField("org", &r.Org),
		d.listField("allow", &r.Allow),
		d.listField("deny", &r.Deny),
	)
	return r
}

func (d *decoder) user(path string, n ast.Node) (u User) {
	d.object(path, n,
		d.strField("id", &u.ID),
		d.strField("org", &u.Org),
		d.strField("username", &u.Username),
		d.strField("email", &u.Email),
		d.strField("password", &u.Password),
		d.strField("password_hash", &u.PasswordHash),
		d.listField("roles", &u.Roles),
		field{"attributes", func(path string, v ast.Node) { u.Attributes = d.listMap(path, v, d.listOrString) }},
		d.listField("allow", &u.Allow),
		d.listField("deny", &u.Deny),
		field{"disabled", func(path string, v ast.Node) { b := d.boolean(path, v); u.Disabled = &b }},
	)
	return u
}

func (d *decoder) client(path string, n ast.Node) (c Client) {
	d.object(path, n,
		d.strField("id", &c.ID),
		d.strField("org", &c.Org),
		d.strField("name", &c.Name),
		d.strField("secret", &c.Secret),
		d.strField("secret_hash", &c.SecretHash),
		d.listField("grants", &c.Grants),
		d.listField("scopes", &c.Scopes),
		d.listField("roles", &c.Roles),
		d.listField("allow", &c.Allow),
		d.listField("deny", &c.Deny),
		d.strField("access_token_format", &c.AccessTokenFormat),
		d.listField("redirect_uris", &c.RedirectURIs),
		field{"login_orgs", func(path string, v ast.Node) { c.LoginOrgs = d.listOrString(path, v) }},
		field{"disabled", func(path string, v ast.Node) { b := d.boolean(path, v); c.Disabled = &b }},
	)
	return c
}

// sortedKeys returns m's keys in order, so that problems come out the same
// way every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
