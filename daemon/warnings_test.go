package daemon

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vpcalertd/vpcalertd/engine"
)

// TestEngineWarningsLogged: the engine's warnings (a rule on a field no
// decoder produces, a rule's first run-time error) are logged as ruleset
// warnings, every one of them, not as bad records nor under their limit.
func TestEngineWarningsLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	onError := badRecordLogger(log)
	for i := 0; i < 25; i++ {
		onError(errors.New("s3://b/k.log:3: expected 14 fields, got 8"))
	}
	onError(&engine.Warning{Err: errors.New("my-rules/x.yml:6:39: rule 110900: condition: unknown field aws.srcadr, did you mean aws.srcaddr?")})
	out := buf.String()
	assert.Contains(t, out, `msg=ruleset warning="my-rules/x.yml:6:39: rule 110900: condition: unknown field aws.srcadr, did you mean aws.srcaddr?"`)
	assert.NotContains(t, out, `msg="bad record" error="warning:`)
}
