package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"
)

// ErrNotAlert is the reason of a line of an alerts file that is not an
// alert (not JSON, or no rule and timestamp).
var ErrNotAlert = errors.New("not an alert")

// LineError is a bad line of an alerts file.
type LineError struct {
	Path string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err) }

// Unwrap returns the reason.
func (e *LineError) Unwrap() error { return e.Err }

// AlertsStats counts what ReadAlerts read.
type AlertsStats struct {
	Lines    int64 // lines read, empty ones excepted
	Alerts   int64 // alerts counted
	Flows    int64 // flows taken from flow alerts
	BadLines int64 // lines that are not alerts
}

// alertLine is what the report reads of an alerts.json line (vpcalertd's or
// Wazuh's: the data scalars are strings in both).
type alertLine struct {
	Timestamp string `json:"timestamp"`
	Rule      *struct {
		Level       int    `json:"level"`
		Description string `json:"description"`
		ID          string `json:"id"`
	} `json:"rule"`
	Data json.RawMessage `json:"data"`
}

type alertData struct {
	SrcIP string    `json:"srcip"`
	DstIP string    `json:"dstip"`
	AWS   *awsField `json:"aws"`
}

type awsField struct {
	Srcaddr         string `json:"srcaddr"`
	Dstaddr         string `json:"dstaddr"`
	Dstport         string `json:"dstport"`
	Protocol        string `json:"protocol"`
	Action          string `json:"action"`
	Bytes           string `json:"bytes"`
	Packets         string `json:"packets"`
	Start           string `json:"start"`
	AccountID       string `json:"account_id"`
	AWSAccountID    string `json:"aws_account_id"`
	InterfaceID     string `json:"interface_id"`
	Region          string `json:"region"`
	AWSRegion       string `json:"awsRegion"`
	SourceIPAddress string `json:"sourceIPAddress"`
	EventTime       string `json:"eventTime"`
}

// ReadAlerts counts the alerts of an alerts file (JSON lines, plain or gzip,
// told apart by the magic bytes) into agg: every alert for the rules and
// address lists, and, for flow alerts, the flow in data.aws. A record that
// several rules alerted on is written as consecutive alerts with the same
// data, so such a repeat counts its flow once. Lines that are not alerts
// are reported through onBad as *LineError and counted; the rest goes on.
func ReadAlerts(ctx context.Context, path string, agg *Aggregator, onBad func(error)) (AlertsStats, error) {
	var st AlertsStats
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return st, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256<<10), 64<<20)
	var prevData []byte
	line := 0
	for sc.Scan() {
		line++
		if line&1023 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		st.Lines++
		var al alertLine
		if err := json.Unmarshal(b, &al); err != nil {
			st.BadLines++
			onBad(&LineError{Path: path, Line: line, Err: fmt.Errorf("%w: %v", ErrNotAlert, jsonReason(err))})
			continue
		}
		if al.Rule == nil || al.Rule.ID == "" || al.Timestamp == "" {
			st.BadLines++
			onBad(&LineError{Path: path, Line: line, Err: fmt.Errorf("%w: no rule.id or timestamp", ErrNotAlert)})
			continue
		}
		var data alertData
		if len(al.Data) > 0 {
			if err := json.Unmarshal(al.Data, &data); err != nil {
				// data holds non-string scalars: read its addresses anyway.
				data = alertData{}
			}
		}
		ts, _ := time.Parse("2006-01-02T15:04:05.000-0700", al.Timestamp)
		rec := AlertRec{Time: ts.Unix(), RuleID: al.Rule.ID, Level: al.Rule.Level, Description: []byte(al.Rule.Description)}
		var addrs []netip.Addr
		for _, s := range []string{data.SrcIP, data.DstIP} {
			if ip, err := netip.ParseAddr(s); err == nil {
				addrs = append(addrs, ip)
			}
		}
		if a := data.AWS; a != nil {
			for _, s := range []string{a.Srcaddr, a.Dstaddr, a.SourceIPAddress} {
				if ip, err := netip.ParseAddr(s); err == nil {
					addrs = append(addrs, ip)
				}
			}
			if t, ok := parseUTC([]byte(a.Start)); ok {
				rec.Time = t
			} else if t, err := time.Parse(time.RFC3339, a.EventTime); err == nil {
				rec.Time = t.Unix()
			}
		}
		if !bytes.Equal(al.Data, prevData) || len(al.Data) == 0 {
			if fl, ok := flowFromAlert(data.AWS, rec.Time); ok {
				agg.AddFlow(&fl)
				st.Flows++
			} else {
				agg.AddRecord()
			}
		}
		prevData = append(prevData[:0], al.Data...)
		rec.Addrs = addrs
		agg.AddAlert(&rec)
		st.Alerts++
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("%s: line %d: %w", path, line+1, err)
	}
	return st, nil
}

func flowFromAlert(a *awsField, t int64) (Flow, bool) {
	if a == nil {
		return Flow{}, false
	}
	src, ok1 := parseAddr([]byte(a.Srcaddr))
	dst, ok2 := parseAddr([]byte(a.Dstaddr))
	if !ok1 || !ok2 || a.Action == "" {
		return Flow{}, false
	}
	f := Flow{Time: t, Talker: Talker{Src: src, Dst: dst, Action: actionOf([]byte(a.Action))}}
	port, _ := atoi([]byte(a.Dstport))
	proto, _ := atoi([]byte(a.Protocol))
	f.DstPort, f.Proto = uint16(port), uint8(proto)
	f.Bytes, _ = atoi([]byte(a.Bytes))
	f.Packets, _ = atoi([]byte(a.Packets))
	f.Flows = 1
	f.AccountName = a.AccountID
	if f.AccountName == "" {
		f.AccountName = a.AWSAccountID
	}
	f.Interface = []byte(a.InterfaceID)
	f.Region = []byte(a.Region)
	return f, true
}

// jsonReason shortens encoding/json's errors to what a user can act on.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func indexOf(b []byte, s string) int { return bytes.Index(b, []byte(s)) }

// unquoteJSON decodes the JSON string whose body starts at b (after the
// opening quote).
func unquoteJSON(b []byte) []byte {
	for j := 0; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			var s string
			if json.Unmarshal(append([]byte{'"'}, b[:j+1]...), &s) != nil {
				return nil
			}
			return []byte(s)
		}
	}
	return nil
}
