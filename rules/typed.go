package rules

import (
	"bytes"
	"encoding/binary"
	"regexp"

	"github.com/expr-lang/expr/ast"
)

// The fast path: the checked expr AST compiled into Go closures for the
// node shapes rules use. expr's VM boxes every string passed to a
// function; these closures read field values in place and allocate
// nothing. Anything else runs on the VM, and both paths are tested on one
// table (typed_test.go).

type boolFn func(c *evalCtx) bool

// strFn returns a string value as bytes that stay valid during one Eval.
type strFn func(c *evalCtx) []byte

type typedCompiler struct {
	env *helperEnv
}

func (tc *typedCompiler) compileBool(n ast.Node) boolFn {
	switch v := n.(type) {
	case *ast.BoolNode:
		b := v.Value
		return func(*evalCtx) bool { return b }
	case *ast.ConstantNode:
		if b, ok := v.Value.(bool); ok {
			return func(*evalCtx) bool { return b }
		}
	case *ast.UnaryNode:
		if v.Operator == "!" || v.Operator == "not" {
			x := tc.compileBool(v.Node)
			if x == nil {
				return nil
			}
			return func(c *evalCtx) bool { return !x(c) }
		}
	case *ast.BinaryNode:
		return tc.compileBinary(v)
	case *ast.CallNode:
		id, ok := v.Callee.(*ast.IdentifierNode)
		if !ok {
			return nil
		}
		if id.Value == fnHas {
			sym, ok := symArg(v)
			if !ok {
				return nil
			}
			return func(c *evalCtx) bool { return c.has(sym) }
		}
		h := tc.env.helper(id.Value)
		if h == nil || h.typed == nil {
			return nil
		}
		if fn, ok := h.typed(tc, v.Arguments).(boolFn); ok && fn != nil {
			return fn
		}
	}
	return nil
}

func (tc *typedCompiler) compileBinary(v *ast.BinaryNode) boolFn {
	switch v.Operator {
	case "&&", "and", "||", "or":
		l, r := tc.compileBool(v.Left), tc.compileBool(v.Right)
		if l == nil || r == nil {
			return nil
		}
		if v.Operator == "&&" || v.Operator == "and" {
			return func(c *evalCtx) bool { return l(c) && r(c) }
		}
		return func(c *evalCtx) bool { return l(c) || r(c) }
	case "==", "!=":
		eq := tc.compileEqual(v.Left, v.Right)
		if eq == nil {
			return nil
		}
		if v.Operator == "!=" {
			return func(c *evalCtx) bool { return !eq(c) }
		}
		return eq
	case "in":
		x := tc.compileString(v.Left)
		if x == nil {
			return nil
		}
		set := constStringSet(v.Right)
		if set == nil {
			return nil
		}
		if len(set) <= 8 {
			// A few strings: comparing beats hashing.
			list := make([]string, 0, len(set))
			for k := range set {
				list = append(list, k)
			}
			sortStrings(list)
			return func(c *evalCtx) bool {
				v := x(c)
				for _, k := range list {
					if string(v) == k {
						return true
					}
				}
				return false
			}
		}
		return func(c *evalCtx) bool { _, ok := set[string(x(c))]; return ok }
	case "contains", "startsWith", "endsWith":
		x := tc.compileString(v.Left)
		k, ok := constString(v.Right)
		if x == nil || !ok {
			return nil
		}
		kb := []byte(k)
		switch v.Operator {
		case "contains":
			return func(c *evalCtx) bool { return bytes.Contains(x(c), kb) }
		case "startsWith":
			return func(c *evalCtx) bool { return bytes.HasPrefix(x(c), kb) }
		default:
			return func(c *evalCtx) bool { return bytes.HasSuffix(x(c), kb) }
		}
	case "matches":
		x := tc.compileString(v.Left)
		k, ok := constString(v.Right)
		if x == nil || !ok {
			return nil
		}
		re, err := regexp.Compile(k)
		if err != nil {
			return nil
		}
		return func(c *evalCtx) bool { return re.Match(x(c)) }
	}
	return nil
}

func (tc *typedCompiler) compileEqual(a, b ast.Node) boolFn {
	if _, ok := constString(b); ok {
		a, b = b, a
	}
	if k, ok := constString(a); ok {
		if sym, ok := fieldArg(b); ok {
			// The common case: a field against a constant, one call.
			return fieldEquals(sym, k)
		}
		x := tc.compileString(b)
		if x == nil {
			return nil
		}
		return func(c *evalCtx) bool { return string(x(c)) == k }
	}
	x, y := tc.compileString(a), tc.compileString(b)
	if x != nil && y != nil {
		return func(c *evalCtx) bool { return bytes.Equal(x(c), y(c)) }
	}
	p, q := tc.compileBool(a), tc.compileBool(b)
	if p != nil && q != nil && isBoolNode(a) && isBoolNode(b) {
		return func(c *evalCtx) bool { return p(c) == q(c) }
	}
	return nil
}

func isBoolNode(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind().String() == "bool"
}

func (tc *typedCompiler) compileString(n ast.Node) strFn {
	if k, ok := constString(n); ok {
		kb := []byte(k)
		return func(*evalCtx) []byte { return kb }
	}
	call, ok := n.(*ast.CallNode)
	if !ok {
		return nil
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	if id.Value == fnField {
		sym, ok := symArg(call)
		if !ok {
			return nil
		}
		return func(c *evalCtx) []byte { v, _ := c.field(sym); return v }
	}
	h := tc.env.helper(id.Value)
	if h == nil || h.typed == nil {
		return nil
	}
	if fn, ok := h.typed(tc, call.Arguments).(strFn); ok && fn != nil {
		return fn
	}
	return nil
}

// constStringSet returns the set of a constant string array, as written or
// as expr's optimizer stores it (map[string]struct{}).
func constStringSet(n ast.Node) map[string]struct{} {
	switch v := n.(type) {
	case *ast.ConstantNode:
		switch m := v.Value.(type) {
		case map[string]struct{}:
			return m
		case []any:
			out := map[string]struct{}{}
			for _, e := range m {
				s, ok := e.(string)
				if !ok {
					return nil
				}
				out[s] = struct{}{}
			}
			return out
		}
	case *ast.ArrayNode:
		out := map[string]struct{}{}
		for _, e := range v.Nodes {
			s, ok := constString(e)
			if !ok {
				return nil
			}
			out[s] = struct{}{}
		}
		return out
	}
	return nil
}

func typedOSRegex(tc *typedCompiler, args []ast.Node) any {
	x := tc.compileString(args[0])
	pat, ok := constString(args[1])
	if x == nil || !ok {
		return nil
	}
	re, err := tc.env.regex(pat)
	if err != nil {
		return nil
	}
	if sym, ok := fieldArg(args[0]); ok {
		// The common case: a field against a constant pattern, without
		// the value closure in between.
		if len(re.subs) == 1 && re.subs[0].litOK {
			sub := &re.subs[0]
			if fw, ok := newFoldWords(sub.lit); ok {
				// A value as long as the text matches whatever the
				// anchors iff it equals the text (folding case): the
				// common case, compared as words.
				n := len(sub.lit)
				return boolFn(func(c *evalCtx) bool {
					v, _ := c.field(sym)
					if len(v) == n {
						return fw.equal(v)
					}
					return len(v) > n && litMatch(sub, v)
				})
			}
			return boolFn(func(c *evalCtx) bool {
				v, _ := c.field(sym)
				return len(v) > 0 && litMatch(sub, v)
			})
		}
		return boolFn(func(c *evalCtx) bool { v, _ := c.field(sym); return re.Match(v) })
	}
	return boolFn(func(c *evalCtx) bool { return re.Match(x(c)) })
}

func typedOSMatch(tc *typedCompiler, args []ast.Node) any {
	x := tc.compileString(args[0])
	pat, ok := constString(args[1])
	if x == nil || !ok {
		return nil
	}
	m, err := tc.env.match(pat)
	if err != nil {
		return nil
	}
	return boolFn(func(c *evalCtx) bool { return m.Match(x(c)) })
}

func typedInList(tc *typedCompiler, args []ast.Node) any {
	name, ok := constString(args[0])
	x := tc.compileString(args[1])
	if !ok || x == nil {
		return nil
	}
	l, err := tc.env.list(name)
	if err != nil {
		return nil
	}
	return boolFn(func(c *evalCtx) bool { _, ok := l.m[string(x(c))]; return ok })
}

func typedListValue(tc *typedCompiler, args []ast.Node) any {
	name, ok := constString(args[0])
	x := tc.compileString(args[1])
	if !ok || x == nil {
		return nil
	}
	l, err := tc.env.list(name)
	if err != nil {
		return nil
	}
	return strFn(func(c *evalCtx) []byte { return l.m[string(x(c))] })
}

// fieldEquals is field(sym) == k. A constant of up to 16 bytes is compared
// as at most two loads of the value, overlapping when the length is not a
// power of two, against words made from k at compile time: a comparison
// with a constant known only at run time otherwise calls memequal, which
// costs more than the rest of the test.
func fieldEquals(sym int32, k string) boolFn {
	n := len(k)
	switch {
	case n == 0:
		return func(c *evalCtx) bool { v, _ := c.field(sym); return len(v) == 0 }
	case n <= 3:
		// Bytes 0, n/2 and n-1 are every byte of a value of 1 to 3.
		a, m, z := k[0], k[n/2], k[n-1]
		return func(c *evalCtx) bool {
			v, _ := c.field(sym)
			return len(v) == n && v[0] == a && v[n/2] == m && v[n-1] == z
		}
	case n <= 8:
		lo, hi := binary.LittleEndian.Uint32([]byte(k)), binary.LittleEndian.Uint32([]byte(k[n-4:]))
		return func(c *evalCtx) bool {
			v, _ := c.field(sym)
			return len(v) == n && binary.LittleEndian.Uint32(v) == lo && binary.LittleEndian.Uint32(v[n-4:]) == hi
		}
	case n <= 16:
		lo, hi := binary.LittleEndian.Uint64([]byte(k)), binary.LittleEndian.Uint64([]byte(k[n-8:]))
		return func(c *evalCtx) bool {
			v, _ := c.field(sym)
			return len(v) == n && binary.LittleEndian.Uint64(v) == lo && binary.LittleEndian.Uint64(v[n-8:]) == hi
		}
	}
	return func(c *evalCtx) bool { v, _ := c.field(sym); return string(v) == k }
}

// foldWords compares a value of the same length as a lower-case text of 1
// to 16 bytes under litMatch's case folding (lower(v[i]) == lit[i]) with at
// most two loads: the value's bytes as words, ORed with 0x20 where the
// text has a letter, against the text's words (see fieldEquals for the
// loads).
type foldWords struct {
	n        int
	w0, w1   uint64 // the text's words
	or0, or1 uint64 // 0x20 at each byte where the text has a letter
}

// newFoldWords returns the words of lit; false when lit is empty, longer
// than 16 bytes or has an upper-case letter (which folding never matches:
// the caller keeps litMatch).
func newFoldWords(lit string) (foldWords, bool) {
	n := len(lit)
	if n == 0 || n > 16 {
		return foldWords{}, false
	}
	or := make([]byte, n)
	for i := 0; i < n; i++ {
		switch c := lit[i]; {
		case c >= 'A' && c <= 'Z':
			return foldWords{}, false
		case c >= 'a' && c <= 'z':
			or[i] = 0x20
		}
	}
	f := foldWords{n: n}
	f.w0, f.w1 = words(n, []byte(lit))
	f.or0, f.or1 = words(n, or)
	return f, true
}

// words loads b (of length n, 1 to 16) as fieldEquals does: bytes 0, n/2
// and n-1 below 4 bytes; two overlapping 32-bit loads up to 8; two
// overlapping 64-bit loads up to 16.
func words(n int, b []byte) (uint64, uint64) {
	switch {
	case n <= 3:
		return uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16, 0
	case n <= 8:
		return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32, 0
	}
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
}

// equal reports lower(v[i]) == lit[i] for every i; len(v) must be f.n.
func (f *foldWords) equal(v []byte) bool {
	w0, w1 := words(f.n, v)
	return w0|f.or0 == f.w0 && w1|f.or1 == f.w1
}
