package engine

import (
	"strconv"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
	"github.com/vpcalertd/vpcalertd/rules"
)

// ruleFrag holds the parts of a rule's JSON that never change, rendered once
// at load (docs/wazuh-compat.md, "The alerts.json line" and "Groups, compliance and MITRE").
type ruleFrag struct {
	level     []byte // {"level":N,"description":"
	id        []byte // ","id":"NNN"  plus the mitre object
	groups    []byte // ,"groups":[…] and the compliance arrays, closing the rule object
	noCounter bool
}

func newRuleFrag(r *rules.Rule) ruleFrag {
	var f ruleFrag
	f.level = strconv.AppendInt([]byte(`{"level":`), int64(r.Level()), 10)
	f.level = append(f.level, `,"description":"`...)
	f.id = append([]byte(`","id":`), ojson.AppendCJSONString(nil, r.ID())...)
	if m := r.Mitre(); m != nil {
		f.id = append(f.id, `,"mitre":{"id":`...)
		f.id = appendStrings(f.id, m.IDs)
		f.id = append(f.id, `,"tactic":`...)
		f.id = appendStrings(f.id, m.Tactics)
		f.id = append(f.id, `,"technique":`...)
		f.id = appendStrings(f.id, m.Techniques)
		f.id = append(f.id, '}')
	}
	f.groups = append(f.groups, `,"groups":`...)
	f.groups = appendStrings(f.groups, r.Groups())
	for _, c := range r.Compliance() {
		f.groups = append(f.groups, ',')
		f.groups = ojson.AppendCJSONString(f.groups, c.Name)
		f.groups = append(f.groups, ':')
		f.groups = appendStrings(f.groups, c.Values)
	}
	f.groups = append(f.groups, '}')
	f.noCounter = r.NoCounter()
	return f
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = ojson.AppendCJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendHead renders everything before the alert id: timestamp, rule, agent
// and manager.
func (e *Engine) appendHead(dst []byte, w *worker, m *rules.Match, now time.Time) []byte {
	f := &e.frags[m.Rule.Index()]
	dst = append(dst, `{"timestamp":"`...)
	dst = append(dst, w.timestampOf(now, e.opts.Location)...)
	dst = append(dst, `","rule":`...)
	dst = append(dst, f.level...)
	dst = appendEscapedTail(dst, m.Description)
	dst = append(dst, f.id...)
	if m.Frequency > 0 {
		dst = append(dst, `,"frequency":`...)
		dst = strconv.AppendInt(dst, int64(m.Frequency), 10)
	}
	if !f.noCounter {
		dst = append(dst, `,"firedtimes":`...)
		dst = strconv.AppendInt(dst, int64(m.Firedtimes), 10)
	}
	if m.Mail {
		dst = append(dst, `,"mail":true`...)
	} else {
		dst = append(dst, `,"mail":false`...)
	}
	dst = append(dst, f.groups...)
	return append(dst, e.agent...)
}

// agentJSON renders the agent and manager objects and the cluster object.
func agentJSON(opts Options) (agent, cluster []byte) {
	a := Agent{ID: "000", Name: opts.ManagerName}
	if opts.Agent != nil {
		a = *opts.Agent
	}
	agent = append(agent, `,"agent":{"id":`...)
	agent = ojson.AppendCJSONString(agent, a.ID)
	agent = append(agent, `,"name":`...)
	agent = ojson.AppendCJSONString(agent, a.Name)
	if a.IP != "" && a.IP != "any" {
		agent = append(agent, `,"ip":`...)
		agent = ojson.AppendCJSONString(agent, a.IP)
	}
	agent = append(agent, `},"manager":{"name":`...)
	agent = ojson.AppendCJSONString(agent, opts.ManagerName)
	agent = append(agent, `},`...)
	if opts.Cluster != nil {
		cluster = append(cluster, `"cluster":{"name":`...)
		cluster = ojson.AppendCJSONString(cluster, opts.Cluster.Name)
		cluster = append(cluster, `,"node":`...)
		cluster = ojson.AppendCJSONString(cluster, opts.Cluster.Node)
		cluster = append(cluster, `},`...)
	}
	return agent, cluster
}

// appendEscapedTail appends s escaped for the inside of a JSON string (the
// opening quote is part of the fragment before it, the closing one of the
// fragment after it).
func appendEscapedTail(dst, s []byte) []byte {
	start := len(dst)
	dst = ojson.AppendCJSONString(dst, s)
	// Drop the quotes AppendCJSONString added around s.
	copy(dst[start:], dst[start+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// appendTail renders everything after the alert id.
func (e *Engine) appendTail(dst []byte, w *worker, ev *event.Event, m *rules.Match) []byte {
	dst = append(dst, e.cluster...)
	if len(m.PreviousOutput) > 0 {
		dst = append(dst, `"previous_output":`...)
		dst = ojson.AppendCJSONString(dst, m.PreviousOutput)
		dst = append(dst, ',')
	}
	if !m.Rule.NoFullLog() {
		dst = append(dst, `"full_log":`...)
		full := ev.AppendWodleJSON(nil)
		dst = ojson.AppendCJSONString(dst, full)
		dst = append(dst, ',')
	}
	dst = append(dst, `"decoder":{"name":"json"},"data":`...)
	dst = w.data.Append(dst, ev)
	return append(dst, `,"location":"Wazuh-AWS"}`...)
}

// timestampOf formats now as analysisd does (%Y-%m-%dT%H:%M:%S.mmm%z),
// reusing the last result within the same millisecond.
func (w *worker) timestampOf(now time.Time, loc *time.Location) []byte {
	ms := now.UnixMilli()
	if ms == w.tsMilli && w.timestamp != nil {
		return w.timestamp
	}
	w.tsMilli = ms
	w.timestamp = now.In(loc).AppendFormat(w.timestamp[:0], "2006-01-02T15:04:05.000-0700")
	return w.timestamp
}
