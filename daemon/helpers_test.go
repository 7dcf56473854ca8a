package daemon

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

// helperEnv makes the test binary run the daemon instead of the tests, so
// crash tests can start and SIGKILL a real daemon process. Its arguments
// are the configuration file and, optionally, "--once".
const helperEnv = "VPCALERTD_DAEMON_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		var opts Options
		if d, err := time.ParseDuration(os.Getenv("VPCALERTD_TEST_COMMIT_DELAY")); err == nil {
			opts.BeforeCommit = func() { time.Sleep(d) }
		}
		if d, err := time.ParseDuration(os.Getenv("VPCALERTD_TEST_OBJECT_DELAY")); err == nil && d > 0 {
			opts.NewProcessor = slowProcessor(d)
		}
		if d, err := time.ParseDuration(os.Getenv("VPCALERTD_TEST_KEEPER_DELAY")); err == nil && d > 0 {
			opts.NewProcessor = slowKeeperProcessor(d, "")
		}
		if k := os.Getenv("VPCALERTD_TEST_HANG_KEY"); k != "" {
			// The objects whose key holds k hang before their first
			// byte is read (a poison object, as far as the daemon can
			// tell); the others are read as usual.
			opts.NewProcessor = slowKeeperProcessor(time.Hour, k)
		}
		if d, err := time.ParseDuration(os.Getenv("VPCALERTD_TEST_ROOM_BACKOFF")); err == nil {
			opts.RoomBackoff = d
		}
		if c := os.Getenv("VPCALERTD_TEST_CLOCK"); c != "" {
			opts.Now = testClock(c)
		}
		if n, err := strconv.ParseUint(os.Getenv("VPCALERTD_TEST_FSIZE"), 10, 64); err == nil {
			limitFileSize(n)
		}
		if n, err := strconv.ParseUint(os.Getenv("VPCALERTD_TEST_MEMLIMIT"), 10, 64); err == nil {
			limitMemory(n)
		}
		opts.Once = len(os.Args) > 2 && os.Args[2] == "--once"
		code := serveFile(context.Background(), os.Args[1], opts, os.Stdout, os.Stderr)
		if os.Getenv("VPCALERTD_TEST_MEMLIMIT") != "" {
			reportPeak(os.Stderr)
		}
		os.Exit(code)
	}
	os.Exit(s3test.Main(m))
}

// limitFileSize sets the process's file-size limit (RLIMIT_FSIZE) to n
// bytes, so that writes past it fail with EFBIG as on a full disk, and
// lifts it on SIGUSR1 (room is back).
func limitFileSize(n uint64) {
	lim := syscall.Rlimit{Cur: n, Max: ^uint64(0)}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		panic(err)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			panic(err)
		}
	}()
}

// limitMemory caps the process's address space (RLIMIT_AS) at n bytes: an
// allocation beyond it fails and the Go runtime dies "out of memory", as
// the daemon would under a container's memory limit.
func limitMemory(n uint64) {
	lim := syscall.Rlimit{Cur: n, Max: n}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		panic(err)
	}
}

// reportPeak writes the process's peak resident memory (VmHWM) and peak
// address space (VmPeak) as the line "peak rss: N kB, peak vm: M kB", for
// the memory tests to read.
func reportPeak(w io.Writer) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintf(w, "peak rss: unknown (%v)\n", err)
		return
	}
	v := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, val, ok := strings.Cut(l, ":"); ok {
			v[k] = strings.TrimSpace(val)
		}
	}
	fmt.Fprintf(w, "peak rss: %s, peak vm: %s\n", v["VmHWM"], v["VmPeak"])
}

// testClock parses "BASE@WALL" (RFC 3339 time, Unix nanoseconds): a clock
// that reads BASE at the wall time WALL and runs from there, so that the
// daemons a test starts one after the other share one injected time line
// (a test crosses midnight with it).
func testClock(c string) func() time.Time {
	base, wall, ok := strings.Cut(c, "@")
	b, err1 := time.Parse(time.RFC3339Nano, base)
	w, err2 := strconv.ParseInt(wall, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		panic("VPCALERTD_TEST_CLOCK: want RFC3339@unixnano, got " + c)
	}
	return func() time.Time { return b.Add(time.Since(time.Unix(0, w))) }
}

// clockEnv is the VPCALERTD_TEST_CLOCK setting of a clock that reads base
// now.
func clockEnv(base time.Time) string {
	return fmt.Sprintf("VPCALERTD_TEST_CLOCK=%s@%d", base.Format(time.RFC3339Nano), time.Now().UnixNano())
}

// serveFile runs Serve on the configuration file cfgPath as `vpcalertd run`
// does, logging to stderr, and returns the exit status.
func serveFile(ctx context.Context, cfgPath string, opts Options, stdout, stderr io.Writer) int {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "configuration errors:\n%v\n", err)
		return 2
	}
	opts.Config, opts.Stdout, opts.Logger = cfg, stdout, NewLogger(stderr, cfg.Log)
	code, err := Serve(ctx, opts)
	if err != nil {
		opts.Logger.Error("fatal", "error", err.Error())
	}
	return code
}

// slowProcessor returns a NewProcessor whose engine waits d before each
// object, so that a test can stop a daemon in the middle of one.
func slowProcessor(d time.Duration) func(*config.Config, int64, func(error)) (Processor, error) {
	return func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
		p, err := NewEngine(cfg, idOffset, onError)
		return slowProc{p, d, ""}, err
	}
}

type slowProc struct {
	Processor
	d time.Duration
	// key, when set, slows down only the objects whose path holds it.
	key string
}

func (p slowProc) Process(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (engine.Stats, error) {
	if p.key != "" && !strings.Contains(origin.Path, p.key) {
		return p.Processor.Process(ctx, origin, r, sink)
	}
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done(): // abandoned at shutdown
	}
	return p.Processor.Process(ctx, origin, r, sink)
}

// slowKeeperProcessor is slowProcessor whose processor still keeps the
// correlation state (StateKeeper), so that the daemon saves and restores
// it: a crash campaign spreads its kill points over a slower read. A key
// slows down only the objects whose path holds it.
func slowKeeperProcessor(d time.Duration, key string) func(*config.Config, int64, func(error)) (Processor, error) {
	return func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
		p, err := NewEngine(cfg, idOffset, onError)
		if err != nil {
			return nil, err
		}
		return slowKeeper{slowProc{p, d, key}, p.(StateKeeper)}, nil
	}
}

type slowKeeper struct {
	slowProc
	StateKeeper
}

// awsEnv points the AWS SDK's default chain at the test server's
// credentials and keeps the host's AWS files out.
func awsEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", s3test.Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
}

const flowHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// flowBody returns a flow-log file: the header line and n records whose
// source ports count up from port, alternately ACCEPT and REJECT.
func flowBody(acct string, n, port int, header bool) []byte {
	var b bytes.Buffer
	if header {
		b.WriteString(flowHeader + "\n")
	}
	for i := 0; i < n; i++ {
		action := "ACCEPT"
		if i%2 == 1 {
			action = "REJECT"
		}
		fmt.Fprintf(&b, "2 %s eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 %d 443 6 12 4392 1709633700 1709633760 %s OK\n", acct, port+i, action)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

// flowKey is a flow-log key in AWS's layout.
func flowKey(acct, region, day, flowLogID string, n int) string {
	d := strings.ReplaceAll(day, "-", "/")
	return fmt.Sprintf("AWSLogs/%s/vpcflowlogs/%s/%s/%s_vpcflowlogs_%s_%s_%sT10%02dZ_%08x.log.gz",
		acct, region, d, acct, region, flowLogID, strings.ReplaceAll(day, "-", ""), n%60, n)
}

// trailKey is a CloudTrail key in AWS's layout.
func trailKey(acct, region, day string, n int) string {
	d := strings.ReplaceAll(day, "-", "/")
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%sT10%02dZ_Mu0KsOhtH1ar%04d.json.gz",
		acct, region, d, acct, region, strings.ReplaceAll(day, "-", ""), n%60, n)
}

// ec2Server answers DescribeFlowLogs with the two saved XML pages.
func ec2Server(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		page := "../collector/flowlogs/testdata/page1.CONSTRUCTED.xml"
		if r.PostForm.Get("NextToken") != "" {
			page = "../collector/flowlogs/testdata/page2.CONSTRUCTED.xml"
		}
		body, err := os.ReadFile(page)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

type runResult struct {
	code   int
	logs   []map[string]any
	stdout string
	stderr string
}

// runMain runs the daemon on the configuration file cfg in this process,
// as `vpcalertd run --config cfg [--once]`.
func runMain(t *testing.T, cfg string, once bool) runResult {
	t.Helper()
	return runMainOpts(t, cfg, Options{Once: once})
}

// runMainOpts is runMain with more options.
func runMainOpts(t *testing.T, cfg string, opts Options) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := serveFile(context.Background(), cfg, opts, &out, &errb)
	noDaemonGoroutines(t)
	res := runResult{code: code, stdout: out.String(), stderr: errb.String()}
	sc := bufio.NewScanner(strings.NewReader(errb.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			res.logs = append(res.logs, m)
		}
	}
	return res
}

// logsWith returns the log records whose msg starts with msg.
func (r runResult) logsWith(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range r.logs {
		if s, _ := l["msg"].(string); strings.HasPrefix(s, msg) {
			out = append(out, l)
		}
	}
	return out
}

// alertLine is what the tests look at in an alert.
type alertLine struct {
	RuleID  string
	File    string
	Bucket  string
	Account string
	Alias   string
	SrcPort string
	Event   string
	ID      string
	Raw     string
}

// readAlerts returns the alerts of Wazuh's stock rules in the files, in
// order. The alerts of vpcalertd's own packs (ids 100200–100499) are left
// out: correlation rules (port scans, bursts of rejects) fire on their own
// schedule and have their own tests; these tests count one stock alert per
// record. readAllAlerts keeps them.
func readAlerts(t testing.TB, paths ...string) []alertLine {
	t.Helper()
	var out []alertLine
	for _, a := range readAllAlerts(t, paths...) {
		if !strings.HasPrefix(a.RuleID, "1") || len(a.RuleID) < 6 {
			out = append(out, a)
		}
	}
	return out
}

// readAllAlerts returns every alert in the files, in order.
func readAllAlerts(t testing.TB, paths ...string) []alertLine {
	t.Helper()
	var out []alertLine
	for _, p := range paths {
		f, err := os.Open(p)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, parseAlert(t, sc.Text()))
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	return out
}

func parseAlert(t testing.TB, line string) alertLine {
	var a struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
		ID   string `json:"id"`
		Data struct {
			AWS struct {
				LogInfo struct {
					LogFile string `json:"log_file"`
					Bucket  string `json:"s3bucket"`
					Alias   string `json:"aws_account_alias"`
				} `json:"log_info"`
				Account   string `json:"aws_account_id"`
				SrcPort   string `json:"srcport"`
				EventName string `json:"eventName"`
			} `json:"aws"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &a), line)
	return alertLine{RuleID: a.Rule.ID, File: a.Data.AWS.LogInfo.LogFile, Bucket: a.Data.AWS.LogInfo.Bucket,
		Account: a.Data.AWS.Account, Alias: a.Data.AWS.LogInfo.Alias, SrcPort: a.Data.AWS.SrcPort,
		Event: a.Data.AWS.EventName, ID: a.ID, Raw: line}
}

func writeConfig(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "vpcalertd.yml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}
