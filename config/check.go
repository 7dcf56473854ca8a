package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// Categories of configuration errors, for errors.Is.
var (
	// ErrUnknownRegion: a region that is not in collector.Partitions
	// (Wazuh's wodle stops with "Invalid region '…'", exit code 22).
	ErrUnknownRegion = errors.New("invalid region")
	// ErrKeyCharacter: a key prefix (path, path_suffix) with a character
	// or XML entity Wazuh's arg_valid_key refuses.
	ErrKeyCharacter = errors.New("invalid character in a key prefix")
)

// ExitUnknownRegion is the exit status of `vpcalertd run` when every
// configuration error is an unknown region: Wazuh's wodle exits 22
// ("Invalid region") there (wodles/aws/aws_s3.py at v4.14.7). Other
// configuration errors exit 2, as Wazuh's argument checks do.
const ExitUnknownRegion = 22

// ExitCode returns the exit status for the configuration error err:
// ExitUnknownRegion when each of its errors is an unknown region, else 2.
func ExitCode(err error) int {
	errs := specfile.Flatten(err)
	if len(errs) == 0 {
		return 2
	}
	for _, e := range errs {
		if !errors.Is(e, ErrUnknownRegion) {
			return 2
		}
	}
	return ExitUnknownRegion
}

// regionLimit is how many edits from a known region a typo may be for a
// "did you mean": "us-fake-1" is three from us-east-1.
const regionLimit = 3

// checkRegion accepts a region of collector.Partitions: every region of
// Wazuh 4.14.7's ALL_REGIONS and those of the other partitions (GovCloud,
// China, …), which Wazuh refuses in a bucket's <regions>.
func checkRegion(r string) error {
	if collector.KnownRegion(r) {
		return nil
	}
	hint := ""
	if near := specfile.Nearest(r, collector.RegionCodes(), regionLimit); near != "" {
		hint = fmt.Sprintf(", did you mean %q?", near)
	}
	return fmt.Errorf("%w %q: not an AWS region%s (the regions are listed in docs/daemon.md, Regions)", ErrUnknownRegion, r, hint)
}

// keyCharsRefused and keyEntitiesRefused are what Wazuh's arg_valid_key
// (wodles/aws/aws_tools.py at v4.14.7) refuses in a key prefix: the
// characters AWS's object-key guidelines say to avoid, and XML entities
// (Wazuh's XML reader decodes none, so they would reach the key as
// written).
const keyCharsRefused = "\\{}^%`[]'\"<>~#|"

var keyEntitiesRefused = []string{"&apos;", "&quot;", "&amp;", "&lt;", "&gt;", "&#13;", "&#10;"}

// checkKeyPrefix refuses a key prefix Wazuh refuses, naming the first
// entity or character found.
func checkKeyPrefix(s string) error {
	for _, ent := range keyEntitiesRefused {
		if strings.Contains(s, ent) {
			return fmt.Errorf("%w: %q has the XML entity %s; Wazuh refuses the characters %s and the entities %s in a key prefix",
				ErrKeyCharacter, s, ent, keyCharsRefused, strings.Join(keyEntitiesRefused, " "))
		}
	}
	if i := strings.IndexAny(s, keyCharsRefused); i >= 0 {
		return fmt.Errorf("%w: %q has the character %s; Wazuh refuses the characters %s and the entities %s in a key prefix",
			ErrKeyCharacter, s, s[i:i+1], keyCharsRefused, strings.Join(keyEntitiesRefused, " "))
	}
	return nil
}
