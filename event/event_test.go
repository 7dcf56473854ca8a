package event

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Rules find a field as Wazuh's FindField does: the first decoded field
// whose whole name equals the one asked for, ASCII letters compared
// ignoring case (strcasecmp in the C locale), before the alert's data
// merges or drops anything.
func TestGetFoldsASCIIOnly(t *testing.T) {
	ev := fields("aws.zone", "a", "aws.ZONE", "b", "aws.Zone.id", "2", "aws.É", "3", "aws.k", "4")
	get := func(name string) string {
		f, ok := ev.Get(name)
		if !ok {
			return "<none>"
		}
		return f.Text()
	}
	assert.Equal(t, "a", get("AWS.ZONE"), "the first of the names equal but for case")
	assert.Equal(t, "2", get("aws.zone.id"), "a field the data drops is still there for rules")
	assert.Equal(t, "<none>", get("aws.é"), "only ASCII letters fold")
	assert.Equal(t, "<none>", get("aws.\u212a"), "the Kelvin sign is not k")
	assert.Equal(t, `{"aws":{"zone":"a","É":"3","k":"4"}}`, string(ev.AppendDataJSON(nil)))

	syms := NewSymbols()
	zone := syms.Intern("aws.Zone")
	assert.Equal(t, zone, syms.Lookup("AWS.ZONE"))
	assert.Equal(t, zone, syms.LookupBytes([]byte("aws.zone")))
	e := syms.Intern("aws.é")
	assert.NotEqual(t, e, syms.Intern("aws.É"))
	assert.Equal(t, NoSym, syms.Lookup("aws.\u212a"))
	syms.Intern("aws.k")
	assert.Equal(t, NoSym, syms.Lookup("aws.\u212a"))
}
