package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/rules"
)

// LogtestOptions configure Logtest.
type LogtestOptions struct {
	// Verbose adds the rule debugging phase: every rule tried, and why each
	// did or did not match.
	Verbose bool
	// JSON prints one JSON result per event instead of the phases.
	JSON bool
}

// Logtest reads one event per line from in (a raw flow-log line, a
// CloudTrail record or file, or an already decoded Wazuh event) and prints
// what wazuh-logtest prints for it: pre-decoding, decoding and filtering
// (docs/wazuh-compat.md, "wazuh-logtest"). Like a wazuh-logtest session, firedtimes and
// correlation memory carry over from one line to the next.
func (e *Engine) Logtest(ctx context.Context, in io.Reader, out io.Writer, opts LogtestOptions) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	w := bufio.NewWriter(out)
	defer w.Flush()
	// A flow-log header line sets the columns of the lines that follow, as
	// in a file: the last one typed is kept with its decoder.
	var header []byte
	var headerDecoder string
	// Warnings of the decoders (unknown columns of a header line, …),
	// printed with the line's result; a header's own warnings come when it
	// is typed, not for each line read with it (OpenOptions.Header).
	msgs := &logtestMsgs{}
	n := 0
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		origin := event.Origin{Path: "stdin", Line: n}
		oo := decoders.OpenOptions{Symbols: e.rules.Symbols(), FirstLine: n,
			OnWarning: func(err error) { msgs.pending = append(msgs.pending, err.Error()) }}
		st, err := e.decoders.Open(origin, bytes.NewReader(line), oo)
		if err == nil && header != nil && st.Decoder() == headerDecoder {
			oo.Header = header
			st, err = e.decoders.Open(origin, bytes.NewReader(line), oo)
		}
		if err != nil {
			if err := e.logtestError(w, opts, msgs, err); err != nil {
				return fmt.Errorf("stdin:%d: %w", n, err)
			}
			continue
		}
		events, bad := 0, 0
		var ev event.Event
		for {
			err := st.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				bad++
				if err := e.logtestError(w, opts, msgs, err); err != nil {
					return fmt.Errorf("stdin:%d: %w", n, err)
				}
				var se *decoders.StreamError
				if errors.As(err, &se) {
					break
				}
				continue
			}
			events++
			if err := e.logtestEvent(w, &ev, st.Decoder(), opts, msgs); err != nil {
				return fmt.Errorf("stdin:%d: %w", n, err)
			}
		}
		if names := st.Header(); events == 0 && bad == 0 && names != nil {
			header, headerDecoder = append([]byte(nil), line...), st.Decoder()
			if err := logtestHeader(w, opts, msgs, headerDecoder, names); err != nil {
				return fmt.Errorf("stdin:%d: %w", n, err)
			}
		}
		if err := msgs.flush(w, opts); err != nil {
			return fmt.Errorf("stdin:%d: %w", n, err)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return sc.Err()
}

// logtestMsgs are the decoders' warnings not printed yet. As in
// wazuh-logtest, a JSON result carries them in "messages" ("WARNING: …")
// with codemsg 1; the text output prints each on a line of its own before
// the result.
type logtestMsgs struct{ pending []string }

// text prints the pending warnings (text output) and forgets them.
func (m *logtestMsgs) text(w io.Writer) {
	for _, msg := range m.pending {
		fmt.Fprintf(w, "** Logtest: WARNING: %s\n", msg)
	}
	m.pending = m.pending[:0]
}

// take returns, and forgets, the pending warnings as a JSON result's
// messages, with the result's codemsg: 1 when there are warnings and the
// result is a success (code 0), else code.
func (m *logtestMsgs) take(code int) (int, []string) {
	if len(m.pending) == 0 {
		return code, nil
	}
	out := make([]string, len(m.pending))
	for i, msg := range m.pending {
		out[i] = "WARNING: " + msg
	}
	m.pending = m.pending[:0]
	if code == 0 {
		code = 1
	}
	return code, out
}

// json adds the pending warnings and the codemsg to a JSON result (take).
func (m *logtestMsgs) json(res map[string]any, code int) map[string]any {
	code, out := m.take(code)
	res["codemsg"] = code
	if out != nil {
		res["messages"] = out
	}
	return res
}

// flush prints the warnings no result of the line took.
func (m *logtestMsgs) flush(w io.Writer, opts LogtestOptions) error {
	if len(m.pending) == 0 {
		return nil
	}
	if opts.JSON {
		return jsonLine(w, m.json(map[string]any{"alert": false}, 0))
	}
	m.text(w)
	fmt.Fprintln(w)
	return nil
}

// logtestHeader says that a header line was read and what it sets.
func logtestHeader(w io.Writer, opts LogtestOptions, msgs *logtestMsgs, decoder string, names []string) error {
	if opts.JSON {
		return jsonLine(w, msgs.json(map[string]any{"header": names, "decoder": decoder, "alert": false}, 0))
	}
	msgs.text(w)
	fmt.Fprintf(w, "**Header line (decoder %s): the lines that follow are read with these %d columns, as in a file:\n\t%s\n\n",
		decoder, len(names), strings.Join(names, " "))
	return nil
}

// jsonLine writes v as one line of JSON (--json).
func jsonLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("logtest: encoding the result: %w", err)
	}
	fmt.Fprintf(w, "%s\n", b)
	return nil
}

func (e *Engine) logtestError(w io.Writer, opts LogtestOptions, msgs *logtestMsgs, err error) error {
	if opts.JSON {
		return jsonLine(w, msgs.json(map[string]any{"error": err.Error(), "alert": false}, -2))
	}
	msgs.text(w)
	fmt.Fprintf(w, "**Phase 1: Completed pre-decoding.\n\n**Phase 2: Completed decoding.\n\tNo decoder matched: %v\n\n", err)
	return nil
}

func (e *Engine) logtestEvent(w io.Writer, ev *event.Event, decoder string, opts LogtestOptions, msgs *logtestMsgs) error {
	now := e.opts.Now()
	var tr rules.Trace
	// The stock result (what wazuh-logtest shows), then the packs' results
	// that went past a level-0 gate.
	all := e.rules.EvalAll(ev, now, &tr)
	m := all[0]
	var packs []rules.Match
	for _, pm := range all[1:] {
		if pm.Rule.Level() > 0 {
			packs = append(packs, pm)
		}
	}
	var alertJSON []byte
	var packJSON []json.RawMessage
	if m.Rule != nil || len(packs) > 0 {
		wk := e.workers.Get().(*worker)
		if m.Rule != nil {
			alertJSON = append([]byte(nil), e.appendAlert(wk, ev, &m, now, nil)...)
		}
		for i := range packs {
			packJSON = append(packJSON, append([]byte(nil), e.appendAlert(wk, ev, &packs[i], now, nil)...))
		}
		e.workers.Put(wk)
	}
	if opts.JSON {
		res := struct {
			Output     json.RawMessage   `json:"output,omitempty"`
			Alert      bool              `json:"alert"`
			Decoder    string            `json:"decoder"`
			RulesDebug []string          `json:"rules_debug,omitempty"`
			Codemsg    int               `json:"codemsg"`
			Packs      []json.RawMessage `json:"pack_outputs,omitempty"`
			DataNotes  []string          `json:"data_notes,omitempty"`
			Messages   []string          `json:"messages,omitempty"`
		}{Output: alertJSON, Alert: m.Alert, Decoder: decoder, Packs: packJSON}
		if opts.Verbose {
			res.RulesDebug = traceLines(&tr)
			res.DataNotes = dataNoteLines(ev)
		}
		res.Codemsg, res.Messages = msgs.take(0)
		return jsonLine(w, res)
	}
	msgs.text(w)
	fmt.Fprintln(w, "**Phase 1: Completed pre-decoding.")
	if m.Rule != nil && !m.Rule.NoFullLog() {
		fmt.Fprintf(w, "\tfull event: '%s'\n", ev.AppendWodleJSON(nil))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**Phase 2: Completed decoding.")
	fmt.Fprintln(w, "\tname: 'json'")
	for _, kv := range decodedFields(ev) {
		fmt.Fprintf(w, "\t%s: '%s'\n", kv[0], kv[1])
	}
	fmt.Fprintln(w)
	if opts.Verbose {
		writeDataNotes(w, ev)
		fmt.Fprintln(w, "**Rule debugging:")
		for _, l := range traceLines(&tr) {
			if strings.HasPrefix(l, "*") {
				fmt.Fprintf(w, "\t\t%s\n", l)
			} else {
				fmt.Fprintf(w, "\t%s\n", l)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "**Phase 3: Completed filtering (rules).")
	if m.Rule == nil {
		fmt.Fprintln(w, "\tNo rule matched.")
		fmt.Fprintln(w)
	} else {
		logtestResult(w, &m)
	}
	for i := range packs {
		fmt.Fprintf(w, "**Pack %s (evaluated on its own, after the stock rules):\n", packs[i].Rule.Pack())
		logtestResult(w, &packs[i])
	}
	return nil
}

// logtestResult prints a final rule as Phase 3 does.
func logtestResult(w io.Writer, m *rules.Match) {
	r := m.Rule
	fmt.Fprintf(w, "\tid: '%s'\n", r.ID())
	fmt.Fprintf(w, "\tlevel: '%d'\n", r.Level())
	fmt.Fprintf(w, "\tdescription: '%s'\n", m.Description)
	fmt.Fprintf(w, "\tgroups: '%s'\n", pyList(r.Groups()))
	if !r.NoCounter() {
		fmt.Fprintf(w, "\tfiredtimes: '%d'\n", m.Firedtimes)
	}
	// The other rule keys, sorted, as wazuh-logtest prints them.
	rest := map[string]string{"mail": pyBool(m.Mail)}
	for _, c := range r.Compliance() {
		rest[c.Name] = pyList(c.Values)
	}
	if m.Frequency > 0 {
		rest["frequency"] = strconv.Itoa(m.Frequency)
	}
	if mi := r.Mitre(); mi != nil {
		rest["mitre"] = fmt.Sprintf("{'id': %s, 'tactic': %s, 'technique': %s}", pyList(mi.IDs), pyList(mi.Tactics), pyList(mi.Techniques))
	}
	keys := make([]string, 0, len(rest))
	for k := range rest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "\t%s: '%s'\n", k, rest[k])
	}
	if m.Alert {
		fmt.Fprintln(w, "**Alert to be generated.")
	}
	fmt.Fprintln(w)
}

// traceLines renders a trace as wazuh-logtest's rules_debug strings, with
// the reason of every non-match added.
func traceLines(tr *rules.Trace) []string {
	var out []string
	for i, s := range tr.Steps {
		if s.Pack != "" && s.Depth == 0 {
			out = append(out, fmt.Sprintf("Pack %s, rule tree %s (evaluated on its own):", s.Pack, s.Rule.ID()))
		}
		out = append(out, fmt.Sprintf("Trying rule: %s - %s", s.Rule.ID(), s.Rule.Description()))
		switch {
		case s.Err != nil:
			out = append(out, fmt.Sprintf("*Rule %s error: %v", s.Rule.ID(), s.Err))
		case s.Matched:
			out = append(out, fmt.Sprintf("*Rule %s matched", s.Rule.ID()))
			if i+1 < len(tr.Steps) && tr.Steps[i+1].Depth > s.Depth {
				out = append(out, "*Trying child rules")
			}
		case s.Failed != "":
			out = append(out, fmt.Sprintf("*Rule %s not matched: %s", s.Rule.ID(), s.Reason()))
		}
	}
	return out
}

// pyList prints a list of strings as Python's str() does.
func pyList(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(s, "'", `\'`))
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}

func pyBool(v bool) string {
	if v {
		return "True"
	}
	return "False"
}
