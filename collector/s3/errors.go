package s3

import (
	"context"
	"errors"
	"net/http"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error categories callers test with errors.Is.
var (
	// ErrAccessDenied: the credentials may not read the bucket or object.
	ErrAccessDenied = errors.New("access denied")
	// ErrNoSuchBucket: the bucket does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrNoSuchKey: the object is gone (deleted or expired since listing).
	ErrNoSuchKey = errors.New("no such key")
	// ErrCredentials: no usable credentials, or they were refused.
	ErrCredentials = errors.New("invalid credentials")
	// ErrChanged: the object changed while it was being read.
	ErrChanged = errors.New("object changed while reading")
)

// classify wraps err with the category of its S3 error code, keeping err.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var cat error
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden":
			cat = ErrAccessDenied
		case "NoSuchBucket":
			cat = ErrNoSuchBucket
		case "NoSuchKey", "NotFound":
			cat = ErrNoSuchKey
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "InvalidClientTokenId":
			cat = ErrCredentials
		case "PreconditionFailed":
			cat = ErrChanged
		}
	}
	var se *v4.SigningError
	if cat == nil && errors.As(err, &se) {
		// The request could not be signed: the credential chain found
		// none (or the role could not be assumed).
		cat = ErrNoCredentials
	}
	if cat == nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusForbidden:
				cat = ErrAccessDenied
			case http.StatusPreconditionFailed:
				cat = ErrChanged
			}
		}
	}
	if cat == nil || errors.Is(err, cat) {
		return err
	}
	return &catError{cat: cat, err: err}
}

type catError struct {
	cat error
	err error
}

func (e *catError) Error() string { return e.cat.Error() + ": " + e.err.Error() }
func (e *catError) Unwrap() []error {
	return []error{e.cat, e.err}
}

// Permanent says whether retrying err later cannot help within this pass:
// missing buckets, denied access, bad credentials and cancellation.
func Permanent(err error) bool {
	return errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNoSuchBucket) ||
		errors.Is(err, ErrCredentials) || errors.Is(err, ErrNoCredentials) || errors.Is(err, context.Canceled)
}
