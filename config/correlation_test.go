package config

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadCorrelation(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "c.yml", `
correlation:
  store: redis
  redis:
    address: 127.0.0.1:6379
    username: vpcalertd
    password_file: secrets/redis
    tls: {ca_file: ca.pem, server_name: redis.internal}
    db: 2
    key_prefix: "prod:"
buckets: [{type: cloudtrail, name: trail-bucket}]
`)
	cfg, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, Correlation{Store: CorrelationRedis, Redis: &Redis{Address: "127.0.0.1:6379", Username: "vpcalertd",
		PasswordFile: filepath.Join(dir, "secrets/redis"), DB: 2, KeyPrefix: "prod:",
		TLS: &RedisTLS{CAFile: filepath.Join(dir, "ca.pem"), ServerName: "redis.internal"}}}, cfg.Correlation)

	p = writeFile(t, dir, "d.yml", "correlation: {store: redis, redis: {address: 'localhost:6379'}}\nbuckets: [{type: cloudtrail, name: trail-bucket}]\n")
	cfg, err = Load(p)
	require.NoError(t, err)
	assert.Equal(t, &Redis{Address: "localhost:6379", KeyPrefix: DefaultRedisKeyPrefix}, cfg.Correlation.Redis)

	p = writeFile(t, dir, "e.yml", "buckets: [{type: cloudtrail, name: trail-bucket}]\n")
	cfg, err = Load(p)
	require.NoError(t, err)
	assert.Equal(t, Correlation{Store: CorrelationMemory}, cfg.Correlation, "the default keeps the state in the process")
}

func TestLoadCorrelationErrors(t *testing.T) {
	cases := []struct{ name, yml, want string }{
		{"bad-store", "correlation: {store: etcd}\n", `^c\.yml:1:22: correlation\.store: must be memory or redis, got "etcd"$`},
		{"redis-without-block", "correlation: {store: redis}\n", `^c\.yml:1:14: correlation\.redis: is required with store: redis`},
		{"redis-block-with-memory", "correlation: {redis: {address: 'h:1'}}\n", `^c\.yml:1:22: correlation\.redis: is set but correlation\.store is "memory"`},
		{"bad-address", "correlation: {store: redis, redis: {address: localhost}}\n", `^c\.yml:1:46: correlation\.redis\.address: must be host:port, got "localhost"$`},
		{"bad-db", "correlation: {store: redis, redis: {address: 'h:1', db: -1}}\n", `correlation\.redis\.db: must be ≥ 0, got -1$`},
		{"unknown-key", "correlation: {store: redis, redis: {adress: 'h:1'}}\n", `unknown key "adress", did you mean "address"\?`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "c.yml", c.yml+"buckets: [{type: vpcflow, name: b-1}]\n")
			_, err := Load(p)
			require.Error(t, err)
			msg := regexp.MustCompile(regexp.QuoteMeta(dir+string(filepath.Separator))).ReplaceAllString(err.Error(), "")
			assert.Regexp(t, regexp.MustCompile(`(?m)`+c.want), msg)
		})
	}
}
