package ruleset

import "embed"

// FS holds decoders/, rules/, lists/ and mitre.yml.
//
//go:embed decoders rules lists mitre.yml
var FS embed.FS
