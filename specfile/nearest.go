package specfile

import "fmt"

// Nearest returns the candidate closest to name for a "did you mean" hint:
// the fewest single-character edits (insertions, deletions, substitutions,
// and swaps of two neighbours), at most limit; the first of equals in
// candidates' order. A limit below 0 means no limit. It returns "" when no
// candidate is close enough, or name is itself a candidate.
func Nearest(name string, candidates []string, limit int) string {
	best, bestD := "", limit
	if limit < 0 {
		bestD = int(^uint(0) >> 1)
	}
	for _, c := range candidates {
		if c == name {
			return ""
		}
		if d := editDistance(name, c); d < bestD || d == bestD && best == "" {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean returns `, did you mean "key"?` for the key among keys
// nearest to an unknown one (at most KeyLimit edits away), or "".
func DidYouMean(unknown string, keys []string) string {
	if near := Nearest(unknown, keys, KeyLimit(unknown)); near != "" {
		return fmt.Sprintf(", did you mean %q?", near)
	}
	return ""
}

// KeyLimit is the edit distance Nearest is given for names of keys and
// elements: a quarter of the name, at least 2.
func KeyLimit(name string) int { return max(2, len(name)/4) }

// editDistance returns the optimal-string-alignment distance of a and b:
// Levenshtein's, with the swap of two neighbouring characters as one edit
// ("vlaue" is one edit from "value").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
