package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
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
			typed: typedAddrTest(isPrivateAddr, isPrivate4, privateNever),
		},
		{
			name: "is_public",
			sig:  new(func(string) bool),
			impl: vmFn1(func(_ *helperEnv, ip string) (any, error) {
				a, ok := parseAddr([]byte(ip))
				return ok && isPublicAddr(a), nil
			}),
			typed: typedAddrTest(isPublicAddr, isPublic4, publicNever),
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
	if _, ok := fieldArg(args[0]); ok && p.Addr().Is4() {
		// An IPv4 block and a field: the address as a number, and the
		// first-byte shortcut (netaddr.go) for the bytes outside the block.
		base, bits := v4(p.Addr()), uint(p.Bits())
		in := func(x uint32) bool { return in4(x, base, bits) }
		return typedAddrTest(p.Contains, in, firstOutside([]block4{{base, bits}}))(tc, args[:1])
	}
	return boolFn(func(c *evalCtx) bool {
		a, ok := x(c)
		return ok && p.Contains(a)
	})
}

// typedAddrTest compiles a test of one address; test4 is test for an IPv4
// address as a number. A field's address comes from the per-event cache
// without a netip.Addr when it is IPv4. never[b] says that test4 is false
// for every IPv4 address whose first byte is b: a field whose text starts
// so is not parsed (slotUnless).
func typedAddrTest(test func(netip.Addr) bool, test4 func(uint32) bool, never *[256]bool) func(tc *typedCompiler, args []ast.Node) any {
	return func(tc *typedCompiler, args []ast.Node) any {
		if sym, ok := fieldArg(args[0]); ok {
			return boolFn(func(c *evalCtx) bool {
				sl := c.slotUnless(sym, never)
				if sl == nil {
					return false
				}
				switch sl.kind {
				case addrV4:
					return test4(sl.x)
				case addrV6:
					return test(sl.a)
				}
				return false
			})
		}
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
	if _, err := h.trie(name); err != nil && !errors.Is(err, ErrBadCIDRList) {
		return err // an unknown list; a bad one is reported at its file
	}
	return nil
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
		if h.loading && h.listErrs[name] == nil {
			// Reported once, against the list file (Load), not against
			// each rule that reads the list.
			h.listErrs[name] = err
		}
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
	var syms []int32
	fields := true // every address is a field
	for _, a := range args[1:] {
		x := tc.addrArg(a)
		if x == nil {
			return nil
		}
		addrs = append(addrs, x)
		sym, ok := fieldArg(a)
		syms, fields = append(syms, sym), fields && ok
	}
	t, err := tc.env.trie(name)
	if err != nil {
		return nil
	}
	if t.empty() {
		return boolFn(func(*evalCtx) bool { return false })
	}
	if fields {
		// Fields: their addresses from the per-event cache, an IPv4
		// one looked up as a number.
		never := t.outside4()
		return boolFn(func(c *evalCtx) bool {
			for _, sym := range syms {
				if c.idx[sym] == 0 {
					continue // absent (pkt-srcaddr of the default format): no address
				}
				sl := c.slotUnless(sym, never)
				if sl == nil {
					continue // no block of the list holds an address starting so
				}
				switch sl.kind {
				case addrV4:
					if t.best4(sl.x) != 0 {
						return true
					}
				case addrV6:
					if _, ok := t.lookup(sl.a); ok {
						return true
					}
				}
			}
			return false
		})
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
// logs record FIN, SYN, RST and SYN-ACK (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html, tcp-flags).
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
