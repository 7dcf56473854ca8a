package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/specfile"
)

func TestParseAddr(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" = not an address
	}{
		{"10.0.1.25", "10.0.1.25"},
		{"0.0.0.0", "0.0.0.0"},
		{"255.255.255.255", "255.255.255.255"},
		{"2001:db8::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"256.0.0.1", ""},
		{"10.0.01.1", ""},
		{"10.0.1", ""},
		{"10.0.1.2.3", ""},
		{"-", ""},
		{"", ""},
		{"eni-0a1b2c3d", ""},
		{"1:2", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			a, ok := parseAddr([]byte(c.in))
			if c.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, c.want, a.String())
			// The hand-written IPv4 parser agrees with netip.
			if b, err := netip.ParseAddr(c.in); err == nil && b.Is4() {
				assert.Equal(t, b, a)
			}
		})
	}
}

func TestAddressClasses(t *testing.T) {
	cases := []struct {
		ip              string
		private, public bool
	}{
		{"10.0.1.25", true, false},
		{"172.16.0.1", true, false},
		{"172.31.255.255", true, false},
		{"172.32.0.1", false, true},
		{"192.168.1.1", true, false},
		{"100.64.0.1", true, false},
		{"100.128.0.1", false, true},
		{"8.8.8.8", false, true},
		{"52.95.128.179", false, true},
		{"203.0.113.45", false, true}, // documentation ranges stand for internet hosts
		{"198.51.100.77", false, true},
		{"127.0.0.1", false, false},
		{"169.254.169.254", false, false},
		{"0.1.2.3", false, false},
		{"192.0.0.8", false, false},
		{"198.18.0.1", false, false},
		{"224.0.0.1", false, false},
		{"240.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"fd12:3456::1", true, false},
		{"fe80::1", false, false},
		{"::1", false, false},
		{"::", false, false},
		{"ff02::1", false, false},
		{"100::1", false, false},
		{"2600:1f18::1", false, true},
		{"2001:db8::1", false, true},
		{"::ffff:10.0.0.1", true, false},
		{"-", false, false},
		{"not an ip", false, false},
	}
	cond := func(f string) string { return f + "(aws.ip)" }
	s := helperSet(t, []string{cond("is_private"), cond("is_public")}, nil)
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			js := `{"aws":{"ip":"` + c.ip + `"}}`
			assert.Equal(t, c.private, evalCond(t, s, 0, js), "is_private")
			assert.Equal(t, c.public, evalCond(t, s, 1, js), "is_public")
		})
	}
	// One evaluator for every case, twice over, an absent address in
	// between: each event's addresses are its own (the per-event cache
	// parses each field again for the next event).
	e := s.NewEvaluator()
	for range 2 {
		for _, c := range cases {
			for _, js := range []string{`{"aws":{"ip":"` + c.ip + `"}}`, `{"aws":{}}`} {
				e.c.index(withSyms(s, mustEvent(t, js)))
				private, public := s.Rule("1").cond.conj[0].fn(&e.c), s.Rule("2").cond.conj[0].fn(&e.c)
				if js == `{"aws":{}}` {
					assert.False(t, private || public, "absent address after %s", c.ip)
					continue
				}
				assert.Equal(t, c.private, private, "is_private(%s) after other events", c.ip)
				assert.Equal(t, c.public, public, "is_public(%s) after other events", c.ip)
			}
		}
	}
}

func TestCIDRHelpers(t *testing.T) {
	conds := []string{
		`cidr_match(aws.ip, "10.0.0.0/8")`,
		`cidr_match(aws.ip, "2001:db8:1234::/48")`,
		`cidr_match(aws.ip, "198.51.100.7")`,
		`is_world_cidr(aws.cidr)`,
	}
	cases := []struct {
		ip, cidr string
		want     [4]bool
	}{
		{"10.200.3.4", "0.0.0.0/0", [4]bool{true, false, false, true}},
		{"11.0.0.1", "::/0", [4]bool{false, false, false, true}},
		{"2001:db8:1234:a100::1", "208.236.235.254/0", [4]bool{false, true, false, true}},
		{"198.51.100.7", "10.0.0.0/8", [4]bool{false, false, true, false}},
		{"198.51.100.8", "0.0.0.0/1", [4]bool{false, false, false, false}},
		{"-", "-", [4]bool{}},
		{"", "/0", [4]bool{}},
	}
	s := helperSet(t, conds, nil)
	for _, c := range cases {
		t.Run(c.ip+" "+c.cidr, func(t *testing.T) {
			js := `{"aws":{"ip":"` + c.ip + `","cidr":"` + c.cidr + `"}}`
			for i := range conds {
				assert.Equal(t, c.want[i], evalCond(t, s, i, js), conds[i])
			}
		})
	}
}

func TestCIDRList(t *testing.T) {
	list := "# Threat list: in a CIDR list, a key starting with # is a comment\n" +
		"a line without a colon is ignored as in every list\n" +
		"10.0.0.0/8:rfc1918\n" +
		"10.1.0.0/16:narrower\n" +
		"10.1.2.3:host\n" +
		"10.1.2.3/32:duplicate keeps the first\n" +
		"\"2001:db8:bad::/48\":v6 block\n" +
		"\"2001:db8:bad::1\":v6 host\n"
	conds := []string{`in_cidr_list("threats", aws.ip)`, `cidr_list_value("threats", aws.ip) == aws.want`,
		`in_cidr_list("threats", aws.missing, "-", aws.ip)`, `in_cidr_list("threats", aws.missing, aws.ip)`}
	s := helperSet(t, conds, map[string]string{"threats": list})
	cases := []struct{ ip, value string }{
		{"10.9.9.9", "rfc1918"},
		{"10.1.9.9", "narrower"},
		{"10.1.2.3", "host"},
		{"2001:db8:bad:1::5", "v6 block"},
		{"2001:db8:bad::1", "v6 host"},
		{"2001:db8:bae::1", ""},
		{"11.0.0.1", ""},
		{"-", ""},
	}
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			js := `{"aws":{"ip":"` + c.ip + `","want":"` + c.value + `"}}`
			assert.Equal(t, c.value != "", evalCond(t, s, 0, js), "in_cidr_list")
			assert.True(t, evalCond(t, s, 1, js), "cidr_list_value")
			assert.Equal(t, c.value != "", evalCond(t, s, 2, js), "in_cidr_list with several addresses")
			assert.Equal(t, c.value != "", evalCond(t, s, 3, js), "in_cidr_list of fields, the first absent")
		})
	}

	// A key that is not an address is a load error at the list's line,
	// reported once however many rules read the list, and not against
	// them.
	rule := "  - id: \"%d\"\n    level: 3\n    condition: in_cidr_list(\"bad\", aws.ip)\n    description: x\n"
	_, err := loadYAML(t, map[string]string{"a.yml": "rules:\n" + fmt.Sprintf(rule, 1) + fmt.Sprintf(rule, 2)},
		map[string]string{"bad": "10.0.0.0/8:ok\n2001:db8::/32:unquoted IPv6\n"})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrBadCIDRList)
	var le *specfile.Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "lists/bad:2: bad CIDR list: key \"2001\" is not an address or a CIDR block (quote IPv6 keys: \"2001:db8::/32\":value); "+
		"Wazuh would keep it as a plain key, which no address lookup matches", err.Error())
}

func TestCIDRTrieLongestMatch(t *testing.T) {
	l := parseList("l", "lists/l", []byte("0.0.0.0/0:any4\n\"::/0\":any6\n192.0.2.0/24:net\n192.0.2.128/25:half\n192.0.2.200:host\n"))
	tr, err := newCIDRTrie(l)
	require.NoError(t, err)
	for ip, want := range map[string]string{
		"192.0.2.1": "net", "192.0.2.129": "half", "192.0.2.200": "host", "8.8.8.8": "any4", "2600::1": "any6",
	} {
		v, ok := tr.lookup(netip.MustParseAddr(ip))
		assert.True(t, ok, ip)
		assert.Equal(t, want, string(v), ip)
	}
}

func TestProtocolAndTCPFlagHelpers(t *testing.T) {
	conds := []string{`proto_name(aws.n) == aws.want`, `tcp_flags(aws.n) == aws.want`, `has_tcp_flag(aws.n, "syn")`, `has_tcp_flag(aws.n, "FIN")`}
	cases := []struct {
		n, proto, flags string
		syn, fin        bool
	}{
		{"6", "tcp", "SYN,ACK", true, false},
		{"17", "udp", "FIN", false, true},
		{"1", "icmp", "FIN", false, true},
		{"58", "ipv6-icmp", "SYN,PSH,ACK,URG", true, false},
		{"2", "igmp", "SYN", true, false},
		{"3", "3", "FIN,SYN", true, true},
		{"19", "19", "FIN,SYN,ACK", true, true},
		{"18", "18", "SYN,ACK", true, false},
		{"0", "hopopt", "", false, false},
		{"-", "-", "", false, false},
		{"300", "300", "", false, false},
	}
	s := helperSet(t, conds, nil)
	for _, c := range cases {
		t.Run(c.n, func(t *testing.T) {
			assert.True(t, evalCond(t, s, 0, `{"aws":{"n":"`+c.n+`","want":"`+c.proto+`"}}`), "proto_name")
			want := c.flags
			if c.n == "6" || c.n == "17" || c.n == "1" || c.n == "58" || c.n == "2" {
				// the same numbers read as tcp-flags
				want = map[string]string{"6": "SYN,RST", "17": "FIN,ACK", "1": "FIN", "58": "SYN,PSH,ACK,URG", "2": "SYN"}[c.n]
			}
			assert.True(t, evalCond(t, s, 1, `{"aws":{"n":"`+c.n+`","want":"`+want+`"}}`), "tcp_flags %s", want)
		})
	}
	_, err := loadYAML(t, map[string]string{"a.yml": "rules:\n  - id: \"1\"\n    level: 3\n    condition: has_tcp_flag(aws.f, \"SYNACK\")\n    description: x\n"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown TCP flag "SYNACK"`)
}

func TestWorldOpen(t *testing.T) {
	conds := []string{
		`world_open(aws.requestParameters)`,
		`world_open_port(aws.requestParameters, 22)`,
		`world_open_port(aws.requestParameters, 3389)`,
		`world_open_all_ports(aws.requestParameters)`,
	}
	cases := []struct {
		name, params string
		want         [4]bool
	}{
		{"flat request, port 22 to 0.0.0.0/0",
			`{"groupId":"sg-1","ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0","ipPermissions":{}}`, [4]bool{true, true, false, false}},
		{"anonymised /0 still means everyone",
			`{"groupId":"sg-1","ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"208.236.235.254/0"}`, [4]bool{true, true, false, false}},
		{"flat request to a /16",
			`{"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"10.0.0.0/16"}`, [4]bool{}},
		{"one permission (unwrapped), ::/0 on 3389",
			`{"groupId":"sg-1","ipPermissions":{"items":{"ipProtocol":"tcp","fromPort":3389,"toPort":3389,"ipRanges":{},"ipv6Ranges":{"items":{"cidrIpv6":"::/0"}}}}}`, [4]bool{true, false, true, false}},
		{"one permission, several ranges (array text)",
			`{"ipPermissions":{"items":{"ipProtocol":"tcp","fromPort":0,"toPort":65535,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}}}}`, [4]bool{true, true, true, true}},
		{"several permissions (array text), only the restricted one on 22",
			`{"ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}},{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}}]}}`, [4]bool{true, false, false, false}},
		{"all protocols",
			`{"ipPermissions":{"items":{"ipProtocol":"-1","ipRanges":{"items":{"cidrIp":"0.0.0.0/0"}}}}}`, [4]bool{true, true, true, true}},
		{"UDP range covering 3389",
			`{"ipPermissions":{"items":{"ipProtocol":"udp","fromPort":3000,"toPort":4000,"ipRanges":{"items":{"cidrIp":"0.0.0.0/0"}}}}}`, [4]bool{true, false, true, false}},
		{"ICMP to the world is open, but on no port",
			`{"ipPermissions":{"items":{"ipProtocol":"icmp","fromPort":-1,"toPort":-1,"ipRanges":{"items":{"cidrIp":"0.0.0.0/0"}}}}}`, [4]bool{true, false, false, false}},
		{"a security-group source is not the world",
			`{"ipPermissions":{"items":{"ipProtocol":"-1","groups":{"items":{"groupId":"sg-2"}}}}}`, [4]bool{}},
		{"not a permission at all", `{"vpcId":"vpc-1","cidrBlock":"0.0.0.0/0"}`, [4]bool{}},
	}
	s := helperSet(t, conds, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := `{"aws":{"eventName":"AuthorizeSecurityGroupIngress","requestParameters":` + c.params + `}}`
			for i := range conds {
				assert.Equal(t, c.want[i], evalCond(t, s, i, js), conds[i])
			}
		})
	}
	// The response shape, with egress rules skipped.
	s = helperSet(t, []string{`world_open_port(aws.responseElements, 22)`}, nil)
	resp := `{"aws":{"responseElements":{"_return":true,"securityGroupRuleSet":{"items":[` +
		`{"groupId":"sg-1","isEgress":true,"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIpv4":"0.0.0.0/0"},` +
		`{"groupId":"sg-1","isEgress":false,"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIpv4":"10.0.0.0/8"}]}}}}`
	assert.False(t, evalCond(t, s, 0, resp))
	assert.True(t, evalCond(t, s, 0, strings.Replace(resp, `"10.0.0.0/8"`, `"0.0.0.0/0"`, 1)))

	// A string instead of a field reference is a load error.
	_, err := loadYAML(t, map[string]string{"a.yml": "rules:\n  - id: \"1\"\n    level: 3\n    condition: world_open(\"aws.requestParameters\")\n    description: x\n"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "world_open() takes a field reference to an object")
}

// helperSet loads one rule per condition (ids 1, 2, …).
func helperSet(t *testing.T, conds []string, lists map[string]string) *Set {
	t.Helper()
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, c := range conds {
		fmt.Fprintf(&b, "  - id: \"%d\"\n    level: 3\n    condition: '%s'\n    description: x\n", i+1, strings.ReplaceAll(c, "'", "''"))
	}
	s, err := loadYAML(t, map[string]string{"a.yml": b.String()}, lists)
	require.NoError(t, err)
	for i, c := range conds {
		assert.True(t, s.Rule(fmt.Sprint(i+1)).Fast(), "%s runs as a closure", c)
	}
	return s
}

// evalCond evaluates the condition of rule i+1 on both paths, checks that
// they agree and returns the result.
func evalCond(t *testing.T, s *Set, i int, js string) bool {
	t.Helper()
	r := s.Rule(fmt.Sprint(i + 1))
	e := s.NewEvaluator()
	e.c.index(mustEvent(t, js))
	typed := true
	for _, cj := range r.cond.conj {
		typed = typed && cj.fn(&e.c)
	}
	vm, err := e.c.runVM(r.cond)
	require.NoError(t, err)
	require.Equal(t, vm, typed, "closure and VM disagree on %s", js)
	return typed
}

func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"10.0.1.25", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.", "1..2.3", "1.2.3.1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is4()
		if ok != wantOK {
			t.Fatalf("%q: ok %v, netip %v", s, ok, wantOK)
		}
		if ok && got != want.As4() {
			t.Fatalf("%q: %v, netip %v", s, got, want)
		}
	})
}

// TestCIDRTrieAgreesWithPrefixes: the trie's lookup (with its table of the
// first IPv4 byte) gives, for random addresses, the value of the longest
// block of the list holding them, as checking every block does — for blocks
// of every length from /0 to /32 (and IPv6 ones), nested and not.
func TestCIDRTrieAgreesWithPrefixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 3))
	randAddr4 := func() netip.Addr {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if rng.IntN(3) == 0 {
			b[0] = []byte{10, 192, 203, 0, 255}[rng.IntN(5)] // crowd a few first bytes
		}
		return netip.AddrFrom4(b)
	}
	for round := 0; round < 50; round++ {
		var text strings.Builder
		var blocks []netip.Prefix
		seen := map[netip.Prefix]bool{}
		for i := 0; i < 1+rng.IntN(40); i++ {
			var p netip.Prefix
			if rng.IntN(6) == 0 {
				p = netip.PrefixFrom(netip.MustParseAddr("2001:db8::").Next(), rng.IntN(129)).Masked()
			} else {
				p = netip.PrefixFrom(randAddr4(), rng.IntN(33)).Masked()
			}
			if seen[p] {
				continue // a duplicate keeps its first value
			}
			seen[p] = true
			blocks = append(blocks, p)
			fmt.Fprintf(&text, "%q:v%d\n", p.String(), len(blocks)-1)
		}
		tr, err := newCIDRTrie(parseList("l", "lists/l", []byte(text.String())))
		require.NoError(t, err)
		for k := 0; k < 2000; k++ {
			a := randAddr4()
			if k%10 == 0 {
				a = netip.MustParseAddr("2001:db8::").Next()
			}
			want, bits := "", -1
			for i, p := range blocks {
				if p.Contains(a) && p.Bits() > bits {
					want, bits = fmt.Sprintf("v%d", i), p.Bits()
				}
			}
			got, ok := tr.lookup(a)
			require.Equal(t, want != "", ok, "round %d: %s in\n%s", round, a, text.String())
			require.Equal(t, want, string(got), "round %d: %s in\n%s", round, a, text.String())
		}
	}
}

// TestParseIPv4AgreesWithNetip: the hand-written IPv4 parser accepts
// exactly what netip accepts as IPv4, with the same address, on dotted
// texts built from digits, dots and a few other bytes.
func TestParseIPv4AgreesWithNetip(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 4))
	parts := []string{"0", "1", "9", "10", "01", "00", "99", "100", "199", "255", "256", "300", "999", "1000", "", "-", "a", " 1", "25 "}
	for k := 0; k < 20000; k++ {
		n := 3 + rng.IntN(3)
		var ps []string
		for i := 0; i < n; i++ {
			ps = append(ps, parts[rng.IntN(len(parts))])
		}
		s := strings.Join(ps, ".")
		if k%7 == 0 {
			s += "."
		}
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is4()
		require.Equal(t, wantOK, ok, "%q", s)
		if ok {
			require.Equal(t, want.As4(), got, "%q", s)
		}
	}
}

// TestIsPublic4FirstByte: isPublic4 (a table of what the first byte says,
// the longer blocks tested only for the bytes that start one) gives what
// testing every block of notPublic4 gives, on each block's first and last
// addresses and their neighbours, and on random addresses of every first
// byte.
func TestIsPublic4FirstByte(t *testing.T) {
	every := func(x uint32) bool {
		for _, b := range notPublic4 {
			if in4(x, b.base, b.bits) {
				return false
			}
		}
		return true
	}
	var xs []uint32
	for _, b := range notPublic4 {
		last := b.base | (1<<(32-b.bits) - 1)
		xs = append(xs, b.base, b.base-1, b.base+1, last, last+1, last-1)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for first := range 256 {
		for range 2000 {
			xs = append(xs, uint32(first)<<24|rng.Uint32()>>8)
		}
	}
	for _, x := range xs {
		require.Equal(t, every(x), isPublic4(x), "%v", netip.AddrFrom4(bytes4(x)))
	}
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"10.1.2.3", false}, {"203.0.113.9", true}, {"172.15.255.255", true}, {"172.16.0.0", false},
		{"172.31.255.255", false}, {"172.32.0.0", true}, {"100.63.255.255", true}, {"100.64.0.1", false},
		{"192.0.0.8", false}, {"192.0.2.1", true}, {"198.17.255.255", true}, {"198.19.0.1", false},
		{"223.255.255.255", true}, {"224.0.0.1", false}, {"255.255.255.255", false}, {"169.254.1.1", false},
	} {
		assert.Equal(t, c.public, isPublic4(v4(netip.MustParseAddr(c.addr))), c.addr)
	}
}

// TestAddressShortcutAgrees: the address tests that decide from an
// address's first byte without parsing it (addrShortcut) give what the
// expression VM gives, which parses every address: for every first byte,
// valid and broken dotted quads, IPv6, and text that only looks like an
// address.
func TestAddressShortcutAgrees(t *testing.T) {
	conds := []string{
		`is_public(aws.a)`,
		`!is_public(aws.a)`,
		`is_private(aws.a)`,
		`is_private(aws.a) || is_public(aws.b)`,
		`in_cidr_list("l", aws.a, aws.b)`,
		`in_cidr_list("l", aws.a) && is_public(aws.a)`,
		`cidr_match(aws.a, "10.1.0.0/16")`,
		`cidr_match(aws.a, "192.0.2.64/26") || cidr_match(aws.b, "16.0.0.0/4")`,
		`cidr_match(aws.a, "0.0.0.0/0")`,
		`cidr_match(aws.a, "2001:db8::/32")`,
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, c := range conds {
		fmt.Fprintf(&b, "  - id: \"%d\"\n    level: 3\n    condition: '%s'\n    description: x\n", i+1, c)
	}
	list := "192.0.2.64/26:x\n10.1.0.0/16:x\n203.0.0.0/8:x\n\"2001:db8::/32\":x\n"
	s, err := loadYAML(t, map[string]string{"a.yml": b.String()}, map[string]string{"l": list})
	require.NoError(t, err)
	var vals []string
	for first := 0; first < 256; first++ {
		vals = append(vals, fmt.Sprintf("%d.1.2.3", first), fmt.Sprintf("%d.%d.0.9", first, first))
	}
	vals = append(vals, "10.", "10.x", "10.1.2", "10.1.2.3.4", "010.1.2.3", "10.01.2.3", "256.1.2.3", "1000.1.2.3",
		"0.0.0.0", "00.1.2.3", "10", "1", "", "-", "10::1", "::ffff:10.1.2.3", "::ffff:203.0.113.9", "2001:db8::1",
		"fc00::1", "10.1.2.3%eth0", " 10.1.2.3", "10.1.2.3 ", "203.0.113.9", "192.0.2.65", "192.0.2.63", "10.1.255.255")
	e := s.NewEvaluator()
	rng := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 6000; k++ {
		a, bv := vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]
		js := fmt.Sprintf(`{"aws":{"a":%q,"b":%q}}`, a, bv)
		ev := mustEvent(t, js)
		for i, c := range conds {
			r := s.Rule(fmt.Sprint(i + 1))
			require.True(t, r.Fast(), "%s: fast path", c)
			e.c.index(ev)
			typed := true
			for _, cj := range r.cond.conj {
				typed = typed && cj.fn(&e.c)
			}
			e.c.index(ev)
			vm, err := e.c.runVM(r.cond)
			require.NoError(t, err)
			require.Equal(t, vm, typed, "%s with a=%q b=%q", c, a, bv)
		}
	}
}
