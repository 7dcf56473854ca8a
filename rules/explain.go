package rules

import (
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Explaining a false condition, for logtest -v and failing inline tests:
// walk the condition's expression tree down the "&&" that failed to the
// smallest part that is false on its own, and read the fields that part
// reads. Each part is compiled on the first explanation (never on the
// evaluation path) with the same compiler as the condition.

// FieldValue is a field a false condition part read, with its value.
type FieldValue struct {
	Name    string // as written in the condition
	Value   string // the value read ("" when missing)
	Present bool   // false: the event has no such field
}

// String formats the value as explanations print it: aws.dstport = "443",
// or aws.dstport is missing.
func (v FieldValue) String() string {
	if !v.Present {
		return v.Name + " is missing"
	}
	return v.Name + " = " + strconv.Quote(v.Value)
}

// explainNode is one part of a condition: an "&&" of parts, or a part
// that is explained whole (a comparison, a call, an "||", a "!").
type explainNode struct {
	src  string
	and  []*explainNode // the operands of an "&&", nil for a whole part
	cond *condition     // the part compiled alone; nil when it cannot be
	refs []fieldRef     // the fields the part reads
}

// explainer is a condition's explanation tree, built once.
type explainer struct {
	once sync.Once
	root *explainNode
}

// explainTree returns the explanation tree of cond, building it on first
// use.
func (s *Set) explainTree(cond *condition) *explainNode {
	cond.explain.once.Do(func() {
		tree, err := parser.Parse(cond.src)
		if err != nil {
			cond.explain.root = &explainNode{src: oneLine(cond.src), cond: cond, refs: cond.refs}
			return
		}
		cond.explain.root = s.explainNode(cond, tree.Node, true)
	})
	return cond.explain.root
}

func (s *Set) explainNode(cond *condition, n ast.Node, root bool) *explainNode {
	src := oneLine(nodeSource(cond.src, n))
	if root {
		src = oneLine(cond.src)
	}
	en := &explainNode{src: src}
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		for _, k := range splitAnd(n) {
			kn := s.explainNode(cond, k, false)
			en.and = append(en.and, kn)
			en.refs = append(en.refs, kn.refs...)
		}
		return en
	}
	if root {
		en.cond = cond
	} else if c, errs := s.ce.compileCondition(src); len(errs) == 0 {
		en.cond = c
	}
	if en.cond != nil {
		en.refs = en.cond.refs
	}
	return en
}

// why returns the smallest part of cond that is false for the current
// event and the values of the fields it reads.
func (c *evalCtx) why(cond *condition) (string, []FieldValue) {
	n := c.set.explainTree(cond)
	for n.and != nil {
		var next *explainNode
		for _, k := range n.and {
			if !c.partHolds(k) {
				next = k
				break
			}
		}
		if next == nil {
			break // the parts that can be tried alone hold: explain the whole
		}
		n = next
	}
	var vals []FieldValue
	seen := map[string]bool{}
	for _, r := range n.refs {
		low := strings.ToLower(r.name)
		if r.object || seen[low] {
			continue
		}
		seen[low] = true
		v := FieldValue{Name: r.name}
		if sym := c.set.syms.Lookup(r.name); sym >= 0 {
			if b, ok := c.field(sym); ok {
				v.Value, v.Present = string(b), true
			}
		}
		vals = append(vals, v)
	}
	return n.src, vals
}

// partHolds reports whether a part holds; a part that cannot be compiled
// alone (it uses a let variable) counts as holding.
func (c *evalCtx) partHolds(n *explainNode) bool {
	if n.and != nil {
		for _, k := range n.and {
			if !c.partHolds(k) {
				return false
			}
		}
		return true
	}
	if n.cond == nil {
		return true
	}
	ok, err := c.holds(n.cond)
	return ok && err == nil
}

// holds evaluates a compiled condition on the current event, without
// counting or reporting errors (explanations only).
func (c *evalCtx) holds(cond *condition) (bool, error) {
	if cond.typed {
		for i := range cond.conj {
			if !cond.conj[i].fn(c) {
				return false, nil
			}
		}
		return true, nil
	}
	return c.runVM(cond)
}
