package indexer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// TestOutageMidStream takes the indexer away for several seconds in the
// middle of a stream of alerts: every alert must end up in the index
// exactly once.
func TestOutageMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the indexer away for seconds, twice; -short skips it")
	}
	for _, tc := range []struct {
		name string
		disk bool
	}{{"disk-queue", true}, {"memory-queue", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, indexertest.Options{Discard: false})
			cfg := fastConfig(srv.URL)
			cfg.Batch.MaxCount = 100
			if tc.disk {
				cfg.Queue.Dir = t.TempDir()
			}
			s, logs := newSink(t, cfg)
			alerts := manyAlerts(t, 3000)
			writeAll(t, s, alerts[:1000])
			require.NoError(t, s.Sync())

			srv.Down()
			done := make(chan error, 1)
			go func() {
				for _, a := range alerts[1000:2000] {
					if err := s.Write(a); err != nil {
						done <- err
						return
					}
				}
				if tc.disk {
					// On disk, Sync does not need the indexer.
					done <- s.Sync()
					return
				}
				done <- nil
			}()
			time.Sleep(3 * time.Second)
			if tc.disk {
				require.NoError(t, <-done)
			}
			require.NoError(t, srv.Up())
			if !tc.disk {
				require.NoError(t, <-done)
			}
			writeAll(t, s, alerts[2000:])
			require.NoError(t, s.Sync())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, s.Drain(ctx))

			assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
			st := srv.Stats()
			assert.Equal(t, 3000, st.Created, "each document created once")
			assert.Zero(t, st.ItemErrors)
			assert.Contains(t, logs.String(), "indexer: unavailable")
			assert.Contains(t, logs.String(), "indexer: reachable again")
			assert.Equal(t, 1, strings.Count(logs.String(), "indexer: unavailable"), "the outage is logged once, not per request")
		})
	}
}

// TestRestartDeliversQueue stops a sink while the indexer is down and
// starts a new one on the same queue directory once it is back.
func TestRestartDeliversQueue(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	dir := t.TempDir()
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = dir
	cfg.CloseTimeout = 100 * time.Millisecond
	cfg.Batch.MaxCount = 50

	alerts := manyAlerts(t, 600)
	// First run: half delivered, then the indexer goes away.
	s1, err := New(cfg, nil)
	require.NoError(t, err)
	writeAll(t, s1, alerts[:300])
	require.NoError(t, s1.Drain(context.Background()))
	srv.Down()
	writeAll(t, s1, alerts[300:])
	require.NoError(t, s1.Sync())
	require.NoError(t, s1.Close(), "alerts left on disk are not an error")
	assert.Equal(t, 300, srv.Count())
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.q"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)

	// Second run: nothing is written, the queue is delivered.
	require.NoError(t, srv.Up())
	s2, err := New(cfg, nil)
	require.NoError(t, err)
	assert.Positive(t, s2.Stats().QueuedBytes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s2.Drain(ctx))
	require.NoError(t, s2.Close())
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))

	// Third run: the queue is empty, nothing is sent again.
	before := srv.Stats().Items
	s3, err := New(cfg, nil)
	require.NoError(t, err)
	assert.Zero(t, s3.Stats().QueuedBytes)
	require.NoError(t, s3.Close())
	assert.Equal(t, before, srv.Stats().Items)
}

// TestRestartAfterCrash leaves a queue as a killed process would (records
// written, a record cut in half, cursor stale) and checks a new sink
// delivers every complete record.
func TestRestartAfterCrash(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	srv.Down()
	dir := t.TempDir()
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = dir
	cfg.CloseTimeout = time.Millisecond
	alerts := manyAlerts(t, 100)
	s1, err := New(cfg, nil)
	require.NoError(t, err)
	writeAll(t, s1, alerts)
	require.NoError(t, s1.Close())

	// Append half a record to the last segment, as a crash mid-write would.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.q"))
	require.NotEmpty(t, segs)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0, 0, 4, 0, 1, 2, 3, 4, '{', '"'})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, cursorName)))

	require.NoError(t, srv.Up())
	log, logs := testLogger(t)
	s2, err := New(cfg, log)
	require.NoError(t, err)
	require.NoError(t, s2.Drain(context.Background()))
	require.NoError(t, s2.Close())
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
	assert.Contains(t, logs.String(), "partial record")
}

// TestResendIsIdempotent: what the output sends for an alert is a create
// with the alert's _id, so sending the same alerts again (a queue resumed
// from a stale cursor, or an object read again after a crash) adds
// nothing and changes nothing: every document is answered 409, counted
// as a duplicate, and the indexer holds the first copy as it was.
func TestResendIsIdempotent(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	var actions sync.Map
	srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
		actions.Store(it.Action, true)
		return nil
	})
	alerts := manyAlerts(t, 100)
	for run := range 2 {
		s, err := New(fastConfig(srv.URL), nil)
		require.NoError(t, err)
		writeAll(t, s, alerts)
		require.NoError(t, s.Sync())
		require.NoError(t, s.Close())
		st := s.Stats()
		if run == 0 {
			assert.EqualValues(t, 100, st.Delivered)
			continue
		}
		assert.Zero(t, st.Delivered, "the second run indexes nothing")
		assert.EqualValues(t, 100, st.Duplicates)
	}
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
	sst := srv.Stats()
	assert.Equal(t, 100, sst.Created)
	assert.Equal(t, 100, sst.Conflicts)
	assert.Zero(t, sst.Updated, "nothing was replaced")
	var sent []string
	actions.Range(func(k, _ any) bool { sent = append(sent, k.(string)); return true })
	assert.Equal(t, []string{"create"}, sent)
}

// TestDeadLetterMappingError sends a document the index's mapping refuses
// (an object where an earlier alert made the field a number): it goes to
// the dead-letter file with the reason, the others are delivered.
func TestDeadLetterMappingError(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	dir := t.TempDir()
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = dir
	s, _ := newSink(t, cfg)

	base := readAlerts(t, constructedFiles[2])[0]
	numbers := *base
	numbers.JSON = []byte(strings.Replace(string(base.JSON), `"eventVersion":"1.09"`, `"eventVersion":"1.09","items":[1,2]`, 1))
	numbers.Origin.Line = 100
	objects := *base
	objects.JSON = []byte(strings.Replace(string(base.JSON), `"eventVersion":"1.09"`, `"eventVersion":"1.09","items":[{"a":"b"}]`, 1))
	objects.Origin.Line = 101
	require.NoError(t, s.Write(&numbers))
	require.NoError(t, s.Sync())
	require.NoError(t, s.Drain(context.Background()))
	require.NoError(t, s.Write(&objects))
	require.NoError(t, s.Write(base))
	require.NoError(t, s.Sync())
	require.NoError(t, s.Drain(context.Background()))

	assert.Equal(t, map[string]bool{docID(&numbers): true, docID(base): true}, storedIDs(t, srv))
	st := s.Stats()
	assert.EqualValues(t, 1, st.DeadLettered)
	assert.EqualValues(t, 2, st.Delivered)

	entries := readDeadLetter(t, filepath.Join(dir, deadLetterName))
	require.Len(t, entries, 1)
	e := entries[0]
	assert.Equal(t, docID(&objects), e.ID)
	assert.Equal(t, "wazuh-alerts-4.x-2024.03.05", e.Index)
	assert.Equal(t, 400, e.Status)
	assert.Contains(t, e.Reason, "mapper_parsing_exception")
	assert.Contains(t, e.Reason, "data.aws.items")
	doc := mustJSON(t, e.Document).(map[string]any)
	assert.Equal(t, "AWS Cloudtrail: ec2.amazonaws.com - CreateVpc.", doc["rule"].(map[string]any)["description"])
}

// TestRejectedWithoutDeadLetter: with no dead-letter file, Sync reports the
// loss instead of hiding it.
func TestRejectedWithoutDeadLetter(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
		return &indexertest.ItemError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [x] of type [long]"}
	})
	s, _ := newSink(t, fastConfig(srv.URL))
	writeAll(t, s, manyAlerts(t, 3))
	err := s.Sync()
	require.ErrorIs(t, err, ErrRejected)
	assert.Contains(t, err.Error(), "mapper_parsing_exception")
	assert.NoError(t, s.Sync(), "a rejection is reported once")
}

type deadLine struct {
	deadEntry
	Document json.RawMessage `json:"document"`
}

func readDeadLetter(t *testing.T, path string) []deadLine {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []deadLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e deadLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	return out
}

// TestRetryStatuses: 429 and 5xx answers are retried until the indexer
// takes the batch; transient per-item errors are retried alone.
func TestRetryStatuses(t *testing.T) {
	t.Run("request-429-503-then-success", func(t *testing.T) {
		srv := newServer(t, indexertest.Options{})
		srv.FailNext(429, 429, 503, 502)
		s, _ := newSink(t, fastConfig(srv.URL))
		alerts := manyAlerts(t, 50)
		writeAll(t, s, alerts)
		require.NoError(t, s.Sync())
		assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
		assert.Equal(t, 4, srv.Stats().InjectedErrors)
		assert.GreaterOrEqual(t, s.Stats().Retries, int64(4))
	})
	t.Run("item-429-then-success", func(t *testing.T) {
		srv := newServer(t, indexertest.Options{})
		srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
			if it.Attempt <= 2 {
				return &indexertest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of primary operation"}
			}
			return nil
		})
		s, _ := newSink(t, fastConfig(srv.URL))
		alerts := manyAlerts(t, 20)
		writeAll(t, s, alerts)
		require.NoError(t, s.Sync())
		assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
		assert.Equal(t, 60, srv.Stats().Items, "each document sent three times")
		assert.Zero(t, s.Stats().DeadLettered)
	})
	t.Run("item-500-gives-up-after-max-item-retries", func(t *testing.T) {
		srv := newServer(t, indexertest.Options{})
		alerts := manyAlerts(t, 5)
		poison := docID(alerts[2])
		srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
			if it.ID == poison {
				return &indexertest.ItemError{Status: 500, Type: "exception", Reason: "boom"}
			}
			return nil
		})
		cfg := fastConfig(srv.URL)
		cfg.DeadLetter = filepath.Join(t.TempDir(), "dead.ndjson")
		cfg.Retry.MaxItemRetries = 3
		s, _ := newSink(t, cfg)
		writeAll(t, s, alerts)
		require.NoError(t, s.Sync())
		assert.Equal(t, 4, srv.Count())
		entries := readDeadLetter(t, cfg.DeadLetter)
		require.Len(t, entries, 1)
		assert.Equal(t, poison, entries[0].ID)
		assert.Contains(t, entries[0].Reason, "gave up after 3 retries")
	})
	t.Run("item-429-never-counts-towards-max-item-retries", func(t *testing.T) {
		srv := newServer(t, indexertest.Options{})
		srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
			if it.Attempt <= 6 {
				return &indexertest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of primary operation"}
			}
			return nil
		})
		cfg := fastConfig(srv.URL)
		cfg.DeadLetter = filepath.Join(t.TempDir(), "dead.ndjson")
		cfg.Retry.MaxItemRetries = 2
		s, _ := newSink(t, cfg)
		alerts := manyAlerts(t, 10)
		writeAll(t, s, alerts)
		require.NoError(t, s.Sync())
		assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv), "throttled documents are waited for, never given up")
		assert.Zero(t, s.Stats().DeadLettered)
		assert.Empty(t, readDeadLetter(t, cfg.DeadLetter))
	})
	t.Run("413-splits-the-batch", func(t *testing.T) {
		srv := newServer(t, indexertest.Options{MaxContentLength: 5000})
		cfg := fastConfig(srv.URL)
		cfg.DeadLetter = filepath.Join(t.TempDir(), "dead.ndjson")
		s, _ := newSink(t, cfg)
		alerts := manyAlerts(t, 20)
		big := *alerts[0]
		big.Origin.Line = 1000
		big.JSON = []byte(strings.Replace(string(big.JSON), `"version":"2"`, `"version":"2","pad":"`+strings.Repeat("x", 6000)+`"`, 1))
		writeAll(t, s, append(alerts, &big))
		require.NoError(t, s.Sync())
		assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
		entries := readDeadLetter(t, cfg.DeadLetter)
		require.Len(t, entries, 1)
		assert.Equal(t, docID(&big), entries[0].ID)
		assert.Contains(t, entries[0].Reason, "413")
	})
}

// TestWrongPassword: a refused password is reported clearly, naming the
// user and where the password came from, never the password itself.
func TestWrongPassword(t *testing.T) {
	srv := newServer(t, indexertest.Options{Username: "admin", Password: "right-secret"})
	pwFile := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("wrong-secret\n"), 0o600))
	cfg := fastConfig(srv.URL)
	cfg.Auth = AuthConfig{Username: "admin", PasswordFile: pwFile}
	cfg.CloseTimeout = 50 * time.Millisecond
	s, logs := newSink(t, cfg)

	err := s.Check(context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.Contains(t, err.Error(), `the indexer rejected the credentials (user "admin", password from auth.password_file `+pwFile+`)`)

	writeAll(t, s, manyAlerts(t, 3))
	err = s.Sync()
	require.ErrorIs(t, err, ErrUnauthorized, "Sync does not wait forever on a wrong password")
	assert.Equal(t, 0, srv.Count())
	closeErr := s.Close()
	require.ErrorIs(t, closeErr, ErrUnauthorized, "in memory, undelivered alerts are reported at Close")
	assert.Contains(t, closeErr.Error(), "were not delivered")
	for _, text := range []string{err.Error(), closeErr.Error(), logs.String()} {
		assert.NotContains(t, text, "wrong-secret")
		assert.NotContains(t, text, "right-secret")
	}
	assert.Contains(t, logs.String(), "delivery blocked")

	t.Run("right-password-from-env", func(t *testing.T) {
		t.Setenv("VPCALERTD_TEST_INDEXER_PW", "right-secret")
		cfg := fastConfig(srv.URL)
		cfg.Auth = AuthConfig{Username: "admin", PasswordEnv: "VPCALERTD_TEST_INDEXER_PW"}
		s, _ := newSink(t, cfg)
		require.NoError(t, s.Check(context.Background()))
		writeAll(t, s, manyAlerts(t, 3))
		require.NoError(t, s.Sync())
		assert.Equal(t, 3, srv.Count())
	})
	t.Run("missing-env", func(t *testing.T) {
		cfg := fastConfig(srv.URL)
		cfg.Auth = AuthConfig{Username: "admin", PasswordEnv: "VPCALERTD_TEST_UNSET_VARIABLE"}
		_, err := New(cfg, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "auth.password_env: environment variable VPCALERTD_TEST_UNSET_VARIABLE is not set")
	})
}

func TestAPIKey(t *testing.T) {
	srv := newServer(t, indexertest.Options{APIKey: "aWQ6a2V5"})
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("aWQ6a2V5\n"), 0o600))
	cfg := fastConfig(srv.URL)
	cfg.Auth = AuthConfig{APIKeyFile: keyFile}
	s, _ := newSink(t, cfg)
	require.NoError(t, s.Check(context.Background()))
	writeAll(t, s, manyAlerts(t, 2))
	require.NoError(t, s.Sync())
	assert.Equal(t, 2, srv.Count())
}

func TestTLS(t *testing.T) {
	srv := newServer(t, indexertest.Options{TLS: true, ClientAuth: true, Username: "admin", Password: "pw"})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "root-ca.pem")
	require.NoError(t, os.WriteFile(caFile, srv.CA.PEM, 0o600))
	client, err := srv.ClientCert("vpcalertd")
	require.NoError(t, err)
	certFile, keyFile, err := client.WriteFiles(dir, "client")
	require.NoError(t, err)
	t.Setenv("VPCALERTD_TEST_INDEXER_PW", "pw")
	base := fastConfig(srv.URL)
	base.Auth = AuthConfig{Username: "admin", PasswordEnv: "VPCALERTD_TEST_INDEXER_PW"}

	for _, tc := range []struct {
		name    string
		tls     TLSConfig
		wantErr string
		wantLog string
	}{
		{name: "ca-and-client-cert", tls: TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}},
		{name: "no-ca", tls: TLSConfig{CertFile: certFile, KeyFile: keyFile}, wantErr: "set tls.ca_file"},
		{name: "wrong-server-name", tls: TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "wazuh-indexer"}, wantErr: "tls.server_name"},
		{name: "no-client-cert", tls: TLSConfig{CAFile: caFile}, wantErr: "certificate"},
		{name: "insecure-skip-verify", tls: TLSConfig{InsecureSkipVerify: true, CertFile: certFile, KeyFile: keyFile}, wantLog: "tls.insecure_skip_verify is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.TLS = tc.tls
			cfg.CloseTimeout = 50 * time.Millisecond
			s, logs := newSink(t, cfg)
			err := s.Check(context.Background())
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				writeAll(t, s, manyAlerts(t, 1))
				assert.Error(t, s.Sync())
				return
			}
			require.NoError(t, err)
			alerts := manyAlerts(t, 5)
			writeAll(t, s, alerts)
			require.NoError(t, s.Sync())
			assert.Subset(t, keys(storedIDs(t, srv)), keys(expectedIDs(alerts)))
			if tc.wantLog != "" {
				assert.Contains(t, logs.String(), tc.wantLog)
			}
		})
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestQueueFull: a full queue makes Write wait and then report
// ErrQueueFull; nothing is dropped, and room comes back with the indexer.
func TestQueueFull(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	srv.Down()
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = t.TempDir()
	cfg.Queue.MaxBytes = minQueueBytes
	cfg.Queue.FullTimeout = 50 * time.Millisecond
	s, _ := newSink(t, cfg)
	alerts := manyAlerts(t, 2000)
	n := 0
	var err error
	for ; n < len(alerts); n++ {
		if err = s.Write(alerts[n]); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ErrQueueFull)
	assert.Contains(t, err.Error(), "queue.max_bytes")
	assert.True(t, s.QueueFull())
	assert.Greater(t, n, 100)

	require.NoError(t, srv.Up())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.WaitRoom(ctx, 64<<10))
	for ; n < len(alerts); n++ {
		for {
			err := s.Write(alerts[n])
			if err == nil {
				break
			}
			require.ErrorIs(t, err, ErrQueueFull)
			require.NoError(t, s.WaitRoom(ctx, 64<<10))
		}
	}
	require.NoError(t, s.Drain(ctx))
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
	segs, err := filepath.Glob(filepath.Join(cfg.Queue.Dir, "seg-*.q"))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(segs), 2, "delivered segments are deleted")
}

func TestQueueDirLocked(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = t.TempDir()
	newSink(t, cfg)
	_, err := New(cfg, nil)
	require.ErrorIs(t, err, ErrQueueLocked)
}

// TestInvalidAlertDeadLettered: an alert line that is not JSON is kept in
// the dead-letter file with its origin.
func TestInvalidAlertDeadLettered(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	cfg := fastConfig(srv.URL)
	cfg.DeadLetter = filepath.Join(t.TempDir(), "dead.ndjson")
	s, _ := newSink(t, cfg)
	a := &alert.Alert{JSON: []byte(`{"timestamp":`), RuleID: "80401"}
	a.Origin.Key, a.Origin.Line = "k.log", 7
	require.NoError(t, s.Write(a))
	entries := readDeadLetter(t, cfg.DeadLetter)
	require.Len(t, entries, 1)
	assert.Equal(t, `{"timestamp":`, entries[0].Alert)
	assert.Equal(t, 7, entries[0].Origin.Line)
	assert.Contains(t, entries[0].Reason, "alert is not a JSON object")

	cfg.DeadLetter = ""
	s2, _ := newSink(t, cfg)
	require.True(t, errors.Is(s2.Write(a), ErrRejected))
}

// TestBatchBounds: requests respect batch.max_count and batch.max_bytes.
func TestBatchBounds(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	cfg := fastConfig(srv.URL)
	cfg.Batch.MaxCount = 7
	cfg.Batch.MaxBytes = 8 << 10
	cfg.Batch.Interval = time.Hour // only Sync flushes a partial batch
	s, _ := newSink(t, cfg)
	alerts := manyAlerts(t, 100)
	writeAll(t, s, alerts)
	require.NoError(t, s.Sync())
	st := srv.Stats()
	assert.LessOrEqual(t, st.MaxItems, 7)
	assert.LessOrEqual(t, st.MaxBody, 8<<10)
	assert.Equal(t, 100, srv.Count())
}

// TestConcurrentWriters: one sink shared by several engine workers.
func TestConcurrentWriters(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory-queue", true: "disk-queue"}[disk], func(t *testing.T) {
			srv := newServer(t, indexertest.Options{})
			cfg := fastConfig(srv.URL)
			cfg.Batch.MaxCount = 64
			if disk {
				cfg.Queue.Dir = t.TempDir()
			}
			s, _ := newSink(t, cfg)
			alerts := manyAlerts(t, 2000)
			errs := make(chan error, 8)
			for w := range 8 {
				go func() {
					for i := w; i < len(alerts); i += 8 {
						if err := s.Write(alerts[i]); err != nil {
							errs <- err
							return
						}
					}
					errs <- s.Sync()
				}()
			}
			for range 8 {
				require.NoError(t, <-errs)
			}
			require.NoError(t, s.Drain(context.Background()))
			assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
		})
	}
}

// TestFailoverAndCompression: with two nodes, the sink moves on when one is
// down; gzip bodies are accepted.
func TestFailoverAndCompression(t *testing.T) {
	down := newServer(t, indexertest.Options{})
	down.Down()
	up := newServer(t, indexertest.Options{})
	cfg := fastConfig(down.URL)
	cfg.URLs = []string{up.URL}
	cfg.Compress = true
	s, _ := newSink(t, cfg)
	alerts := manyAlerts(t, 30)
	writeAll(t, s, alerts)
	require.NoError(t, s.Sync())
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, up))
}

// TestIntervalFlush: a partial batch leaves after batch.interval without
// anyone waiting for it (with a disk queue Sync does not wait for the
// indexer).
func TestIntervalFlush(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	cfg := fastConfig(srv.URL)
	cfg.Queue.Dir = t.TempDir()
	cfg.Batch.Interval = 10 * time.Millisecond
	s, _ := newSink(t, cfg)
	writeAll(t, s, manyAlerts(t, 3))
	require.NoError(t, s.Sync())
	require.Eventually(t, func() bool { return srv.Count() == 3 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, srv.Stats().Requests, "one request for the three")
}

// TestCloseStopsGoroutines: nothing the sink started outlives Close.
func TestCloseStopsGoroutines(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	base := runtime.NumGoroutine()
	for _, disk := range []bool{false, true} {
		cfg := fastConfig(srv.URL)
		if disk {
			cfg.Queue.Dir = t.TempDir()
		}
		s, err := New(cfg, nil)
		require.NoError(t, err)
		writeAll(t, s, manyAlerts(t, 10))
		require.NoError(t, s.Sync())
		require.NoError(t, s.Close())
		assert.ErrorIs(t, s.Write(manyAlerts(t, 1)[0]), ErrClosed)
	}
	// Polled here, not with Eventually, which runs its own goroutine.
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > base && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, n, base, "goroutines left running")
}
