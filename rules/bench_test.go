package rules

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// withSyms sets each field's Sym as a decoder does with Set.Symbols.
func withSyms(s *Set, ev *event.Event) *event.Event {
	for i := range ev.Fields {
		ev.Fields[i].Sym = s.Symbols().Lookup(ev.Fields[i].Key)
	}
	return ev
}

const benchFlow = "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK"

const benchTrail = `{"integration":"aws","aws":{"log_info":{"aws_account_alias":"","log_file":"AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/x.json.gz","s3bucket":"b"},"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEBOB000002","arn":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","userName":"bob"},"eventTime":"2024-03-05T10:17:40Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.99","userAgent":"aws-cli/2.15.0","errorCode":"AccessDenied","errorMessage":"User: bob is not authorized","requestID":"2c3d4e5f","eventID":"8c9d0e1f","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","source":"cloudtrail","aws_account_id":"123456789012","source_ip_address":"203.0.113.99"}}`

func benchEval(b *testing.B, s *Set, ev *event.Event, wantID string) {
	e := s.NewEvaluator()
	now := time.Date(2024, 3, 5, 10, 20, 31, 0, time.UTC)
	m := e.Eval(ev, now, nil)
	require.NotNil(b, m.Rule)
	require.Equal(b, wantID, m.Rule.ID())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Eval(ev, now, nil)
	}
}

func BenchmarkEval(b *testing.B) {
	s := shipped(b)
	flow, err := splitV2(benchFlow)
	require.NoError(b, err)
	trail := mustEvent(b, benchTrail)
	b.Run("flow", func(b *testing.B) { benchEval(b, s, withSyms(s, flow), "80401") })
	b.Run("cloudtrail", func(b *testing.B) { benchEval(b, s, withSyms(s, trail), "80250") })
	b.Run("flow-unresolved", func(b *testing.B) {
		ev, _ := splitV2(benchFlow)
		benchEval(b, s, ev, "80401")
	})
	b.Run("flow-Set.Eval", func(b *testing.B) {
		now := time.Date(2024, 3, 5, 10, 20, 31, 0, time.UTC)
		ev := withSyms(s, flow)
		b.ReportAllocs()
		for b.Loop() {
			s.Eval(ev, now, nil)
		}
	})
}

// extraRules writes n realistic rules that cannot match the benchmark
// events: other AWS sources under 80200 and other CloudTrail event names
// under 80202.
func extraRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	sources := []string{"guardduty", "macie", "alb", "waf", "config", "trusted_advisor", "kms", "inspector", "securityhub", "s3_server_access"}
	for i := 0; i < n; i++ {
		id := 100200 + i
		if i%2 == 0 {
			src := sources[(i/2)%len(sources)]
			fmt.Fprintf(&b, "  - id: \"%d\"\n    level: %d\n    if_sid: \"80200\"\n    condition: osregex(aws.source, \"%s\") && osregex(aws.severity, \"%d\")\n    description: x\n", id, 3+i%5, src, i%10)
		} else {
			fmt.Fprintf(&b, "  - id: \"%d\"\n    level: %d\n    if_sid: \"80202\"\n    condition: aws.eventName == \"Event%d\" && osregex(aws.errorCode, \"Throttl\")\n    description: x\n", id, 3+i%7, i)
		}
	}
	return b.String()
}

func loadWithExtra(b *testing.B, n int) *Set {
	dir := b.TempDir()
	require.NoError(b, os.MkdirAll(dir+"/rules", 0o755))
	require.NoError(b, os.WriteFile(dir+"/rules/9000-extra.yml", []byte(extraRules(n)), 0o644))
	s, err := Load([]Layer{
		{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"},
		{FS: os.DirFS(dir), RulesDir: "rules"},
	}, Options{})
	require.NoError(b, err)
	return s
}

func BenchmarkRules10vs100(b *testing.B) {
	for _, n := range []int{10, 100} {
		s := loadWithExtra(b, n)
		flow, err := splitV2(benchFlow)
		require.NoError(b, err)
		trail := mustEvent(b, benchTrail)
		b.Run(fmt.Sprintf("flow/%d", n), func(b *testing.B) { benchEval(b, s, withSyms(s, flow), "80401") })
		b.Run(fmt.Sprintf("cloudtrail/%d", n), func(b *testing.B) { benchEval(b, s, withSyms(s, trail), "80250") })
	}
}
