package config

import (
	"net"
)

// Correlation says where the rules' correlation state lives (docs/sqs.md,
// "Scale-out").
type Correlation struct {
	// Store is CorrelationMemory (the default: each daemon its own) or
	// CorrelationRedis (shared by the daemons of one queue).
	Store string
	// Redis is the shared store, set when Store is CorrelationRedis.
	Redis *Redis
}

// Correlation stores.
const (
	CorrelationMemory = "memory"
	CorrelationRedis  = "redis"
)

// DefaultRedisKeyPrefix starts every key the daemon writes in Redis.
const DefaultRedisKeyPrefix = "vpcalertd:"

// Redis is a Redis (or Valkey) server.
type Redis struct {
	// Address is host:port.
	Address string
	// Username is the ACL user (Redis 6+); empty with requirepass.
	Username string
	// PasswordFile holds the password (its first line); empty: none.
	PasswordFile string
	// TLS, when set, talks TLS to the server.
	TLS *RedisTLS
	// DB is the database number.
	DB int
	// KeyPrefix starts every key; default DefaultRedisKeyPrefix. Daemons
	// that must correlate together use the same prefix (and database).
	KeyPrefix string
}

// RedisTLS verifies the server's certificate.
type RedisTLS struct {
	// CAFile is a PEM bundle of the CAs that sign the server's
	// certificate; empty: the system roots.
	CAFile string
	// ServerName overrides the name checked in the certificate.
	ServerName string
}

type correlationSpec struct {
	Store string     `yaml:"store"`
	Redis *redisSpec `yaml:"redis"`
}

type redisSpec struct {
	Address      string        `yaml:"address"`
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file"`
	TLS          *redisTLSSpec `yaml:"tls"`
	DB           int           `yaml:"db"`
	KeyPrefix    *string       `yaml:"key_prefix"`
}

type redisTLSSpec struct {
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

func (b *builder) buildCorrelation(s correlationSpec, c *Correlation) {
	c.Store = CorrelationMemory
	if s.Store != "" {
		c.Store = s.Store
	}
	switch c.Store {
	case CorrelationMemory:
		if s.Redis != nil {
			b.errf(b.pos("correlation", "redis"), "correlation.redis", "is set but correlation.store is %q; set store: redis to use it, or remove the redis block", c.Store)
		}
		return
	case CorrelationRedis:
	default:
		b.errf(b.pos("correlation", "store"), "correlation.store", "must be memory or redis, got %q", c.Store)
		return
	}
	r := s.Redis
	if r == nil {
		b.errf(b.pos("correlation"), "correlation.redis", "is required with store: redis (at least address: host:port)")
		return
	}
	c.Redis = &Redis{Address: r.Address, Username: r.Username, PasswordFile: b.abs(r.PasswordFile), DB: r.DB, KeyPrefix: DefaultRedisKeyPrefix}
	if _, port, err := net.SplitHostPort(r.Address); err != nil || port == "" {
		b.errf(b.pos("correlation", "redis", "address"), "correlation.redis.address", "must be host:port, got %q", r.Address)
	}
	if r.DB < 0 {
		b.errf(b.pos("correlation", "redis", "db"), "correlation.redis.db", "must be ≥ 0, got %d", r.DB)
	}
	if r.KeyPrefix != nil {
		c.Redis.KeyPrefix = *r.KeyPrefix
	}
	if r.TLS != nil {
		c.Redis.TLS = &RedisTLS{CAFile: b.abs(r.TLS.CAFile), ServerName: r.TLS.ServerName}
	}
}
