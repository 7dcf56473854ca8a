package indexer

import (
	"math"
	"net/netip"
	"strconv"
	"time"
)

// This file decides whether a value fits a field type the way OpenSearch's
// field mappers do (coercion on, ignore_malformed off, the template's date
// formats).

// maxKeywordBytes is Lucene's limit on one indexed term: a longer keyword
// value makes OpenSearch reject the whole document ("immense term").
const maxKeywordBytes = 32766

// numericLiteral reports whether s is a number Java's BigDecimal (and so an
// OpenSearch numeric field with coercion) accepts: an optional sign, digits
// with an optional fraction, an optional exponent.
func numericLiteral(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}

// fitsInteger reports whether s is accepted by an integral field whose
// values lie in [lo, hi]; coercion truncates a fraction.
func fitsInteger(s []byte, lo, hi float64) bool {
	if !numericLiteral(s) {
		return false
	}
	if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return float64(n) >= lo && float64(n) <= hi
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return false
	}
	f = math.Trunc(f)
	// Beyond 2^63 float64 cannot tell, so be strict at the edge.
	return f >= lo && f < hi
}

// fitsFloat reports whether s is a finite number within ±max.
func fitsFloat(s []byte, max float64) bool {
	if !numericLiteral(s) {
		return false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	return err == nil && !math.IsInf(f, 0) && math.Abs(f) <= max
}

// fitsIP reports whether s is an IPv4 or IPv6 address as OpenSearch's ip
// field accepts it (no zone, no prefix length).
func fitsIP(s []byte) bool {
	a, err := netip.ParseAddr(string(s))
	return err == nil && a.Zone() == ""
}

// fitsBoolean reports whether s is a boolean token or the strings
// "true"/"false".
func fitsBoolean(s []byte) bool {
	switch string(s) {
	case "true", "false":
		return true
	}
	return false
}

// fitsDate reports whether s is accepted by a date field with format
// strict_date_optional_time||epoch_millis, or date_optional_time when
// lenient, without ||epoch_millis when noEpoch.
func fitsDate(s []byte, lenient, noEpoch bool) bool {
	if !noEpoch && epochMillis(s) {
		return true
	}
	_, ok := parseISODate(s, !lenient)
	return ok
}

// epochMillis reports whether s is epoch_millis: an optional minus, digits,
// an optional fraction.
func epochMillis(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	d := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == d {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		f := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == f {
			return false
		}
	}
	return i == len(s)
}

// parseISODate parses OpenSearch's [strict_]date_optional_time:
// yyyy[-MM[-dd]][T[HH[:mm[:ss[.fraction]]]][zone]] where zone is Z, +HH,
// +HH:mm or +HHmm. Strict wants 4-digit years and 2-digit fields; the
// lenient form (and the ingest date processor's ISO8601) takes 1 or 2
// digits. Missing parts are zero (month and day one).
func parseISODate(s []byte, strict bool) (time.Time, bool) {
	p := dateParser{s: s}
	yearMin, yearMax, fieldMin := 4, 4, 2
	if !strict {
		yearMin, yearMax, fieldMin = 1, 9, 1
	}
	year, ok := p.digits(yearMin, yearMax)
	if !ok {
		return time.Time{}, false
	}
	month, day := 1, 1
	var hour, minute, sec, nsec int
	loc := time.UTC
	if p.lit('-') {
		if month, ok = p.digits(fieldMin, 2); !ok {
			return time.Time{}, false
		}
		if p.lit('-') {
			if day, ok = p.digits(fieldMin, 2); !ok {
				return time.Time{}, false
			}
		}
	}
	if p.lit('T') {
		if h, ok := p.digits(fieldMin, 2); ok {
			hour = h
			if p.lit(':') {
				if minute, ok = p.digits(fieldMin, 2); !ok {
					return time.Time{}, false
				}
				if p.lit(':') {
					if sec, ok = p.digits(fieldMin, 2); !ok {
						return time.Time{}, false
					}
					if p.lit('.') || p.lit(',') {
						start := p.i
						f, ok := p.digits(1, 9)
						if !ok {
							return time.Time{}, false
						}
						for n := p.i - start; n < 9; n++ {
							f *= 10
						}
						nsec = f
					}
				}
			}
			if !p.done() {
				if loc, ok = p.zone(); !ok {
					return time.Time{}, false
				}
			}
		}
	}
	if !p.done() {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day { // Feb 30 and the like
		return time.Time{}, false
	}
	return t, true
}

type dateParser struct {
	s []byte
	i int
}

func (p *dateParser) done() bool { return p.i == len(p.s) }

func (p *dateParser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dateParser) digits(min, max int) (int, bool) {
	n, v := 0, 0
	for p.i < len(p.s) && n < max && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	return v, n >= min
}

func (p *dateParser) zone() (*time.Location, bool) {
	if p.lit('Z') {
		return time.UTC, true
	}
	sign := 1
	switch {
	case p.lit('+'):
	case p.lit('-'):
		sign = -1
	default:
		return nil, false
	}
	h, ok := p.digits(2, 2)
	if !ok || h > 18 {
		return nil, false
	}
	m := 0
	if !p.done() {
		p.lit(':')
		if m, ok = p.digits(2, 2); !ok || m > 59 {
			return nil, false
		}
	}
	off := sign * (h*3600 + m*60)
	if off == 0 {
		return time.UTC, true
	}
	return time.FixedZone("", off), true
}

// geohashChars are the characters of a geohash.
const geohashChars = "0123456789bcdefghjkmnpqrstuvwxyz"
