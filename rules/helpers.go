package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// exprEnv is the expr environment. Conditions never name it: the field
// patcher turns every field reference into a call that passes $env.
type exprEnv struct {
	c *evalCtx
}

// helper is one row of the helper table: a function conditions can call.
type helper struct {
	name string
	// sig is the typed signature given to expr, e.g. new(func(string, string) bool).
	sig any
	// impl is the expr implementation (the VM fallback path).
	impl func(h *helperEnv) func(params ...any) (any, error)
	// check validates constant arguments at load time (pattern syntax,
	// list names); nil when there is nothing to check.
	check func(h *helperEnv, args []ast.Node) error
	// typed builds the Go closure for the fast path, or returns nil when
	// the argument shapes are not supported (the condition then runs on
	// the VM).
	typed func(tc *typedCompiler, args []ast.Node) any
	// object, when set, is the name of the internal helper the field
	// patcher calls instead when the first argument is a field reference
	// to an object: name(aws.x, …) becomes object($env, "aws.x", …).
	object   string
	internal *helper
}

// helperEnv is what helper implementations may use: the lists and the
// patterns compiled at load.
type helperEnv struct {
	lists   map[string]*List
	regexes map[string]*OSRegex
	matches map[string]*OSMatch
	byName  map[string]*helper
	tries   map[string]*cidrTrie // CIDR lists by name, built at load
	// listErrs are the problems of lists read as CIDR lists, by name.
	listErrs map[string]error
	// loading is true while the Set loads: compiled patterns are cached;
	// afterwards the caches are read-only.
	loading bool
}

// Internal helpers the field patcher emits.
const (
	fnField = "_f"
	fnHas   = "_has"
)

// helperRows lists every function a condition can call. Adding a helper
// is one row. The network helpers (netHelperRows) are appended to it.
func helperRows() []helper {
	return []helper{
		{
			name: fnField,
			sig:  new(func(*exprEnv, int) string),
			impl: func(*helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					v, _ := p[0].(*exprEnv).c.field(int32(p[1].(int)))
					return string(v), nil
				}
			},
		},
		{
			name: fnHas,
			sig:  new(func(*exprEnv, int) bool),
			impl: func(*helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					_, ok := p[0].(*exprEnv).c.field(int32(p[1].(int)))
					return ok, nil
				}
			},
		},
		{
			// has(field) is rewritten to _has by the field patcher; this row
			// exists so that expr knows the name.
			name: "has",
			sig:  new(func(string) bool),
			impl: func(*helperEnv) func(...any) (any, error) {
				return func(...any) (any, error) {
					return nil, errors.New("has() takes a field reference, e.g. has(aws.errorCode)")
				}
			},
			check: func(_ *helperEnv, args []ast.Node) error {
				return errors.New("has() takes a field reference, e.g. has(aws.errorCode)")
			},
		},
		{
			// field("name") refers to a field whose name is not an identifier
			// chain; the patcher rewrites it to _f.
			name: "field",
			sig:  new(func(string) string),
			impl: func(*helperEnv) func(...any) (any, error) {
				return func(...any) (any, error) {
					return nil, errors.New(`field() takes a constant name, e.g. field("aws.x-y")`)
				}
			},
			check: func(_ *helperEnv, args []ast.Node) error {
				return errors.New(`field() takes a constant name, e.g. field("aws.x-y")`)
			},
		},
		{
			name: "osregex",
			sig:  new(func(string, string) bool),
			impl: func(h *helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					re, err := h.regex(p[1].(string))
					if err != nil {
						return nil, err
					}
					return re.MatchString(p[0].(string)), nil
				}
			},
			check: func(h *helperEnv, args []ast.Node) error {
				if pat, ok := constString(args[1]); ok {
					_, err := h.regex(pat)
					return err
				}
				return nil
			},
			typed: typedOSRegex,
		},
		{
			name: "osmatch",
			sig:  new(func(string, string) bool),
			impl: func(h *helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					m, err := h.match(p[1].(string))
					if err != nil {
						return nil, err
					}
					return m.MatchString(p[0].(string)), nil
				}
			},
			check: func(h *helperEnv, args []ast.Node) error {
				if pat, ok := constString(args[1]); ok {
					_, err := h.match(pat)
					return err
				}
				return nil
			},
			typed: typedOSMatch,
		},
		{
			name: "in_list",
			sig:  new(func(string, string) bool),
			impl: func(h *helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					l, err := h.list(p[0].(string))
					if err != nil {
						return nil, err
					}
					_, ok := l.m[p[1].(string)]
					return ok, nil
				}
			},
			check: checkListArg,
			typed: typedInList,
		},
		{
			name: "list_value",
			sig:  new(func(string, string) string),
			impl: func(h *helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					l, err := h.list(p[0].(string))
					if err != nil {
						return nil, err
					}
					return string(l.m[p[1].(string)]), nil
				}
			},
			check: checkListArg,
			typed: typedListValue,
		},
	}
}

func checkListArg(h *helperEnv, args []ast.Node) error {
	name, ok := constString(args[0])
	if !ok {
		return errors.New("the list name must be a constant string")
	}
	_, err := h.list(name)
	return err
}

// ErrUnknownList is wrapped when a condition names a list that no layer has.
var ErrUnknownList = errors.New("unknown list")

func (h *helperEnv) list(name string) (*List, error) {
	l, ok := h.lists[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownList, name)
	}
	return l, nil
}

// regex returns the pattern compiled at load, or compiles a pattern that
// was not constant (without caching: the cache is read-only after load).
func (h *helperEnv) regex(pat string) (*OSRegex, error) {
	if re, ok := h.regexes[pat]; ok {
		return re, nil
	}
	re, err := CompileOSRegex(pat)
	if err == nil && h.loading {
		h.regexes[pat] = re
	}
	return re, err
}

func (h *helperEnv) match(pat string) (*OSMatch, error) {
	if m, ok := h.matches[pat]; ok {
		return m, nil
	}
	m, err := CompileOSMatch(pat)
	if err == nil && h.loading {
		h.matches[pat] = m
	}
	return m, err
}

// newHelperEnv builds the helper table over the given lists.
func newHelperEnv(lists map[string]*List) *helperEnv {
	h := &helperEnv{lists: lists, regexes: map[string]*OSRegex{}, matches: map[string]*OSMatch{},
		byName: map[string]*helper{}, tries: map[string]*cidrTrie{}, listErrs: map[string]error{}}
	rows := append(helperRows(), netHelperRows()...)
	for i := range rows {
		h.byName[rows[i].name] = &rows[i]
		if in := rows[i].internal; in != nil {
			h.byName[in.name] = in
		}
	}
	return h
}

// exprOptions turns the helper table into expr options.
func (h *helperEnv) exprOptions() []expr.Option {
	opts := make([]expr.Option, 0, len(h.byName))
	for _, row := range h.byName {
		opts = append(opts, expr.Function(row.name, row.impl(h), row.sig))
	}
	return opts
}

func (h *helperEnv) helper(name string) *helper { return h.byName[name] }

// publicNames lists the helpers a condition can name, sorted.
func (h *helperEnv) publicNames() []string {
	var out []string
	for name := range h.byName {
		if !strings.HasPrefix(name, "_") {
			out = append(out, name)
		}
	}
	sortStrings(out)
	return out
}

// constString returns the value of a constant string node.
func constString(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.ConstantNode:
		s, ok := v.Value.(string)
		return s, ok
	}
	return "", false
}
