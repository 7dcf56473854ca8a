package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
)

// ErrNoCredentials says the AWS SDK's credential chain found no
// credentials (as opposed to credentials that S3 refused or that may not
// read the bucket: ErrCredentials, ErrAccessDenied).
var ErrNoCredentials = errors.New("no credentials found")

// CredentialsError says why a bucket has no usable credentials: whose they
// were to be (profile, role) and what the SDK's chain tried. Err is
// ErrNoCredentials, ErrAccessDenied (a role that may not be assumed) or
// ErrCredentials, and the SDK's error.
type CredentialsError struct {
	Profile string // the profile used, "" for the default chain
	RoleARN string // the role to assume, "" for none
	Tried   string // what the chain tried, for the log
	Err     error
}

func (e *CredentialsError) Error() string {
	var who []string
	if e.Profile != "" {
		who = append(who, fmt.Sprintf("profile %q", e.Profile))
	}
	if e.RoleARN != "" {
		who = append(who, "role "+e.RoleARN)
	}
	s := e.Err.Error()
	if len(who) > 0 {
		s = strings.Join(who, ", ") + ": " + s
	}
	if e.Tried != "" {
		s += " (the AWS SDK's credential chain tried: " + e.Tried + ")"
	}
	return s
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// credentialsTimeout bounds finding credentials: the instance-role
// endpoint is the chain's last, slow resort off EC2.
const credentialsTimeout = 30 * time.Second

// CheckCredentials asks cfg's credential chain (and the role of a, if any)
// for credentials once, so that a bucket without any is reported as such,
// with what was tried, before its first request. It returns where the
// credentials came from (the SDK's provider name, e.g.
// "SharedConfigCredentials: /root/.aws/credentials").
func CheckCredentials(ctx context.Context, cfg aws.Config, a Auth) (string, error) {
	if cfg.Credentials == nil {
		return "", &CredentialsError{Profile: a.Profile, RoleARN: a.RoleARN, Tried: chainTried(a), Err: ErrNoCredentials}
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err == nil {
		return creds.Source, nil
	}
	cat := ErrNoCredentials
	var ae smithy.APIError
	if a.RoleARN != "" && errors.As(err, &ae) {
		// The base credentials were found; STS answered about the role.
		switch ae.ErrorCode() {
		case "AccessDenied":
			cat = ErrAccessDenied
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken":
			cat = ErrCredentials
		}
	}
	ce := &CredentialsError{Profile: a.Profile, RoleARN: a.RoleARN, Err: fmt.Errorf("%w: %w", cat, err)}
	if cat == ErrNoCredentials {
		ce.Tried = chainTried(a)
	}
	return "", ce
}

// chainTried describes what the SDK's default chain looks at, in its
// order, as this process's environment sets it up.
func chainTried(a Auth) string {
	set := func(names ...string) string {
		for _, n := range names {
			if os.Getenv(n) != "" {
				return n + " set"
			}
		}
		return strings.Join(names, ", ") + " not set"
	}
	profile := a.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	home, _ := os.UserHomeDir()
	file := func(env, name string) string {
		p := os.Getenv(env)
		if p == "" {
			p = filepath.Join(home, ".aws", name)
		}
		if _, err := os.Stat(p); err != nil {
			return p + " (missing)"
		}
		return p
	}
	imds := "EC2 instance role (IMDS)"
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		imds += " disabled by AWS_EC2_METADATA_DISABLED"
	}
	return strings.Join([]string{
		"environment (" + set("AWS_ACCESS_KEY_ID") + ")",
		fmt.Sprintf("shared files %s and %s for profile %q (incl. SSO and credential_process)",
			file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), file("AWS_CONFIG_FILE", "config"), profile),
		"web identity (" + set("AWS_WEB_IDENTITY_TOKEN_FILE") + ")",
		"container credentials (" + set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI") + ")",
		imds,
	}, "; ")
}

// sdkLogger routes the AWS SDK's own log lines (retries, skipped
// checksums, deprecated settings) into log, at warning level for its
// warnings and debug level for the rest; nil discards them. The SDK
// otherwise writes them raw to stderr.
func sdkLogger(log *slog.Logger) logging.Logger {
	if log == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "aws sdk: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
	})
}
