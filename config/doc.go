// Package config reads the daemon's configuration: a strict YAML file with
// the knobs of Wazuh's <wodle name="aws-s3"> (interval, run_on_start,
// skip_on_error, remove_from_bucket and the per-bucket settings), the state
// and output settings, and optionally an ossec.conf whose aws-s3 wodle block
// is taken as is (docs/wazuh-compat.md, "The wodle's configuration"). Every unknown key and bad value is
// an error that names the file, the position and the key, all reported at
// once; what is accepted but read otherwise than Wazuh reads it is a
// warning (Config.Warnings).
package config
