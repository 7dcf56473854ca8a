package decoders

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// TestRecordLimits: CloudTrail records beyond the limits — too large, too
// many fields, nested deeper than JSON readers go — are each a RecordError
// naming the record and its size, whose cause is the *ojson.LimitError; the
// records after them are read (a record nested 20,000 levels deep used to
// end the file).
func TestRecordLimits(t *testing.T) {
	set := loadRuleset(t)
	rec := `{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"DeleteVpc","awsRegion":"us-east-1","eventTime":"2024-03-05T10:00:00Z"}`
	large := `{"eventName":"X","userAgent":"` + strings.Repeat("a", 2<<20) + `"}`
	fields := `{"eventName":"X","requestParameters":{` + strings.Repeat(`"k":1,`, 20000) + `"z":1}}`
	deep := `{"eventName":"X","requestParameters":{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`
	doc := `{"Records":[` + rec + "," + large + "," + fields + "," + deep + "," + rec + `]}`
	got := decode(t, set, ctOrigin("p"), []byte(doc), OpenOptions{})
	assert.Len(t, got.events, 2, "the records around the skipped ones")
	require.Len(t, got.errs, 3)
	assert.Equal(t, []string{
		fmt.Sprintf("p:2: record 2 (%d bytes) skipped, not decoded: larger than limits.record_size (1048576 bytes); "+
			"raise limits.record_size if the bucket's writers send such records", len(large)),
		fmt.Sprintf("p:3: record 3 (%d bytes) skipped, not decoded: more than 10000 fields (limits.record_fields); "+
			"raise limits.record_fields if the bucket's writers send such records", len(fields)),
		fmt.Sprintf("p:4: record 4 (%d bytes) skipped, not decoded: nested more than 1000 levels deep "+
			"(no AWS log nests so deep: check who writes to the bucket)", len(deep)),
	}, got.errStrings())
	for i, cat := range []error{ojson.ErrTooLarge, ojson.ErrTooManyFields, ojson.ErrTooDeep} {
		var re *RecordError
		require.True(t, errors.As(got.errs[i], &re))
		assert.ErrorIs(t, got.errs[i], cat)
	}
	assert.Equal(t, 2, got.events[1].Origin.Line-got.events[0].Origin.Line-2, "record indexes count the skipped")
	assert.Equal(t, byte('{'), doc[got.events[1].Origin.Offset], "offsets are the file's")

	// The limits are settings.
	got = decode(t, set, ctOrigin("p"), []byte(doc), OpenOptions{Limits: ojson.Limits{MaxBytes: 4 << 20, MaxFields: 30000, MaxDepth: 30000}})
	assert.Len(t, got.events, 3, "beyond 10,000 levels encoding/json stops the file: the last record is lost")
	require.Len(t, got.errs, 1)
	assert.Contains(t, got.errs[0].Error(), "p:4: byte offset")
	assert.Contains(t, got.errs[0].Error(), "exceeded max depth")
}
