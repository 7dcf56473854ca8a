package flowlogs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ec2Server answers DescribeFlowLogs with the two saved pages and records
// the requests' forms.
type ec2Server struct {
	mu    sync.Mutex
	forms []url.Values
	paths []string
}

func (s *ec2Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	s.paths = append(s.paths, r.Header.Get("Authorization"))
	s.mu.Unlock()
	page := "testdata/page1.CONSTRUCTED.xml"
	switch r.PostForm.Get("NextToken") {
	case "":
	case "eyJ2IjoiMyIsImMiOiJFWEFNUExFIn0=":
		page = "testdata/page2.CONSTRUCTED.xml"
	default:
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>bad token</Message></Error></Errors><RequestID>x</RequestID></Response>`))
		return
	}
	body, err := os.ReadFile(page)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Write(body)
}

func testConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test-key", "test-secret", "")}
}

func TestDescribe(t *testing.T) {
	s := &ec2Server{}
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := New(testConfig(), ts.URL)
	got, err := c.Describe(context.Background(), "eu-west-1")
	require.NoError(t, err)
	assert.Equal(t, []FlowLog{
		{ID: "fl-01234567890123456", ResourceID: "vpc-00112233445566778",
			LogFormat: "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}",
			Bucket:    "my-flow-log-bucket", Prefix: "custom", FileFormat: "plain-text", Hive: true, PerHour: true},
		{ID: "fl-aabbccdd112233445", ResourceID: "subnet-12345678901234567",
			LogFormat: "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"},
		{ID: "fl-0a1b2c3d4e5f60718", ResourceID: "eni-0a1b2c3d4e5f60718",
			LogFormat: "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
			Bucket:    "my-vpc-flowlogs", FileFormat: "plain-text"},
	}, got)
	require.Len(t, s.forms, 2, "two pages")
	for i, f := range s.forms {
		assert.Equal(t, "DescribeFlowLogs", f.Get("Action"))
		assert.Equal(t, "2016-11-15", f.Get("Version"))
		assert.Equal(t, "log-destination-type", f.Get("Filter.1.Name"))
		assert.Equal(t, "s3", f.Get("Filter.1.Value.1"))
		assert.Equal(t, "1000", f.Get("MaxResults"))
		assert.Contains(t, s.paths[i], "/eu-west-1/ec2/aws4_request", "signed for the region asked")
	}
	assert.Equal(t, "", s.forms[0].Get("NextToken"))
	assert.Equal(t, "eyJ2IjoiMyIsImMiOiJFWEFNUExFIn0=", s.forms[1].Get("NextToken"))
}

func TestDescribeError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>x</RequestID></Response>`))
	}))
	defer ts.Close()
	_, err := New(testConfig(), ts.URL).Describe(context.Background(), "us-east-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ec2 DescribeFlowLogs in us-east-1 at "+ts.URL+": ")
	assert.Contains(t, err.Error(), "UnauthorizedOperation")
}

// TestDescribeTriesThreeTimes: a refusing endpoint is tried three times,
// not the ten of S3 requests.
func TestDescribeTriesThreeTimes(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer ts.Close()
	cfg := testConfig()
	cfg.RetryMaxAttempts = 10
	_, err := New(cfg, ts.URL).Describe(context.Background(), "us-east-1")
	require.Error(t, err)
	assert.Equal(t, int64(Attempts), n.Load())
}

func TestEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_EC2", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	assert.Equal(t, "https://ec2.eu-west-1.amazonaws.com", New(testConfig(), "").Endpoint("eu-west-1"))
	assert.Equal(t, "http://127.0.0.1:1", New(testConfig(), "http://127.0.0.1:1").Endpoint("eu-west-1"))
	t.Setenv("AWS_ENDPOINT_URL_EC2", "http://ec2.local")
	assert.Equal(t, "http://ec2.local", New(testConfig(), "").Endpoint("eu-west-1"))
}
