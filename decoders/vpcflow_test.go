package decoders

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

func flowOrigin(path string) event.Origin {
	return event.Origin{Type: event.LogTypeVPCFlow, Path: path, Bucket: "b", Key: "k", AccountID: "123456789012"}
}

// TestFlowLayouts checks where the column names come from and what the
// fields become, for the formats of https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html.
func TestFlowLayouts(t *testing.T) {
	set := loadRuleset(t)
	const v8 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status ecs-cluster-name ecs-task-id ecs-service-name reject-reason\n" +
		"8 123456789012 eni-0123456789abcdef0 198.51.100.7 10.0.1.25 51515 22 6 1 60 1755678754 1755678775 REJECT OK backend-cluster b9ad2f8a90b24f7bbce4b0341034852f payments-service BPA\n"
	cases := []struct {
		name      string
		input     string // testdata file, or inline text
		logFormat string
		events    int
		errs      []string
		check     map[int]map[string]string // event index -> field -> value
		keys      []string                  // keys of event 0 after the envelope, in order
	}{
		{
			name: "v2-default-no-header", input: "@aws/vpcflow-v2-default-format-records.awsdocs.log", events: 7,
			keys: []string{"aws.version", "aws.account_id", "aws.interface_id", "aws.srcaddr", "aws.dstaddr", "aws.srcport",
				"aws.dstport", "aws.protocol", "aws.packets", "aws.bytes", "aws.start", "aws.end", "aws.action", "aws.log_status"},
			check: map[int]map[string]string{
				0: {"aws.srcaddr": "172.31.16.139", "aws.dstport": "22", "aws.start": "2014-12-14T04:06:50Z", "aws.end": "2014-12-14T04:07:50Z", "aws.action": "ACCEPT"},
				2: {"aws.srcaddr": "-", "aws.bytes": "-", "aws.action": "-", "aws.log_status": "NODATA", "aws.start": "2015-05-10T18:01:16Z"},
				3: {"aws.interface_id": "eni-11111111aaaaaaaaa", "aws.log_status": "SKIPDATA"},
				6: {"aws.srcaddr": "2001:db8:1234:a100:8d6e:3477:df66:f105", "aws.dstaddr": "2001:db8:1234:a102:3304:8879:34cf:4071"},
			},
		},
		{
			name: "v3-reordered-header-double-space", input: "@aws/vpcflow-v3-tcp-flag-sequence.with-header.awsdocs.log", events: 8,
			keys: []string{"aws.version", "aws.vpc_id", "aws.subnet_id", "aws.instance_id", "aws.interface_id", "aws.account_id",
				"aws.type", "aws.srcaddr", "aws.dstaddr", "aws.srcport", "aws.dstport", "aws.pkt_srcaddr", "aws.pkt_dstaddr",
				"aws.protocol", "aws.bytes", "aws.packets", "aws.start", "aws.end", "aws.action", "aws.tcp_flags", "aws.log_status"},
			check: map[int]map[string]string{
				1: {"aws.tcp_flags": "18", "aws.bytes": "376", "aws.packets": "7"},
				7: {"aws.dstport": "43638", "aws.pkt_srcaddr": "10.0.0.62", "aws.tcp_flags": "19"},
			},
		},
		{
			name: "v5-alphabetical-bogus-line", input: "@aws/vpcflow-s3-object-body-v5.with-header.flowlogs-reader-test.log", events: 2,
			errs: []string{"v5:4: expected 29 fields, got 2"},
			check: map[int]map[string]string{
				1: {"aws.flow_direction": "egress", "aws.traffic_path": "7", "aws.pkt_dst_aws_service": "S3", "aws.pkt_src_aws_service": "-", "aws.sublocation_id": "-"},
			},
		},
		{
			name: "v4-sublocations", input: "@aws/vpcflow-s3-object-body-v4.with-header.flowlogs-reader-test.log", events: 2,
			check: map[int]map[string]string{1: {"aws.sublocation_type": "outpost", "aws.az_id": "use1-az4", "aws.region": "us-east-1"}},
		},
		{
			name: "v8-ecs-reject-reason", input: v8, events: 1,
			check: map[int]map[string]string{0: {"aws.version": "8", "aws.ecs_cluster_name": "backend-cluster",
				"aws.ecs_task_id": "b9ad2f8a90b24f7bbce4b0341034852f", "aws.reject_reason": "BPA", "aws.end": "2025-08-20T08:32:55Z"}},
		},
		{
			name: "tgw-v6", input: "@aws/vpcflow-s3-object-body-tgw-v6.with-header.flowlogs-reader-test.log", events: 1,
			check: map[int]map[string]string{0: {"aws.resource_type": "TransitGateway", "aws.tgw_id": "00000000",
				"aws.tgw_pair_attachment_id": "00000012", "aws.packets_lost_no_route": "13", "aws.packets_lost_ttl_expired": "16"}},
		},
		{
			name: "nat-gateway-no-version-doc-comments", input: "@aws/vpcflow-v3-nat-gateway-custom.with-header.awsdocs.log", events: 4,
			errs:  []string{"nat:6: expected 6 fields, got 16", "nat:7: expected 6 fields, got 17"},
			check: map[int]map[string]string{0: {"aws.instance_id": "-", "aws.pkt_dstaddr": "203.0.113.5"}},
		},
		{
			name: "dash-everywhere", input: "- - - - - - - - - - - - - -\n", events: 1,
			check: map[int]map[string]string{0: {"aws.version": "-", "aws.start": "-", "aws.end": "-", "aws.srcaddr": "-"}},
		},
		{
			name: "log-format-from-origin", logFormat: "${version} ${vpc-id} ${srcaddr} ${dstaddr} ${action} ${start} ${end}",
			input: "3 vpc-0abc 10.0.0.1 10.0.0.2 ACCEPT 1709633700 1709633760\n", events: 1,
			keys:  []string{"aws.version", "aws.vpc_id", "aws.srcaddr", "aws.dstaddr", "aws.action", "aws.start", "aws.end"},
			check: map[int]map[string]string{0: {"aws.start": "2024-03-05T10:15:00Z"}},
		},
		{
			name: "header-wins-over-log-format", logFormat: "${version} ${vpc-id}",
			input: "srcaddr dstaddr\n10.0.0.1 10.0.0.2\n", events: 1,
			keys: []string{"aws.srcaddr", "aws.dstaddr"},
		},
		{
			name: "underscore-header-tabs-crlf-blank-lines", input: "version\taccount_id  interface_id\r\n\r\n  \n2\t123456789012 eni-1\r\n\n", events: 1,
			keys: []string{"aws.version", "aws.account_id", "aws.interface_id"},
		},
		{
			name: "second-header-switches-layout", input: "srcaddr dstaddr\n10.0.0.1 10.0.0.2\ndstport srcport\n22 40000\n", events: 2,
			check: map[int]map[string]string{1: {"aws.dstport": "22", "aws.srcport": "40000", "aws.srcaddr": "<absent>"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			path := strings.SplitN(tc.name, "-", 2)[0]
			if name, ok := strings.CutPrefix(tc.input, "@"); ok {
				data = readFile(t, "testdata/"+name)
			} else {
				data = []byte(tc.input)
			}
			origin := flowOrigin(path)
			origin.LogFormat = tc.logFormat
			got := decode(t, set, origin, data, OpenOptions{})
			assert.Equal(t, tc.errs, nilIfEmpty(got.errStrings()))
			require.Len(t, got.events, tc.events)
			for i, fields := range tc.check {
				for k, v := range fields {
					assert.Equal(t, v, get(got.events[i], k), "event %d field %s", i, k)
				}
			}
			for _, ev := range got.events {
				// The envelope comes first and last, as the wodle sends it.
				require.GreaterOrEqual(t, len(ev.Fields), 6)
				assert.Equal(t, []string{"integration", "aws.log_info.aws_account_alias", "aws.log_info.log_file", "aws.log_info.s3bucket"},
					keysOf(ev.Fields[:4]))
				assert.Equal(t, []string{"aws.source", "aws.aws_account_id"}, keysOf(ev.Fields[len(ev.Fields)-2:]))
				assert.Equal(t, "vpc", get(ev, "aws.source"))
				for _, f := range ev.Fields {
					assert.Equal(t, event.String, f.Kind, f.Key)
				}
			}
			if tc.keys != nil {
				ev := got.events[0]
				assert.Equal(t, tc.keys, keysOf(ev.Fields[4:len(ev.Fields)-2]))
			}
		})
	}
}

func keysOf(fs []event.Field) []string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.Key
	}
	return keys
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestFlowOriginAndTime checks Origin.Line/Offset, Event.Time, the
// counters and the symbols.
func TestFlowOriginAndTime(t *testing.T) {
	set := loadRuleset(t)
	syms := event.NewSymbols()
	dst := syms.Intern("aws.dstaddr")
	data := readFile(t, "testdata/wazuh/vpcflow-default-format.with-header.log")
	origin := flowOrigin("f.log")
	origin.Region = "us-east-1"
	got := decode(t, set, origin, data, OpenOptions{Symbols: syms})
	require.Len(t, got.events, 3)
	lines := bytes.SplitAfter(data, []byte("\n"))
	off := int64(len(lines[0]))
	for i, ev := range got.events {
		assert.Equal(t, i+2, ev.Origin.Line)
		assert.Equal(t, off, ev.Origin.Offset)
		off += int64(len(lines[i+1]))
		assert.Equal(t, "us-east-1", ev.Origin.Region)
		assert.Equal(t, int64(1709633760), ev.Time)
		f, ok := ev.GetSym(dst)
		require.True(t, ok)
		assert.Equal(t, "aws.dstaddr", f.Key)
		_, ok = ev.Get("aws.srcaddr")
		require.True(t, ok)
		assert.Equal(t, event.NoSym, ev.Fields[0].Sym)
	}
	assert.Equal(t, int64(4), got.records, "the header is a record")
	assert.Equal(t, int64(len(data)), got.bytes)
}

// TestFlowUnknownColumns: unknown names are kept as strings, reported once
// per stream.
func TestFlowUnknownColumns(t *testing.T) {
	set := loadRuleset(t)
	in := "version new-field other_field srcaddr\n2 x y 10.0.0.1\n2 x y 10.0.0.2\nversion new-field srcaddr\n2 z 10.0.0.3\n"
	got := decode(t, set, flowOrigin("u.log"), []byte(in), OpenOptions{})
	require.Empty(t, got.errs)
	require.Len(t, got.events, 3)
	assert.Equal(t, []string{`u.log:1: unknown columns "new-field", "other_field" kept as strings`}, got.warnings)
	assert.Equal(t, "x", get(got.events[0], "aws.new_field"))
	assert.Equal(t, "y", get(got.events[0], "aws.other_field"))
	assert.Equal(t, "z", get(got.events[2], "aws.new_field"))
}

// TestFlowBadInput checks every kind of bad input: the message is
// path:line: reason and the good lines around it still come out.
func TestFlowBadInput(t *testing.T) {
	set := loadRuleset(t)
	good := "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n"
	long := strings.Repeat("x", 1<<20) + "\n"
	cases := []struct {
		name   string
		input  string
		opts   OpenOptions
		events int
		errs   []string
		errAt  []int
	}{
		{"field-count", good + "2 123456789012 eni-1 10.0.0.1\n" + good, OpenOptions{}, 2,
			[]string{"p:2: expected 14 fields, got 4"}, []int{1}},
		{"not-an-integer", good + strings.Replace(good, " 443 ", " https ", 1) + good, OpenOptions{}, 2,
			[]string{`p:2: field srcport: "https" is not an integer`}, []int{1}},
		{"negative-integer", strings.Replace(good, " 12 ", " -12 ", 1) + good, OpenOptions{}, 1,
			[]string{`p:1: field packets: "-12" is not an integer`}, []int{0}},
		{"not-an-ip", strings.Replace(good, "10.0.0.1", "host.example", 1) + good, OpenOptions{}, 1,
			[]string{`p:1: field srcaddr: "host.example" is not an IP address`}, []int{0}},
		{"invalid-utf8", good + "2 123456789012 eni-\xff 10.0.0.1 10.0.0.2 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n" + good,
			OpenOptions{}, 2, []string{"p:2: invalid UTF-8"}, []int{1}},
		{"line-too-long-1MiB", good + long + good, OpenOptions{}, 2,
			[]string{"p:2: line longer than 65536 bytes skipped, not decoded (no AWS log line is that long: check who writes to the bucket)"}, []int{1}},
		{"line-too-long-at-end-without-newline", good + strings.Repeat("y", 300), OpenOptions{MaxLineBytes: 200}, 1,
			[]string{"p:2: line longer than 200 bytes skipped, not decoded (no AWS log line is that long: check who writes to the bucket)"}, []int{1}},
		{"longer-than-limit-fits-buffer", good + strings.Repeat("1", 150) + "\n" + good, OpenOptions{MaxLineBytes: 100}, 2,
			[]string{"p:2: line longer than 100 bytes skipped, not decoded (no AWS log line is that long: check who writes to the bucket)"}, []int{1}},
		{"empty-file", "", OpenOptions{}, 0, []string{"p:1: empty file"}, []int{0}},
		{"out-of-range-time-kept", strings.Replace(good, "1709633760", "999999999999999", 1), OpenOptions{}, 1, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decode(t, set, flowOrigin("p"), []byte(tc.input), tc.opts)
			assert.Equal(t, tc.errs, nilIfEmpty(got.errStrings()))
			assert.Equal(t, tc.errAt, got.errAt)
			assert.Len(t, got.events, tc.events)
			for _, ev := range got.events {
				assert.Equal(t, "ACCEPT", get(ev, "aws.action"))
			}
		})
	}
}

// TestFlowGzipErrors: a truncated or corrupt gzip stream still yields every
// complete line before the damage, then one StreamError.
func TestFlowGzipErrors(t *testing.T) {
	set := loadRuleset(t)
	var body bytes.Buffer
	flowLogLines(&body, 400)
	gz := gzipBytes(t, body.Bytes())
	t.Run("truncated", func(t *testing.T) {
		cut := gz[:len(gz)*2/3]
		plain := decode(t, set, flowOrigin("p"), body.Bytes(), OpenOptions{})
		got := decode(t, set, flowOrigin("p"), cut, OpenOptions{})
		require.Len(t, got.errs, 1)
		n := len(got.events)
		assert.Greater(t, n, 100)
		assert.Equal(t, "p:"+strconv.Itoa(n+2)+": unexpected EOF in gzip stream", got.errs[0].Error())
		for i, ev := range got.events {
			assert.Equal(t, fieldsOf(plain.events[i]), fieldsOf(ev))
		}
		var se *StreamError
		require.ErrorAs(t, got.errs[0], &se)
		assert.Equal(t, n+2, se.Line)
	})
	t.Run("corrupt", func(t *testing.T) {
		bad := bytes.Clone(gz)
		for i := len(bad) / 2; i < len(bad)/2+64; i++ {
			bad[i] ^= 0x5a
		}
		got := decode(t, set, flowOrigin("p"), bad, OpenOptions{})
		require.NotEmpty(t, got.errs)
		var se *StreamError
		require.ErrorAs(t, got.errs[len(got.errs)-1], &se)
		assert.Contains(t, se.Error(), "in gzip stream")
	})
	t.Run("checksum", func(t *testing.T) {
		bad := bytes.Clone(gz)
		bad[len(bad)-8] ^= 1 // CRC-32 of the trailer
		got := decode(t, set, flowOrigin("p"), bad, OpenOptions{})
		assert.Len(t, got.events, 400)
		assert.Equal(t, []string{"p:402: invalid checksum in gzip stream"}, got.errStrings())
	})
	t.Run("path-falls-back-to-key", func(t *testing.T) {
		got := decode(t, set, event.Origin{Type: event.LogTypeVPCFlow, Key: "AWSLogs/x.log.gz"}, gz[:40], OpenOptions{})
		require.Len(t, got.errs, 1)
		assert.True(t, strings.HasPrefix(got.errs[0].Error(), "AWSLogs/x.log.gz:1: "), got.errs[0].Error())
	})
}

// TestOpenWithHeader: OpenOptions.Header sets the columns as if the stream
// began with that line, without warning about it again; FirstLine numbers
// the lines.
func TestOpenWithHeader(t *testing.T) {
	set := loadRuleset(t)
	const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction"
	line := []byte("5 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT OK egress\n")
	got := decode(t, set, event.Origin{Path: "stdin"}, line, OpenOptions{Header: []byte(header), FirstLine: 7})
	require.Len(t, got.events, 1, got.errs)
	f, ok := got.events[0].Get("aws.flow_direction")
	require.True(t, ok)
	assert.Equal(t, "egress", string(f.Value))
	assert.Equal(t, 7, got.events[0].Origin.Line)

	st, err := set.Open(event.Origin{Path: "stdin"}, bytes.NewReader(line), OpenOptions{Header: []byte(header)})
	require.NoError(t, err)
	assert.Equal(t, strings.Fields(header), st.Header())

	// The header's own unknown column is not warned about again (the
	// caller met it when it read the header); the same header read in the
	// stream is.
	const odd = header + " colour"
	row := []byte("5 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT OK egress red\n")
	got = decode(t, set, event.Origin{Path: "stdin"}, row, OpenOptions{Header: []byte(odd), FirstLine: 7})
	require.Len(t, got.events, 1, got.errs)
	assert.Empty(t, got.warnings)
	got = decode(t, set, event.Origin{Path: "stdin"}, append([]byte(odd+"\n"), row...), OpenOptions{Header: []byte(odd), FirstLine: 7})
	require.Len(t, got.events, 1, got.errs)
	assert.Equal(t, []string{`stdin:7: unknown columns "colour" kept as strings`}, got.warnings)

	_, err = set.Open(event.Origin{Path: "stdin"}, bytes.NewReader(line), OpenOptions{Header: []byte("not a header")})
	assert.ErrorContains(t, err, `stdin: decoder vpcflow: "not a header" is not a header line`)
	_, err = set.Open(event.Origin{Path: "stdin"}, strings.NewReader(`{"integration":"aws"}`), OpenOptions{Header: []byte(header)})
	assert.ErrorContains(t, err, "stdin: decoder wazuh-json reads no header lines")
}
