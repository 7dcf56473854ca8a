package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vpcalertd/vpcalertd/event"
)

// condition is a compiled rule condition.
type condition struct {
	src  string
	prog *vm.Program
	// typed is true when every conjunct has a Go closure; the VM program
	// is then only used to cross-check in tests.
	typed bool
	conj  []conjunct
	// fields are the referenced symbols; fieldNames their names as written.
	fields     []int32
	fieldNames []string
	// required are symbols that must be present for the condition to be
	// true (a cheap pre-filter).
	required []int32
	// refs are the fields the condition reads, where they are written
	// (checked against the decoders' schema at load).
	refs   []fieldRef
	errors atomic.Int64
	// explain is the condition's explanation tree (explain.go), built on
	// the first explanation.
	explain explainer
}

// fieldRef is one field a condition reads, and where it is written.
type fieldRef struct {
	name string        // as written
	loc  file.Location // in the condition's source
	// object is set for an object passed whole to a helper
	// (world_open(aws.requestParameters)).
	object bool
}

// conjunct is one top-level "&&" operand.
type conjunct struct {
	src string
	fn  boolFn // nil on the VM path
	// field is the only symbol the conjunct reads, or event.NoSym; a
	// conjunct over one field with pure helpers can be memoized per value.
	field int32
}

// compileEnv carries what compiling a condition needs.
type compileEnv struct {
	syms    *event.Symbols
	helpers *helperEnv
	opts    []expr.Option
	// objects are the internal helpers that take an object path
	// (world_open(aws.x) becomes _world_open($env, "aws.x")).
	objects map[string]bool
}

func newCompileEnv(syms *event.Symbols, h *helperEnv) *compileEnv {
	opts := []expr.Option{expr.Env(&exprEnv{}), expr.AsBool()}
	opts = append(opts, h.exprOptions()...)
	ce := &compileEnv{syms: syms, helpers: h, opts: opts, objects: map[string]bool{}}
	for _, row := range h.byName {
		if row.object != "" {
			ce.objects[row.object] = true
		}
	}
	return ce
}

// exprError is an expr error at a position inside the expression.
type exprError struct {
	line, col int // 1-based line, 0-based column inside the expression
	msg       string
	snippet   string
}

// compileCondition compiles src once. Errors carry positions inside src.
func (ce *compileEnv) compileCondition(src string) (*condition, []*exprError) {
	locals := map[string]bool{}
	var rawConj []ast.Node // the top-level conjuncts before the optimizer, for their text
	if tree, err := parser.Parse(src); err == nil {
		rawConj = splitAnd(tree.Node)
		ast.Find(tree.Node, func(n ast.Node) bool {
			if v, ok := n.(*ast.VariableDeclaratorNode); ok {
				locals[v.Name] = true
			}
			return false
		})
	}
	if errs := ce.unknownCalls(src, locals); len(errs) > 0 {
		return nil, errs
	}
	fp := &fieldPatcher{locals: locals, h: ce.helpers}
	sp := &symPatcher{syms: ce.syms}
	opts := append(append([]expr.Option{}, ce.opts...), expr.Patch(fp), expr.Patch(sp))
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, []*exprError{toExprError(err, src)}
	}
	c := &condition{src: src, prog: prog}
	root := prog.Node()

	// Load-time checks of constant helper arguments, and the fields.
	var errs []*exprError
	seen := map[int32]bool{}
	ast.Find(root, func(n ast.Node) bool {
		call, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		if id.Value == fnField || id.Value == fnHas {
			if sym, ok := symArg(call); ok && !seen[sym] {
				seen[sym] = true
				c.fields = append(c.fields, sym)
				c.fieldNames = append(c.fieldNames, sp.names[sym])
			}
			return false
		}
		if h := ce.helpers.helper(id.Value); h != nil && h.check != nil {
			if err := h.check(ce.helpers, call.Arguments); err != nil {
				errs = append(errs, nodeError(src, call, err.Error()))
			}
		}
		return false
	})
	if len(errs) > 0 {
		return nil, errs
	}
	c.refs = ce.fieldRefs(root, sp.names)

	tc := &typedCompiler{env: ce.helpers}
	c.typed = true
	conjNodes := splitAnd(root)
	for i, n := range conjNodes {
		cj := conjunct{src: nodeSource(src, n), field: event.NoSym}
		if len(rawConj) == len(conjNodes) {
			// The optimizer folds constants (a list becomes a set) and
			// drops their positions; the parsed tree still has them.
			cj.src = nodeSource(src, rawConj[i])
		}
		fn := tc.compileBool(n)
		if fn == nil {
			c.typed = false
		} else {
			cj.fn = fn
		}
		if fs := fieldsOf(n); len(fs) == 1 {
			cj.field = fs[0]
		}
		if r, ok := requiredField(ce.helpers, n); ok {
			c.required = append(c.required, r)
		}
		c.conj = append(c.conj, cj)
	}
	if !c.typed {
		for i := range c.conj {
			c.conj[i].fn = nil
		}
	}
	return c, nil
}

// fieldRefs walks a compiled condition and returns every field it reads,
// in source order: the _f/_has calls the field patcher made (names holds
// their names as written, by symbol) and the object paths of object
// helpers. It is the one walk that knows which fields a condition needs.
func (ce *compileEnv) fieldRefs(root ast.Node, names map[int32]string) []fieldRef {
	var refs []fieldRef
	ast.Find(root, func(n ast.Node) bool {
		call, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		switch {
		case id.Value == fnField || id.Value == fnHas:
			if sym, ok := symArg(call); ok {
				refs = append(refs, fieldRef{name: names[sym], loc: call.Location()})
			}
		case ce.objects[id.Value] && len(call.Arguments) > 1:
			if p, ok := call.Arguments[1].(*ast.StringNode); ok {
				refs = append(refs, fieldRef{name: p.Value, loc: call.Arguments[1].Location(), object: true})
			}
		}
		return false
	})
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].loc.From < refs[j].loc.From })
	return refs
}

// unknownCalls reports calls of names that are neither helpers nor expr
// builtins (without this, expr would read the name as a field and say
// "string is not callable").
func (ce *compileEnv) unknownCalls(src string, locals map[string]bool) []*exprError {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil // compiling reports it
	}
	var errs []*exprError
	ast.Find(tree.Node, func(n ast.Node) bool {
		call, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok || locals[id.Value] || ce.helpers.helper(id.Value) != nil {
			return false
		}
		if _, ok := builtin.Index[id.Value]; ok {
			return false
		}
		errs = append(errs, nodeError(src, call, fmt.Sprintf("unknown function %s, expected a helper (%s) or an expr builtin",
			id.Value, strings.Join(ce.helpers.publicNames(), ", "))))
		return false
	})
	return errs
}

// splitAnd flattens top-level "&&"/"and" into its operands.
func splitAnd(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(splitAnd(b.Left), splitAnd(b.Right)...)
	}
	return []ast.Node{n}
}

// fieldsOf returns the symbols a subtree reads.
func fieldsOf(n ast.Node) []int32 {
	var out []int32
	ast.Find(n, func(x ast.Node) bool {
		if call, ok := x.(*ast.CallNode); ok {
			if id, ok := call.Callee.(*ast.IdentifierNode); ok && (id.Value == fnField || id.Value == fnHas) {
				if sym, ok := symArg(call); ok {
					for _, s := range out {
						if s == sym {
							return false
						}
					}
					out = append(out, sym)
				}
			}
		}
		return false
	})
	return out
}

// requiredField returns the field a conjunct needs present to be true:
// osregex/osmatch/in_list/has/== on a field whose test fails on "".
func requiredField(h *helperEnv, n ast.Node) (int32, bool) {
	switch v := n.(type) {
	case *ast.CallNode:
		id, ok := v.Callee.(*ast.IdentifierNode)
		if !ok {
			return 0, false
		}
		switch id.Value {
		case fnHas:
			return symArg(v)
		case "osregex":
			// Match never accepts "", and a missing field reads as "".
			return fieldArg(v.Arguments[0])
		case "osmatch":
			if pat, ok := constString(v.Arguments[1]); ok {
				if m, err := h.match(pat); err == nil && !m.MatchString("") {
					return fieldArg(v.Arguments[0])
				}
			}
		case "in_list":
			if name, ok := constString(v.Arguments[0]); ok {
				if l, ok := h.lists[name]; ok {
					if _, has := l.m[""]; !has {
						return fieldArg(v.Arguments[1])
					}
				}
			}
		}
	case *ast.BinaryNode:
		if v.Operator == "==" {
			for _, p := range [][2]ast.Node{{v.Left, v.Right}, {v.Right, v.Left}} {
				if k, ok := constString(p[1]); ok && k != "" {
					return fieldArg(p[0])
				}
			}
		}
	}
	return 0, false
}

func fieldArg(n ast.Node) (int32, bool) {
	if call, ok := n.(*ast.CallNode); ok {
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == fnField {
			return symArg(call)
		}
	}
	return 0, false
}

func symArg(call *ast.CallNode) (int32, bool) {
	if len(call.Arguments) != 2 {
		return 0, false
	}
	switch v := call.Arguments[1].(type) {
	case *ast.IntegerNode:
		return int32(v.Value), true
	case *ast.ConstantNode:
		if i, ok := v.Value.(int); ok {
			return int32(i), true
		}
	}
	return 0, false
}

// fieldPatcher rewrites field references into _f($env, "path") calls:
// an identifier that is not a helper, a builtin argument or a let
// variable is a field, a member chain on a field extends the path, and
// has(field)/field("name") become _has/_f.
type fieldPatcher struct {
	locals map[string]bool
	h      *helperEnv
}

func envNode() ast.Node { return &ast.IdentifierNode{Value: "$env"} }

func fieldCall(fn, path string) *ast.CallNode {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: []ast.Node{envNode(), &ast.StringNode{Value: path}},
	}
}

// pathOf returns the path of a pending _f($env, "path") call.
func pathOf(n ast.Node) (string, bool) {
	call, ok := n.(*ast.CallNode)
	if !ok || len(call.Arguments) != 2 {
		return "", false
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != fnField {
		return "", false
	}
	s, ok := call.Arguments[1].(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

func (p *fieldPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" || p.locals[n.Value] || p.h.helper(n.Value) != nil || n.Value == "nil" {
			return
		}
		ast.Patch(node, fieldCall(fnField, n.Value))
	case *ast.MemberNode:
		base, ok := pathOf(n.Node)
		if !ok || n.Method {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		// The chain starts where its first identifier does (expr puts a
		// member at its last part).
		from, to := n.Node.Location().From, n.Location().To
		call := fieldCall(fnField, base+"."+prop.Value)
		ast.Patch(node, call)
		call.SetLocation(file.Location{From: from, To: to})
	case *ast.ChainNode:
		// a?.b on a field: fields never fail, so the chain is the field.
		if path, ok := pathOf(n.Node); ok {
			ast.Patch(node, fieldCall(fnField, path))
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || len(n.Arguments) == 0 {
			return
		}
		if row := p.h.helper(id.Value); row != nil && row.object != "" {
			if path, ok := pathOf(n.Arguments[0]); ok {
				pathNode := &ast.StringNode{Value: path}
				pathNode.SetLocation(n.Arguments[0].Location())
				args := append([]ast.Node{envNode(), pathNode}, n.Arguments[1:]...)
				ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: row.object}, Arguments: args})
			}
			return
		}
		if len(n.Arguments) != 1 {
			return
		}
		switch id.Value {
		case "has":
			if path, ok := pathOf(n.Arguments[0]); ok {
				loc := n.Arguments[0].Location()
				call := fieldCall(fnHas, path)
				ast.Patch(node, call)
				call.SetLocation(loc)
			}
		case "field":
			if s, ok := n.Arguments[0].(*ast.StringNode); ok {
				loc := s.Location()
				call := fieldCall(fnField, s.Value)
				ast.Patch(node, call)
				call.SetLocation(loc)
			}
		}
	}
}

// symPatcher replaces the path of every _f/_has call by the interned
// symbol, so that both the VM and the closures look fields up by integer.
type symPatcher struct {
	syms  *event.Symbols
	names map[int32]string
}

func (p *symPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) != 2 {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || (id.Value != fnField && id.Value != fnHas) {
		return
	}
	s, ok := call.Arguments[1].(*ast.StringNode)
	if !ok {
		return
	}
	sym := p.syms.Intern(s.Value)
	if p.names == nil {
		p.names = map[int32]string{}
	}
	if _, ok := p.names[sym]; !ok {
		p.names[sym] = s.Value
	}
	ast.Patch(&call.Arguments[1], &ast.IntegerNode{Value: int(sym)})
}

// toExprError converts an expr compile error.
func toExprError(err error, src string) *exprError {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Line == 0 {
			fe.Bind(file.NewSource(src))
		}
		return &exprError{line: fe.Line, col: fe.Column, msg: fe.Message, snippet: fe.Snippet}
	}
	return &exprError{line: 1, col: 0, msg: err.Error()}
}

// nodeError builds an exprError at a node with expr's caret snippet.
func nodeError(src string, n ast.Node, msg string) *exprError {
	fe := &file.Error{Location: n.Location(), Message: msg}
	fe.Bind(file.NewSource(src))
	return &exprError{line: fe.Line, col: fe.Column, msg: msg, snippet: fe.Snippet}
}

// nodeSource returns the source text of a node, or its printed form when
// the location is unknown (nodes made by the optimizer).
func nodeSource(src string, n ast.Node) string {
	loc := n.Location()
	from, to := runeToByte(src, loc.From), runeToByte(src, loc.To)
	// expr locations cover the operator token of a binary node only; widen
	// to the operands' extents.
	lo, hi := from, to
	ast.Find(n, func(x ast.Node) bool {
		l := x.Location()
		f, t := runeToByte(src, l.From), runeToByte(src, l.To)
		if (l.From != 0 || l.To != 0) && f < lo {
			lo = f
		}
		if t > hi {
			hi = t
		}
		return false
	})
	// A member chain's location starts at its last part (aws.dstport
	// points at dstport): take in the identifiers and dots before it.
	for lo > 0 && lo <= len(src) && isChainByte(src[lo-1]) {
		lo--
	}
	if lo >= 0 && hi <= len(src) && lo < hi {
		s := strings.TrimSpace(src[lo:hi])
		// Include the closing brackets of a call or a list the location
		// stops before.
		rest := src[hi:]
		for _, p := range []string{"()", "[]", "{}"} {
			for strings.Count(s, p[:1]) > strings.Count(s, p[1:]) {
				i := strings.IndexByte(rest, p[1])
				if i < 0 {
					break
				}
				s += rest[:i+1]
				rest = rest[i+1:]
			}
		}
		return s
	}
	return n.String()
}

func isChainByte(c byte) bool {
	return c == '.' || c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func runeToByte(s string, r int) int {
	if r <= 0 {
		return 0
	}
	i := 0
	for n := 0; n < r && i < len(s); n++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return i
}

// String formats an exprError as expr does, without position.
func (e *exprError) String() string {
	return fmt.Sprintf("%s%s", e.msg, e.snippet)
}
