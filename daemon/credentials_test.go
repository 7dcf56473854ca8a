package daemon

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// iamServer starts a second versitygw with its internal IAM, and a user
// "reader" who owns nothing: its requests on the root's buckets are
// denied. It returns the endpoint.
func iamServer(t *testing.T) string {
	t.Helper()
	bin := s3test.Binary()
	if bin == "" {
		t.Skip(s3test.InstallHint)
	}
	dir, err := testproc.TempDir("vpcalertd-s3test-iam")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "iam"), 0o755))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	// Under testproc's watchdog: the server and its folder go with this
	// test binary, however it ends.
	srv, err := testproc.Start(testproc.Cmd{
		Path:   bin,
		Args:   []string{"--port", addr, "--iam-dir", filepath.Join(dir, "iam"), "--quiet", "posix", filepath.Join(dir, "data")},
		Env:    []string{"ROOT_ACCESS_KEY=" + s3test.AccessKey, "ROOT_SECRET_KEY=" + s3test.SecretKey},
		Remove: []string{dir},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	endpoint := "http://" + addr
	var out []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		admin := exec.Command(bin, "admin", "-a", s3test.AccessKey, "-s", s3test.SecretKey, "--er", endpoint,
			"create-user", "-a", "reader", "-s", "reader-secret", "-r", "user")
		if out, err = admin.CombinedOutput(); err == nil {
			break
		}
	}
	require.NoError(t, err, "%s", out)
	admin := exec.Command(bin, "admin", "-a", s3test.AccessKey, "-s", s3test.SecretKey, "--er", endpoint,
		"create-bucket", "--owner", s3test.AccessKey, "--bucket", "denied-it")
	if out, err := admin.CombinedOutput(); err != nil {
		t.Logf("admin create-bucket: %v: %s", err, out)
	}
	return endpoint
}

// TestCredentialsMessages: "no credentials found" (with what the SDK's
// chain tried) is told apart from credentials refused and from access
// denied, each naming the bucket and the profile or role; the AWS SDK
// writes nothing raw to stderr.
func TestCredentialsMessages(t *testing.T) {
	srv := s3test.Need(t)
	bucket := srv.NewBucket(t, "creds-it")
	iam := iamServer(t)

	cases := []struct {
		name    string
		env     map[string]string
		extra   string
		reason  string
		message []string
	}{
		{"none", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "", "no credentials found",
			[]string{"no credentials found", "the AWS SDK's credential chain tried: environment (AWS_ACCESS_KEY_ID not set); shared files ",
				"(missing) and ", `for profile "default"`, "EC2 instance role (IMDS) disabled by AWS_EC2_METADATA_DISABLED"}},
		{"unknown-profile", nil, ", aws_profile: nope", "no credentials found",
			[]string{`profile "nope": no credentials found`, "the AWS SDK's credential chain tried"}},
		{"refused", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "", "credentials refused (unknown access key, wrong secret, or expired)",
			[]string{"list s3://" + bucket + "/AWSLogs/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			awsEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			cfg := writeConfig(t, dir, fmt.Sprintf("state: state.db\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n"+
				"buckets: [{type: vpcflow, name: %s, service_endpoint: %q%s}]\n", bucket, srv.Endpoint, c.extra))
			res := runMain(t, cfg, true)
			assert.Equal(t, 1, res.code, res.stderr)
			var line map[string]any
			for _, l := range res.logs {
				if strings.HasPrefix(l["msg"].(string), "bucket unavailable") {
					line = l
				}
			}
			require.NotNil(t, line, res.stderr)
			t.Log(line["error"])
			assert.Equal(t, bucket, line["bucket"])
			assert.Equal(t, c.reason, line["reason"])
			for _, m := range c.message {
				assert.Contains(t, line["error"], m)
			}
			for _, l := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
				assert.True(t, strings.HasPrefix(l, "{"), "every stderr line is the daemon's JSON log: %q", l)
			}
		})
	}

	t.Run("access-denied", func(t *testing.T) {
		awsEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "reader")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "reader-secret")
		dir := t.TempDir()
		cfg := writeConfig(t, dir, fmt.Sprintf("state: state.db\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n"+
			"buckets: [{type: vpcflow, name: denied-it, service_endpoint: %q}]\n", iam))
		res := runMain(t, cfg, true)
		assert.Equal(t, 1, res.code, res.stderr)
		lines := res.logsWith("bucket unavailable")
		require.Len(t, lines, 1, res.stderr)
		assert.Equal(t, "access denied (check s3:ListBucket and s3:GetObject on the bucket)", lines[0]["reason"])
		assert.Equal(t, "EnvConfigCredentials", lines[0]["credentials"])
		assert.Contains(t, lines[0]["error"], "access denied")
	})
}
