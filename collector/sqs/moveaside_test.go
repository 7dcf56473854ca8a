package sqs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAttrText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "s3://b/k: gzip: invalid header", 100, "s3://b/k: gzip: invalid header"},
		{"control", "a\x00b\x1bc\td\ne", 100, "a b c\td\ne"},
		{"long", strings.Repeat("x", 20), 10, "xxxxxxx..."},
		{"cut-rune", "ééééé", 6, "é?..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, attrText(tt.in, tt.max))
		})
	}
}
