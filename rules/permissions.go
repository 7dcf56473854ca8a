package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/vpcalertd/vpcalertd/event"
)

// The world_open helpers: EC2 IP permissions (security-group rules) that
// let the whole internet in, read from a CloudTrail request or response
// object whatever shape EC2 logged it in.

// objectHelper builds a helper whose first argument is a field reference to
// an object (aws.requestParameters): the field patcher rewrites
// name(aws.x, …) into _name($env, "aws.x", …), and the public name only
// reports a misuse. extra is the number of int arguments after the object.
func objectHelper(name string, sig, internalSig any, extra int) helper {
	msg := fmt.Sprintf("%s() takes a field reference to an object, e.g. %s(aws.requestParameters", name, name)
	if extra > 0 {
		msg += ", 22"
	}
	msg += ")"
	return helper{
		name: name,
		sig:  sig,
		impl: func(*helperEnv) func(...any) (any, error) {
			return func(...any) (any, error) { return nil, errors.New(msg) }
		},
		check:  func(*helperEnv, []ast.Node) error { return errors.New(msg) },
		object: "_" + name,
		internal: &helper{
			name: "_" + name,
			sig:  internalSig,
			impl: func(*helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					port := 0
					if extra > 0 {
						port = p[2].(int)
					}
					return worldOpen(p[0].(*exprEnv).c.ev, p[1].(string), worldWant(name, port)), nil
				}
			},
			typed: func(tc *typedCompiler, args []ast.Node) any {
				path, ok := constString(args[1])
				if !ok {
					return nil
				}
				port := 0
				if extra > 0 {
					p, ok := constInt(args[2])
					if !ok {
						return nil
					}
					port = p
				}
				want := worldWant(name, port)
				return boolFn(func(c *evalCtx) bool { return worldOpen(c.ev, path, want) })
			},
		},
	}
}

func constInt(n ast.Node) (int, bool) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return v.Value, true
	case *ast.ConstantNode:
		i, ok := v.Value.(int)
		return i, ok
	}
	return 0, false
}

// Port selectors of worldOpen.
const (
	wantAny      = -2 // any port
	wantAllPorts = -1 // every port
)

func worldWant(name string, port int) int {
	switch name {
	case "world_open":
		return wantAny
	case "world_open_all_ports":
		return wantAllPorts
	}
	return port
}

// worldOpen reports whether the EC2 IP permissions under the object path
// (a CloudTrail requestParameters or responseElements) allow traffic from a
// /0 block (0.0.0.0/0, ::/0): on any port (wantAny), on every port
// (wantAllPorts: protocol -1, or TCP/UDP 0–65535), or on a given port.
// It reads the three shapes EC2 logs (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html): the
// flat cidrIp/fromPort/toPort/ipProtocol request, ipPermissions.items[]
// with ipRanges.items[].cidrIp and ipv6Ranges.items[].cidrIpv6, and the
// securityGroupRuleSet.items[] of the response (cidrIpv4, cidrIpv6;
// isEgress true is skipped). Lists of one element arrive unwrapped, longer
// ones as JSON array text (docs/wazuh-compat.md, "CloudTrail records" and "Decoded values"); both are read.
func worldOpen(ev *event.Event, path string, want int) bool {
	tree := objectTree(ev, path)
	if tree == nil {
		return false
	}
	found := false
	walkMaps(tree, func(m map[string]any) {
		if found || !isPermission(m) || scalar(m["isegress"]) == "true" {
			return
		}
		world := false
		for _, k := range []string{"cidrip", "cidripv4", "cidripv6"} {
			if s := scalar(m[k]); s != "" && isWorldCIDR([]byte(s)) {
				world = true
			}
		}
		for _, r := range [][2]string{{"ipranges", "cidrip"}, {"ipv6ranges", "cidripv6"}} {
			for _, s := range collect(m[r[0]], r[1]) {
				if isWorldCIDR([]byte(s)) {
					world = true
				}
			}
		}
		if world && portsCover(m, want) {
			found = true
		}
	})
	return found
}

func isPermission(m map[string]any) bool {
	for _, k := range []string{"ipprotocol", "fromport", "toport", "cidrip", "cidripv4", "cidripv6", "ipranges", "ipv6ranges"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// portsCover reports whether a permission's protocol and port range cover
// want.
func portsCover(m map[string]any, want int) bool {
	if want == wantAny {
		return true
	}
	proto := strings.ToLower(scalar(m["ipprotocol"]))
	if proto == "-1" || proto == "all" {
		return true
	}
	if proto != "tcp" && proto != "udp" && proto != "6" && proto != "17" {
		return false
	}
	from, err1 := strconv.Atoi(scalar(m["fromport"]))
	to, err2 := strconv.Atoi(scalar(m["toport"]))
	if err1 != nil || err2 != nil {
		return false
	}
	if want == wantAllPorts {
		return from <= 0 && to >= 65535
	}
	return from <= want && want <= to
}

// objectTree rebuilds the object at path from the event's flat fields:
// keys lower case, scalars as their text, arrays decoded from their JSON.
func objectTree(ev *event.Event, path string) map[string]any {
	prefix := path + "."
	var root map[string]any
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Kind == event.EmptyObject || len(f.Key) <= len(prefix) || !strings.EqualFold(f.Key[:len(prefix)], prefix) {
			continue
		}
		var v any
		if f.Kind == event.Array {
			if err := json.Unmarshal(f.Value, &v); err != nil {
				continue
			}
		} else {
			v = f.Text()
		}
		if root == nil {
			root = map[string]any{}
		}
		parts := strings.Split(strings.ToLower(f.Key[len(prefix):]), ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return root
}

// walkMaps calls fn on every object inside v, v included.
func walkMaps(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		lowered := x
		for k := range x {
			if k != strings.ToLower(k) {
				lowered = lowerKeys(x)
				break
			}
		}
		fn(lowered)
		for _, c := range lowered {
			walkMaps(c, fn)
		}
	case []any:
		for _, c := range x {
			walkMaps(c, fn)
		}
	}
}

// lowerKeys lower-cases the keys of an object decoded from an array's JSON.
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// collect returns the scalar values of key found anywhere inside v.
func collect(v any, key string) []string {
	var out []string
	walkMaps(v, func(m map[string]any) {
		if s := scalar(m[key]); s != "" {
			out = append(out, s)
		}
	})
	return out
}

// scalar returns a value's text: strings as is, JSON numbers and booleans
// as Wazuh prints them, anything else "".
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
