package decoders

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// TestSchemaCoversEveryDecodedField decodes every input in testdata/ with
// the shipped decoders and checks that each field of each event is one the
// decoders declare (Set.Schema): a field the schema lacks would make a rule
// on it a load error although the events carry it.
func TestSchemaCoversEveryDecodedField(t *testing.T) {
	set := loadRuleset(t)
	schema := set.Schema()
	inputs := 0
	err := filepath.WalkDir("../testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "golden") || strings.HasSuffix(p, ".md") || strings.Contains(p, "wazuh-parity") {
			return err
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		if _, err := set.Open(event.Origin{Path: p}, bytes.NewReader(data), OpenOptions{}); err != nil {
			return nil //nolint:nilerr // not a log (a digest file): nothing to decode
		}
		got := decode(t, set, event.Origin{Path: p}, data, OpenOptions{})
		if len(got.events) == 0 {
			return nil
		}
		inputs++
		for _, ev := range got.events {
			for _, f := range ev.Fields {
				if f.Kind == event.EmptyObject {
					continue
				}
				assert.True(t, schema.Known(f.Key), "%s (decoder %s): field %s is not declared", p, got.decoder, f.Key)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, inputs, 20, "the walk found the inputs")
}

func TestSchemaOfShippedDecoders(t *testing.T) {
	set := loadRuleset(t)
	s := set.Schema()
	for _, known := range []string{
		"integration", "aws.source", "aws.aws_account_id", "aws.log_info.s3bucket", "aws.log_info",
		"aws.srcaddr", "aws.log_status", "aws.pkt_srcaddr", "aws.tgw_src_vpc_id", "aws.reject_reason",
		"aws.eventName", "aws.eventname", "aws.userIdentity.arn", "aws.source_ip_address",
		"aws.requestParameters", "aws.requestParameters.ipPermissions.items.ipRanges.items.cidrIp",
		"aws.userIdentity.sessionContext.attributes.mfaAuthenticated", "aws.tags.value",
	} {
		assert.True(t, s.Known(known), known)
	}
	for _, unknown := range []string{"aws.srcadr", "aws.errorcodes", "aws.userIdentity.arnn", "srcaddr", "aws.log_info.bucket"} {
		assert.False(t, s.Known(unknown), unknown)
	}
	assert.Equal(t, "aws.srcaddr", s.Nearest("aws.srcadr"))
	assert.Equal(t, "aws.srcaddr", s.Nearest("srcaddr"), "same last segment")
	assert.Equal(t, "aws.errorCode", s.Nearest("aws.eror_code"))
	assert.Equal(t, "", s.Nearest("completely.different.thing"))

	// The wazuh-json decoder adds nothing; vpcflow has no open subtree.
	assert.Zero(t, set.DecoderSchema("wazuh-json").Len())
	for _, n := range set.DecoderSchema("vpcflow").Names() {
		assert.False(t, strings.HasSuffix(n, ".*"), n)
	}
	assert.Nil(t, set.DecoderSchema("nope"))
}

// TestSchemaOfUserDecoder: a user's decoder declares what it produces the
// same way; the steps' own fields follow renames and removals.
func TestSchemaOfUserDecoder(t *testing.T) {
	fsys := fstest.MapFS{
		"decoders/guardduty.yml": {Data: []byte(`name: guardduty
inputs:
  - when: type == "" && "detail-type" in content.keys
    framing: json_lines
produces:
  - gd.detail.type
  - gd.detail.severity
  - gd.detail.resource.*
steps:
  - set: {field: integration, value: aws}
  - parse_json: {into: gd}
  - rename: {from: gd.detail, to: aws.finding}
  - copy: {from: aws.finding.type, to: aws.finding_type}
  - remove: {field: aws.finding.severity}
`)},
		"decoders/open.yml": {Data: []byte(`name: open
inputs:
  - when: type == "x"
    framing: json_lines
steps:
  - parse_json: {into: x}
`)},
	}
	set, err := Load(fsys, "decoders")
	require.NoError(t, err)
	gd := set.DecoderSchema("guardduty")
	assert.Equal(t, []string{"aws.finding.resource.*", "aws.finding.type", "aws.finding_type", "integration"}, gd.Names())
	assert.True(t, gd.Known("aws.finding.resource.instanceDetails.instanceId"))
	assert.False(t, gd.Known("gd.detail.type"), "renamed away")
	assert.False(t, gd.Known("aws.finding.severity"), "removed")
	// Without produces, parse_json's subtree is open.
	assert.Equal(t, []string{"x.*"}, set.DecoderSchema("open").Names())

	bad := fstest.MapFS{"decoders/bad.yml": {Data: []byte(`name: bad
inputs:
  - when: "true"
    framing: json_lines
produces: [aws..x, "aws.*"]
steps:
  - parse_json: {}
`)}}
	_, err = Load(bad, "decoders")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `decoders/bad.yml:5:12: decoder bad: produces[0]: invalid field name "aws..x": empty segment`)
}
