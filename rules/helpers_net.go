package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/vpcalertd/vpcalertd/event"
)

// Network helpers for VPC rules: addresses, CIDR blocks and lists,
// protocol numbers, TCP flags, and EC2 IP permissions opened to the world.
// Each row has a VM implementation and a typed closure; constant arguments
// (CIDR blocks, list names, flag names) are parsed once at load.

// netHelperRows is appended to helperRows.
func netHelperRows() []helper {
	return []helper{
		{
			name:  "cidr_match",
			sig:   new(func(string, string) bool),
			impl:  vmFn2(func(h *helperEnv, ip, cidr string) (any, error) { return cidrMatchText(ip, cidr) }),
			check: checkConstCIDR,
			typed: typedCIDRMatch,
		},
		{
			name: "is_private",
			sig:  new(func(string) bool),
			impl: vmFn1(func(_ *helperEnv, ip string) (any, error) {
				a, ok := parseAddr([]byte(ip))
				return ok && isPrivateAddr(a), nil
			}),
			typed: typedAddrTest(isPrivateAddr),
		},
		{
			name: "is_public",
			sig:  new(func(string) bool),
			impl: vmFn1(func(_ *helperEnv, ip string) (any, error) {
				a, ok := parseAddr([]byte(ip))
				return ok && isPublicAddr(a), nil
			}),
			typed: typedAddrTest(isPublicAddr),
		},
		{
			name:  "is_world_cidr",
			sig:   new(func(string) bool),
			impl:  vmFn1(func(_ *helperEnv, s string) (any, error) { return isWorldCIDR([]byte(s)), nil }),
			typed: typedBytesTest(isWorldCIDR),
		},
		{
			// in_cidr_list(name, ip, ...): any of the addresses is in the list.
			name: "in_cidr_list",
			sig:  new(func(string, string, ...string) bool),
			impl: func(h *helperEnv) func(...any) (any, error) {
				return func(p ...any) (any, error) {
					t, err := h.trie(p[0].(string))
					if err != nil {
						return nil, err
					}
					for _, ip := range p[1:] {
						if _, ok := t.lookupText([]byte(ip.(string))); ok {
							return true, nil
						}
					}
					return false, nil
				}
			},
			check: checkCIDRListArg,
			typed: typedInCIDRList,
		},
		{
			name: "cidr_list_value",
			sig:  new(func(string, string) string),
			impl: vmFn2(func(h *helperEnv, name, ip string) (any, error) {
				t, err := h.trie(name)
				if err != nil {
					return nil, err
				}
				v, _ := t.lookupText([]byte(ip))
				return string(v), nil
			}),
			check: checkCIDRListArg,
			typed: typedCIDRListValue,
		},
		{
			name:  "proto_name",
			sig:   new(func(string) string),
			impl:  vmFn1(func(_ *helperEnv, n string) (any, error) { return string(protoName([]byte(n))), nil }),
			typed: typedBytesMap(protoName),
		},
		{
			name:  "tcp_flags",
			sig:   new(func(string) string),
			impl:  vmFn1(func(_ *helperEnv, n string) (any, error) { return string(tcpFlagNames([]byte(n))), nil }),
			typed: typedBytesMap(tcpFlagNames),
		},
		{
			name: "has_tcp_flag",
			sig:  new(func(string, string) bool),
			impl: vmFn2(func(_ *helperEnv, n, name string) (any, error) {
				bit, err := tcpFlagBit(name)
				if err != nil {
					return nil, err
				}
				v, ok := parseUint8(n)
				return ok && v&bit != 0, nil
			}),
			check: func(_ *helperEnv, args []ast.Node) error {
				if name, ok := constString(args[1]); ok {
					_, err := tcpFlagBit(name)
					return err
				}
				return nil
			},
			typed: typedHasTCPFlag,
		},
		objectHelper("world_open", new(func(string) bool), new(func(*exprEnv, string) bool), 0),
		objectHelper("world_open_port", new(func(string, int) bool), new(func(*exprEnv, string, int) bool), 1),
		objectHelper("world_open_all_ports", new(func(string) bool), new(func(*exprEnv, string) bool), 0),
	}
}

// vmFn1 and vmFn2 adapt a typed function to expr's func(...any).
func vmFn1(f func(h *helperEnv, a string) (any, error)) func(h *helperEnv) func(...any) (any, error) {
	return func(h *helperEnv) func(...any) (any, error) {
		return func(p ...any) (any, error) { return f(h, p[0].(string)) }
	}
}

func vmFn2(f func(h *helperEnv, a, b string) (any, error)) func(h *helperEnv) func(...any) (any, error) {
	return func(h *helperEnv) func(...any) (any, error) {
		return func(p ...any) (any, error) { return f(h, p[0].(string), p[1].(string)) }
	}
}

func cidrMatchText(ip, cidr string) (any, error) {
	p, err := parseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("cidr_match: %w", err)
	}
	a, ok := parseAddr([]byte(ip))
	return ok && p.Contains(a), nil
}

func checkConstCIDR(_ *helperEnv, args []ast.Node) error {
	if s, ok := constString(args[1]); ok {
		if _, err := parseCIDR(s); err != nil {
			return fmt.Errorf("bad CIDR block %q: %w", s, err)
		}
	}
	return nil
}

func typedCIDRMatch(tc *typedCompiler, args []ast.Node) any {
	x := tc.addrArg(args[0])
	s, ok := constString(args[1])
	if x == nil || !ok {
		return nil
	}
	p, err := parseCIDR(s)
	if err != nil {
		return nil
	}
	return boolFn(func(c *evalCtx) bool {
		a, ok := x(c)
		return ok && p.Contains(a)
	})
}

func typedAddrTest(test func(netip.Addr) bool) func(tc *typedCompiler, args []ast.Node) any {
	return func(tc *typedCompiler, args []ast.Node) any {
		x := tc.addrArg(args[0])
		if x == nil {
			return nil
		}
		return boolFn(func(c *evalCtx) bool {
			a, ok := x(c)
			return ok && test(a)
		})
	}
}

func typedBytesTest(test func([]byte) bool) func(tc *typedCompiler, args []ast.Node) any {
	return func(tc *typedCompiler, args []ast.Node) any {
		x := tc.compileString(args[0])
		if x == nil {
			return nil
		}
		return boolFn(func(c *evalCtx) bool { return test(x(c)) })
	}
}

func typedBytesMap(f func([]byte) []byte) func(tc *typedCompiler, args []ast.Node) any {
	return func(tc *typedCompiler, args []ast.Node) any {
		x := tc.compileString(args[0])
		if x == nil {
			return nil
		}
		return strFn(func(c *evalCtx) []byte { return f(x(c)) })
	}
}

func checkCIDRListArg(h *helperEnv, args []ast.Node) error {
	name, ok := constString(args[0])
	if !ok {
		return errors.New("the list name must be a constant string")
	}
	_, err := h.trie(name)
	return err
}

// trie returns the CIDR trie of a list, built at load on first use.
func (h *helperEnv) trie(name string) (*cidrTrie, error) {
	if t, ok := h.tries[name]; ok {
		return t, nil
	}
	l, err := h.list(name)
	if err != nil {
		return nil, err
	}
	t, err := newCIDRTrie(l)
	if err != nil {
		return nil, err
	}
	if h.loading {
		h.tries[name] = t
	}
	return t, nil
}

func typedInCIDRList(tc *typedCompiler, args []ast.Node) any {
	name, ok := constString(args[0])
	if !ok {
		return nil
	}
	var addrs []func(c *evalCtx) (netip.Addr, bool)
	for _, a := range args[1:] {
		x := tc.addrArg(a)
		if x == nil {
			return nil
		}
		addrs = append(addrs, x)
	}
	t, err := tc.env.trie(name)
	if err != nil {
		return nil
	}
	if t.empty() {
		return boolFn(func(*evalCtx) bool { return false })
	}
	return boolFn(func(c *evalCtx) bool {
		for _, x := range addrs {
			if a, ok := x(c); ok {
				if _, ok := t.lookup(a); ok {
					return true
				}
			}
		}
		return false
	})
}

func typedCIDRListValue(tc *typedCompiler, args []ast.Node) any {
	name, ok := constString(args[0])
	x := tc.addrArg(args[1])
	if !ok || x == nil {
		return nil
	}
	t, err := tc.env.trie(name)
	if err != nil {
		return nil
	}
	return strFn(func(c *evalCtx) []byte {
		a, ok := x(c)
		if !ok {
			return nil
		}
		v, _ := t.lookup(a)
		return v
	})
}

// parseUint8 parses a decimal 0–255.
func parseUint8(s string) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

func parseUint8Bytes(b []byte) (uint8, bool) {
	if len(b) == 0 || len(b) > 3 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint8(n), n <= 255
}

// protoNames are the IANA keywords of the protocol numbers flow logs
// carry (https://www.iana.org/assignments/protocol-numbers), lower case
// as in /etc/protocols.
var protoNames = func() (t [256][]byte) {
	for n, name := range map[int]string{
		0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 9: "igp", 17: "udp",
		27: "rdp", 33: "dccp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre",
		50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 88: "eigrp",
		89: "ospfigp", 94: "ipip", 97: "etherip", 103: "pim", 108: "ipcomp", 112: "vrrp",
		115: "l2tp", 132: "sctp", 136: "udplite", 137: "mpls-in-ip",
	} {
		t[n] = []byte(name)
	}
	return t
}()

// protoName returns the keyword of a protocol number, or the value itself
// when it is not a number with a keyword.
func protoName(v []byte) []byte {
	if n, ok := parseUint8Bytes(v); ok && protoNames[n] != nil {
		return protoNames[n]
	}
	return v
}

// tcpFlagList is the bit order of the TCP flags field (RFC 9293); VPC flow
// logs record FIN, SYN, RST and SYN-ACK (reference/aws-formats.md §1.3).
var tcpFlagList = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

var tcpFlagTexts = func() (t [256][]byte) {
	for n := 1; n < 256; n++ {
		var names []string
		for i, f := range tcpFlagList {
			if n&(1<<i) != 0 {
				names = append(names, f)
			}
		}
		t[n] = []byte(strings.Join(names, ","))
	}
	t[0] = []byte{}
	return t
}()

// tcpFlagNames decodes a tcp-flags value: "18" → "SYN,ACK"; "" for 0, "-"
// or anything that is not a number 0–255.
func tcpFlagNames(v []byte) []byte {
	if n, ok := parseUint8Bytes(v); ok {
		return tcpFlagTexts[n]
	}
	return tcpFlagTexts[0]
}

func tcpFlagBit(name string) (uint8, error) {
	for i, f := range tcpFlagList {
		if strings.EqualFold(f, name) {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown TCP flag %q, expected one of %v", name, tcpFlagList)
}

func typedHasTCPFlag(tc *typedCompiler, args []ast.Node) any {
	x := tc.compileString(args[0])
	name, ok := constString(args[1])
	if x == nil || !ok {
		return nil
	}
	bit, err := tcpFlagBit(name)
	if err != nil {
		return nil
	}
	return boolFn(func(c *evalCtx) bool {
		n, ok := parseUint8Bytes(x(c))
		return ok && n&bit != 0
	})
}

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
// It reads the three shapes EC2 logs (reference/aws-formats.md §2.6): the
// flat cidrIp/fromPort/toPort/ipProtocol request, ipPermissions.items[]
// with ipRanges.items[].cidrIp and ipv6Ranges.items[].cidrIpv6, and the
// securityGroupRuleSet.items[] of the response (cidrIpv4, cidrIpv6;
// isEgress true is skipped). Lists of one element arrive unwrapped, longer
// ones as JSON array text (reference/wazuh.md §1.5, §3.2); both are read.
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
