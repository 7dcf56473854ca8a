package rules

import (
	"fmt"
	"math/rand"
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
		id := 900200 + i
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

// BenchmarkEvalAll is BenchmarkEval with the packs' passes: the stock tree
// and every pack root, on an outbound accepted flow (the common record),
// a rejected one, and a CloudTrail record.
func BenchmarkEvalAll(b *testing.B) {
	s := shipped(b)
	now := time.Date(2024, 3, 5, 10, 20, 31, 0, time.UTC)
	run := func(b *testing.B, ev *event.Event) {
		e := s.NewEvaluator()
		e.EvalAll(ev, now, nil)
		b.ReportAllocs()
		for b.Loop() {
			e.EvalAll(ev, now, nil)
		}
	}
	flow, err := splitV2(benchFlow)
	require.NoError(b, err)
	reject, err := splitV2("2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK")
	require.NoError(b, err)
	b.Run("flow", func(b *testing.B) { run(b, withSyms(s, flow)) })
	b.Run("flow-reject", func(b *testing.B) { run(b, withSyms(s, reject)) })
	b.Run("cloudtrail", func(b *testing.B) { run(b, withSyms(s, mustEvent(b, benchTrail))) })
	// Events as the flow-log decoder makes them (numbers as numbers),
	// stock tree alone and with the packs.
	dec := func(line string) *event.Event {
		ev, err := testDecode(TestInput{Log: line, Type: event.LogTypeVPCFlow})
		require.NoError(b, err)
		return withSyms(s, ev)
	}
	decoded := dec(benchFlow)
	b.Run("decoded-flow/stock", func(b *testing.B) {
		e := s.NewEvaluator()
		b.ReportAllocs()
		for b.Loop() {
			e.Eval(decoded, now, nil)
		}
	})
	b.Run("decoded-flow/packs", func(b *testing.B) { run(b, decoded) })
}

// mixedFlows decodes n default-format records shaped like the engine's
// replay benchmark (engine/bench_test.go flowFile): mostly outbound ACCEPT,
// a fifth REJECT, across 12 interfaces and many addresses.
func mixedFlows(b *testing.B, s *Set, n int) []*event.Event {
	rng := rand.New(rand.NewSource(1))
	ports := []int{22, 80, 443, 3389, 5432, 8080, 53, 123}
	out := make([]*event.Event, 0, n)
	for i := 0; i < n; i++ {
		action := "ACCEPT"
		if rng.Intn(5) == 0 {
			action = "REJECT"
		}
		pk := 1 + rng.Intn(200)
		start := 1709633700 + i/50
		line := fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f6%04d 10.0.%d.%d 203.0.%d.%d %d %d 6 %d %d %d %d %s OK",
			rng.Intn(12), rng.Intn(8), 1+rng.Intn(250), rng.Intn(256), 1+rng.Intn(250),
			1024+rng.Intn(60000), ports[rng.Intn(len(ports))], pk, pk*(40+rng.Intn(1400)), start, start+60, action)
		ev, err := testDecode(TestInput{Log: line, Type: event.LogTypeVPCFlow})
		require.NoError(b, err)
		out = append(out, withSyms(s, ev))
	}
	return out
}

// BenchmarkPackCost evaluates a mix of realistic flows with the stock tree
// alone (Eval) and with the packs (EvalAll): the difference is what the
// VPC pack costs per record.
func BenchmarkPackCost(b *testing.B) {
	s := shipped(b)
	evs := mixedFlows(b, s, 20000)
	now := time.Date(2024, 3, 5, 10, 20, 31, 0, time.UTC)
	b.Run("stock", func(b *testing.B) {
		e := s.NewEvaluator()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			e.Eval(evs[i%len(evs)], now, nil)
			i++
		}
	})
	b.Run("packs", func(b *testing.B) {
		e := s.NewEvaluator()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			e.EvalAll(evs[i%len(evs)], now, nil)
			i++
		}
	})
}
