package rules

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
)

// Address helpers: parsing an address from a field value without
// allocating, the private/public classification, and the prefix trie
// behind CIDR lists.

// addrSlot is one entry of the per-event address cache (evalCtx.addrs): the
// field parsed as an address once per event. An IPv4 address, the common
// case, is kept as a number, which is what the typed helpers test and look
// up; only an IPv6 address needs the netip.Addr.
type addrSlot struct {
	gen  uint32
	x    uint32 // an IPv4 address (kind addrV4), big-endian
	kind uint8  // addrNone, addrV4 or addrV6
	a    netip.Addr
}

// Kinds of addrSlot.
const (
	addrNone = iota // absent, or not an address
	addrV4
	addrV6 // a (an IPv4-mapped address is unmapped, so it is addrV4)
)

// slot returns the per-event address cache entry of the field with symbol
// sym, parsing the field on first use (small enough to be inlined into the
// helpers' closures).
func (c *evalCtx) slot(sym int32) *addrSlot {
	sl := &c.addrs[sym]
	if sl.gen != c.addrGen {
		c.parseSlot(sl, sym)
	}
	return sl
}

// Address shortcuts. An address test that is false for every IPv4
// address with a given first byte (is_public of 10.x.x.x, is_private of
// 203.x.x.x, in_cidr_list of a list with no block under that byte) is
// false for a field whose text starts with that byte and a dot, whatever
// follows: either the text is such an address, or it is no address at
// all, for which every test is false (IPv6 text never starts with digits
// and a dot). The test then reads one to three digits instead of parsing
// the address. A flow has a private address on one side, which a test
// about public or listed addresses rarely needs parsed.
// TestAddressShortcutAgrees checks the tests against the expression VM.

// slotUnless is slot for a test that is false for every IPv4 address
// whose first byte b has never[b]: nil, without parsing, for a field that
// starts so. A nil never (no byte decides) always parses.
func (c *evalCtx) slotUnless(sym int32, never *[256]bool) *addrSlot {
	sl := &c.addrs[sym]
	if sl.gen != c.addrGen {
		if never != nil {
			if b, ok := c.firstOctet(sym); ok && never[b] {
				return nil
			}
		}
		c.parseSlot(sl, sym)
	}
	return sl
}

// firstOctet returns the first byte of the field with symbol sym as a
// dotted-quad IPv4 address has it: one to three digits without a leading
// zero, at most 255, then a dot. ok is false for any other text.
func (c *evalCtx) firstOctet(sym int32) (b uint8, ok bool) {
	v, ok := c.field(sym)
	if !ok || len(v) < 2 {
		return 0, false
	}
	d := v[0] - '0'
	if d > 9 {
		return 0, false
	}
	if v[1] == '.' {
		return d, true
	}
	n := uint(d)
	for i := 1; i < 3 && i < len(v); i++ {
		d := v[i] - '0'
		if d > 9 || n == 0 {
			return 0, false
		}
		n = n*10 + uint(d)
		if i+1 < len(v) && v[i+1] == '.' {
			if n > 255 {
				return 0, false
			}
			return uint8(n), true
		}
	}
	return 0, false
}

// privateNever and publicNever are the first bytes for which isPrivate4
// and isPublic4 are false whatever follows.
var privateNever, publicNever = firstOutside(private4[:]), firstTable(func(b int) bool { return public4First[b] == firstNever })

// firstOutside returns, per first byte, whether no address starting with
// it is inside one of blocks.
func firstOutside(blocks []block4) *[256]bool {
	return firstTable(func(b int) bool {
		lo := uint32(b) << 24
		for _, k := range blocks {
			if k.bits <= 8 && in4(lo, k.base, k.bits) || k.bits > 8 && k.base>>24 == uint32(b) {
				return false
			}
		}
		return true
	})
}

// firstTable is the table of f over the 256 first bytes, nil when f is
// false for every one: a test no first byte decides has no shortcut, and
// its fields are parsed without reading their first byte first.
func firstTable(f func(b int) bool) *[256]bool {
	var t [256]bool
	some := false
	for b := range t {
		t[b] = f(b)
		some = some || t[b]
	}
	if !some {
		return nil
	}
	return &t
}

// parseSlot fills sl from the field with symbol sym of the current event.
func (c *evalCtx) parseSlot(sl *addrSlot, sym int32) {
	sl.gen = c.addrGen
	sl.kind = addrNone
	v, ok := c.field(sym)
	if !ok {
		return // absent: nothing to parse
	}
	if x, ok := parseIPv4x(v); ok {
		sl.x, sl.kind = x, addrV4
		return
	}
	if a, ok := parseIPv6(v); ok {
		sl.setAddr(a) // an IPv4-mapped address is unmapped: IPv4
	}
}

// setAddr stores a as sl's address.
func (sl *addrSlot) setAddr(a netip.Addr) {
	if a.Is4() {
		sl.x, sl.kind = v4(a), addrV4
		return
	}
	sl.a, sl.kind = a, addrV6
}

// addr returns sl's address as a netip.Addr.
func (sl *addrSlot) addr() (netip.Addr, bool) {
	switch sl.kind {
	case addrV4:
		return netip.AddrFrom4(bytes4(sl.x)), true
	case addrV6:
		return sl.a, true
	}
	return netip.Addr{}, false
}

// addrOf returns the field with symbol sym parsed as an address, parsing it
// at most once per event.
func (c *evalCtx) addrOf(sym int32) (netip.Addr, bool) {
	return c.slot(sym).addr()
}

// addrArg compiles an address argument: a field reference goes through the
// per-event cache, anything else is parsed each time.
func (tc *typedCompiler) addrArg(n ast.Node) func(c *evalCtx) (netip.Addr, bool) {
	if sym, ok := fieldArg(n); ok {
		return func(c *evalCtx) (netip.Addr, bool) { return c.addrOf(sym) }
	}
	x := tc.compileString(n)
	if x == nil {
		return nil
	}
	return func(c *evalCtx) (netip.Addr, bool) { return parseAddr(x(c)) }
}

// parseAddr parses an IPv4 or IPv6 address (a zone is dropped). IPv4 is
// parsed by hand; IPv6 goes through netip on a string that aliases b, which
// is safe because the result keeps no reference to it once the zone is
// gone.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return netip.AddrFrom4(a), true
	}
	return parseIPv6(b)
}

// parseIPv6 is parseAddr of a value that is not dotted-quad IPv4.
func parseIPv6(b []byte) (netip.Addr, bool) {
	if len(b) < 2 || bytes.IndexByte(b, ':') < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// parseIPv4 parses dotted-quad decimal without leading zeros, as netip does.
func parseIPv4(b []byte) (out [4]byte, ok bool) {
	x, ok := parseIPv4x(b)
	if ok {
		out = bytes4(x)
	}
	return out, ok
}

// parseIPv4x is parseIPv4 giving the address as a big-endian number. Each
// part is read digit by digit without a loop (at most three digits, a
// leading 0 stands alone).
func parseIPv4x(b []byte) (x uint32, ok bool) {
	if len(b) < 7 || len(b) > 15 {
		return 0, false
	}
	i := 0
	for k := 0; k < 4; k++ {
		if k > 0 {
			if i >= len(b) || b[i] != '.' {
				return 0, false
			}
			i++
		}
		if i >= len(b) {
			return 0, false
		}
		d := b[i] - '0'
		if d > 9 {
			return 0, false
		}
		v := uint32(d)
		i++
		if d != 0 && i < len(b) {
			if d := b[i] - '0'; d <= 9 {
				v = v*10 + uint32(d)
				i++
				if i < len(b) {
					if d := b[i] - '0'; d <= 9 {
						v = v*10 + uint32(d)
						i++
					}
				}
			}
		}
		if v > 255 {
			return 0, false
		}
		x = x<<8 | v
	}
	return x, i == len(b)
}

// v4 returns an IPv4 address as a big-endian integer.
func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// bytes4 is the inverse of v4: the four bytes of the IPv4 address x.
func bytes4(x uint32) [4]byte {
	return [4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
}

// in4 reports whether x is inside the IPv4 block base/bits.
func in4(x, base uint32, bits uint) bool { return x>>(32-bits) == base>>(32-bits) }

// isPrivateAddr reports an address of a private network: RFC 1918
// (10/8, 172.16/12, 192.168/16), RFC 6598 shared space (100.64/10) and
// IPv6 unique local addresses (fc00::/7, RFC 4193).
func isPrivateAddr(a netip.Addr) bool {
	if a.Is4() {
		return isPrivate4(v4(a))
	}
	return a.Is6() && a.As16()[0]&0xfe == 0xfc
}

// isPrivate4 is isPrivateAddr of an IPv4 address.
func isPrivate4(x uint32) bool {
	for _, b := range private4 {
		if in4(x, b.base, b.bits) {
			return true
		}
	}
	return false
}

// block4 is an IPv4 block: base/bits.
type block4 struct {
	base uint32
	bits uint
}

// private4 are the private IPv4 blocks (isPrivateAddr): RFC 1918 and the
// RFC 6598 shared space.
var private4 = [...]block4{{0x0a000000, 8}, {0xac100000, 12}, {0xc0a80000, 16}, {0x64400000, 10}}

// isPublicAddr reports a globally routable unicast address: not private,
// loopback, link-local, multicast, unspecified, broadcast, "this network"
// (0/8), IETF protocol assignments (192.0.0/24), benchmarking (198.18/15),
// reserved (240/4) or IPv6 discard (100::/64). The documentation ranges
// (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as
// public: examples, AWS's included, use them for internet hosts.
func isPublicAddr(a netip.Addr) bool {
	if a.Is4() {
		return isPublic4(v4(a))
	}
	if !a.IsValid() || !a.IsGlobalUnicast() || isPrivateAddr(a) {
		return false
	}
	b := a.As16()
	discard := b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0
	return !discard
}

// isPublic4 is isPublicAddr of an IPv4 address: its first byte decides
// (public4First) but for the few that start a smaller block.
func isPublic4(x uint32) bool {
	switch public4First[x>>24] {
	case firstNever:
		return false
	case firstAlways:
		return true
	}
	for _, b := range notPublic4 {
		if in4(x, b.base, b.bits) {
			return false
		}
	}
	return true
}

// notPublic4 are the IPv4 blocks that are not public: the private ones
// (private4, shared space included), this network, loopback, link-local,
// IETF protocol assignments, benchmarking, and multicast, reserved and
// broadcast (224/3).
var notPublic4 = append(private4[:], // a new array: private4[:] is full
	block4{0x00000000, 8}, block4{0x7f000000, 8}, block4{0xe0000000, 3},
	block4{0xa9fe0000, 16}, block4{0xc0000000, 24}, block4{0xc6120000, 15},
)

// What an IPv4 address's first byte says of isPublic4.
const (
	firstAlways  = iota // no block of notPublic4 starts with it
	firstNever          // a block of 8 bits or fewer holds it
	firstDepends        // a longer block starts with it: test them
)

// public4First is, per first byte, what it says of isPublic4, made from
// notPublic4.
var public4First = func() (t [256]uint8) {
	for i := range t {
		for _, b := range notPublic4 {
			switch {
			case b.bits <= 8 && in4(uint32(i)<<24, b.base, b.bits):
				t[i] = firstNever
			case b.bits > 8 && uint32(i) == b.base>>24 && t[i] != firstNever:
				t[i] = firstDepends
			}
		}
	}
	return t
}()

// parseCIDR parses "addr/bits" or a bare address (a /32 or /128 block).
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.WithZone("").Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// isWorldCIDR reports a CIDR block with a /0 prefix (0.0.0.0/0, ::/0, or
// any address written with /0): every address.
func isWorldCIDR(b []byte) bool {
	i := bytes.LastIndexByte(b, '/')
	if i < 0 || !bytes.Equal(bytes.TrimSpace(b[i+1:]), []byte("0")) {
		return false
	}
	_, ok := parseAddr(bytes.TrimSpace(b[:i]))
	return ok
}

// cidrTrie is a binary trie of IPv4 and IPv6 prefixes for longest-prefix
// lookups: a lookup walks at most 32 (IPv4) or 128 (IPv6) nodes, whatever
// the size of the list.
type cidrTrie struct {
	nodes []trieNode // nodes[0] is the IPv4 root, nodes[1] the IPv6 root
	vals  [][]byte
	// first4 is the IPv4 walk's first eight steps done at build time: per
	// first byte, the node reached (0 = none) and the value of the longest
	// block of at most eight bits holding it (0 = none). Most addresses a
	// short list is asked about end there.
	first4 [256]first4Entry
}

// first4Entry is the trie's IPv4 walk after the eight steps of one first
// byte: the node reached and the longest block's value (0 = none). The
// zero entry says that no block of the list holds an address starting
// with that byte.
type first4Entry struct{ node, best int32 }

// outside4 returns, per first byte, whether no IPv4 block of the list
// holds an address starting with it (nil when every byte may be held).
func (t *cidrTrie) outside4() *[256]bool {
	return firstTable(func(b int) bool { return t.first4[b] == first4Entry{} })
}

type trieNode struct {
	child [2]int32 // 0 = none
	val   int32    // index into vals + 1; 0 = no prefix ends here
}

// ErrBadCIDRList is wrapped when a list used as a CIDR list has a key that
// is neither an address nor a CIDR block.
var ErrBadCIDRList = errors.New("bad CIDR list")

// newCIDRTrie builds the trie of a list whose keys are addresses or CIDR
// blocks. A duplicate block keeps the first value, as List does. Keys
// starting with '#' are comments (a Wazuh list takes any line with a colon
// as a key, comments included; none of them can be an address).
func newCIDRTrie(l *List) (*cidrTrie, error) {
	t := &cidrTrie{nodes: make([]trieNode, 2, 2+2*len(l.m))}
	var bad []error
	for _, e := range l.entries {
		if e.comment {
			continue // a comment line that has a colon
		}
		k := e.key
		p, err := parseCIDR(k)
		if err != nil {
			bad = append(bad, listError(l.File, e.line, fmt.Errorf(
				"%w: key %q is not an address or a CIDR block (quote IPv6 keys: \"2001:db8::/32\":value); "+
					"Wazuh would keep it as a plain key, which no address lookup matches", ErrBadCIDRList, k)))
			continue
		}
		t.insert(p, e.value)
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	t.buildFirst4()
	return t, nil
}

// buildFirst4 fills first4 from the IPv4 half of the trie.
func (t *cidrTrie) buildFirst4() {
	for b := range t.first4 {
		n, best := int32(0), t.nodes[0].val
		for i := 0; i < 8; i++ {
			n = t.nodes[n].child[b>>(7-i)&1]
			if n == 0 {
				break
			}
			if v := t.nodes[n].val; v != 0 {
				best = v
			}
		}
		t.first4[b].node, t.first4[b].best = n, best
	}
}

// bit returns bit i (0 = most significant) of the address.
func addrBit(b *[16]byte, i int) int { return int(b[i/8]>>(7-i%8)) & 1 }

func addrBytes(a netip.Addr) (b [16]byte, root int32) {
	if a.Is4() {
		x := a.As4()
		copy(b[:], x[:])
		return b, 0
	}
	return a.As16(), 1
}

func (t *cidrTrie) insert(p netip.Prefix, val []byte) {
	b, n := addrBytes(p.Addr())
	for i := 0; i < p.Bits(); i++ {
		bit := addrBit(&b, i)
		next := t.nodes[n].child[bit]
		if next == 0 {
			t.nodes = append(t.nodes, trieNode{})
			next = int32(len(t.nodes) - 1)
			t.nodes[n].child[bit] = next
		}
		n = next
	}
	if t.nodes[n].val == 0 {
		t.vals = append(t.vals, val)
		t.nodes[n].val = int32(len(t.vals))
	}
}

// empty reports a trie without any block.
func (t *cidrTrie) empty() bool { return len(t.vals) == 0 }

// lookup returns the value of the longest block containing a.
func (t *cidrTrie) lookup(a netip.Addr) ([]byte, bool) {
	var best int32
	if a.Is4() {
		best = t.best4(v4(a))
	} else {
		b, n := addrBytes(a)
		best = t.nodes[n].val
		for i := 0; i < a.BitLen(); i++ {
			n = t.nodes[n].child[addrBit(&b, i)]
			if n == 0 {
				break
			}
			if v := t.nodes[n].val; v != 0 {
				best = v
			}
		}
	}
	if best == 0 {
		return nil, false
	}
	return t.vals[best-1], true
}

// best4 returns the vals index + 1 of the longest block containing the IPv4
// address x, 0 when none does.
func (t *cidrTrie) best4(x uint32) int32 {
	f := &t.first4[x>>24]
	best := f.best
	for n, i := f.node, 8; n != 0 && i < 32; i++ {
		n = t.nodes[n].child[x>>(31-i)&1]
		if v := t.nodes[n].val; n != 0 && v != 0 {
			best = v
		}
	}
	return best
}

// lookupText parses v and looks it up; a value that is not an address is
// in no block.
func (t *cidrTrie) lookupText(v []byte) ([]byte, bool) {
	a, ok := parseAddr(v)
	if !ok {
		return nil, false
	}
	return t.lookup(a)
}
