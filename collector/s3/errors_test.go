package s3

import (
	"context"
	"errors"
	"net/http"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type listErrAPI struct {
	API
	err error
}

func (l listErrAPI) ListObjectsV2(context.Context, *awss3.ListObjectsV2Input, ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error) {
	return nil, l.err
}

func TestClassify(t *testing.T) {
	forbidden := &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 403}}, Err: errors.New("forbidden")}
	cases := []struct {
		name      string
		err       error
		want      error
		permanent bool
	}{
		{"access-denied", &smithy.GenericAPIError{Code: "AccessDenied"}, ErrAccessDenied, true},
		{"403-without-code", forbidden, ErrAccessDenied, true},
		{"no-such-bucket", &smithy.GenericAPIError{Code: "NoSuchBucket"}, ErrNoSuchBucket, true},
		{"no-such-key", &smithy.GenericAPIError{Code: "NoSuchKey"}, ErrNoSuchKey, false},
		{"bad-key-id", &smithy.GenericAPIError{Code: "InvalidAccessKeyId"}, ErrCredentials, true},
		{"signature", &smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}, ErrCredentials, true},
		{"changed", &smithy.GenericAPIError{Code: "PreconditionFailed"}, ErrChanged, false},
		{"slow-down", &smithy.GenericAPIError{Code: "SlowDown"}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewClient(listErrAPI{err: c.err}).Prefixes(context.Background(), "b", "AWSLogs/")
			require.Error(t, err)
			assert.ErrorIs(t, err, c.err, "the S3 error is kept")
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			}
			assert.Equal(t, c.permanent, Permanent(err))
			assert.Contains(t, err.Error(), "list s3://b/AWSLogs/: ")
		})
	}
}
