package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exportLog returns a log of two runs and its records as Reader parses them.
func exportLog(t *testing.T) ([]byte, []*Record) {
	t.Helper()
	b := writeRuns(t, filepath.Join(t.TempDir(), "audit.jsonl"), 2, 6)
	var recs []*Record
	rd := NewReader(bytes.NewReader(b))
	for {
		r, _, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return b, recs
}

func export(t *testing.T, log []byte, opts ExportOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := Export(&out, bytes.NewReader(log), opts); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestExportJSONLRoundTrip(t *testing.T) {
	log, recs := exportLog(t)
	out := export(t, log, ExportOptions{Format: FormatJSONL})
	if !bytes.Equal(out, log) {
		t.Fatal("unfiltered jsonl export differs from the log")
	}
	var back []*Record
	for _, line := range splitLines(out) {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		back = append(back, &r)
	}
	if !reflect.DeepEqual(back, recs) {
		t.Error("jsonl records do not parse back to the same records")
	}
}

// TestExportFiles: the files of a rotated chain export as one log, oldest first.
func TestExportFiles(t *testing.T) {
	chain := rotatedPair(t, 7)
	var whole []byte
	for _, p := range chain {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, b...)
	}
	missing := filepath.Join(t.TempDir(), "none.jsonl")
	tests := []struct {
		name  string
		paths []string
		opts  ExportOptions
		want  []byte // nil when an error is wanted
		err   string
	}{
		{"one file", chain[:1], ExportOptions{Format: FormatJSONL}, whole[:len(whole)-len(mustRead(t, chain[1]))], ""},
		{"a chain, oldest first", chain, ExportOptions{Format: FormatJSONL}, whole, ""},
		{"filtered across files", chain, ExportOptions{Format: FormatJSONL, Filter: Filter{Actions: []string{ActionRotate}}}, mustRead(t, chain[1])[:bytes.IndexByte(mustRead(t, chain[1]), '\n')+1], ""},
		{"a missing file writes nothing", []string{chain[0], missing}, ExportOptions{Format: FormatJSONL}, nil, "read audit log: "},
		{"a line export cannot read", []string{writeBadLog(t)}, ExportOptions{Format: FormatCSV}, nil, "export audit log: line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := ExportFiles(&out, tt.paths, tt.opts)
			if tt.want == nil {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("ExportFiles = %d, %v; want an error starting %q", n, err, tt.err)
				}
				if tt.err == "read audit log: " && out.Len() > 0 {
					t.Error("ExportFiles wrote records before finding a file missing")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), tt.want) || n != len(splitLines(tt.want)) {
				t.Errorf("ExportFiles wrote %d records:\n%s\nwant:\n%s", n, out.Bytes(), tt.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeBadLog writes a log whose only line is not JSON.
func writeBadLog(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(p, []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExportRefusesWhatVerifyCannotParse: a line with a member given twice reads differently
// in different parsers; export refuses it instead of showing one reading.
func TestExportRefusesWhatVerifyCannotParse(t *testing.T) {
	log, _ := exportLog(t)
	lines := splitLines(log)
	lines[2] = bytes.Replace(lines[2], []byte(`{"time"`), []byte(`{"outcome":"failure","time"`), 1)
	var out bytes.Buffer
	_, err := Export(&out, bytes.NewReader(bytes.Join(lines, nil)), ExportOptions{Format: FormatCSV})
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Export of a line with a duplicate member = %v, want an error naming line 3", err)
	}
}

func TestExportCSVRoundTrip(t *testing.T) {
	log, recs := exportLog(t)
	out := export(t, log, ExportOptions{Format: FormatCSV})
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], CSVHeader) {
		t.Fatalf("header = %v", rows[0])
	}
	if len(rows)-1 != len(recs) {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(recs))
	}
	for i, row := range rows[1:] {
		got := recordFromCSV(t, row)
		if !reflect.DeepEqual(got, recs[i]) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(recs[i])
			t.Errorf("row %d does not round-trip:\n got %s\nwant %s", i+1, gb, wb)
		}
	}
}

// recordFromCSV is the reader the CSV format documents: strip one leading ' from a cell, decode
// JSON cells, rebuild nested objects when any of their columns is set.
func recordFromCSV(t *testing.T, row []string) *Record {
	t.Helper()
	c := map[string]string{}
	for i, name := range CSVHeader {
		c[name] = strings.TrimPrefix(row[i], "'")
	}
	tm, err := parseTime(c["time"])
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := strconv.ParseUint(c["seq"], 10, 64)
	format, _ := strconv.Atoi(c["format_version"])
	r := &Record{
		Time: tm, FormatVersion: format, RunID: c["run_id"], EventID: c["event_id"], Seq: seq, Action: c["action"],
		Outcome: Outcome(c["outcome"]), ErrorClass: c["error_class"], Error: c["error"], Prev: c["prev"], Hash: c["hash"],
	}
	ci := &CI{Provider: c["actor_ci_provider"], Actor: c["actor_ci_actor"], Repository: c["actor_ci_repository"],
		RunID: c["actor_ci_run_id"], JobID: c["actor_ci_job_id"], URL: c["actor_ci_url"]}
	a := &Actor{OSUser: c["actor_os_user"], Host: c["actor_host"], KubeUser: c["actor_kube_user"]}
	if c["actor_stores"] != "" {
		if err := json.Unmarshal([]byte(c["actor_stores"]), &a.Stores); err != nil {
			t.Fatalf("column actor_stores: %v", err)
		}
	}
	if *ci != (CI{}) {
		a.CI = ci
	}
	if !a.IsZero() {
		r.Actor = a
	}
	if s := (Source{Cluster: c["source_cluster"], Namespace: c["source_namespace"], Name: c["source_name"], UID: c["source_uid"], Origin: c["source_origin"]}); s != (Source{}) {
		r.Source = &s
	}
	if tg := (StoreTarget{Provider: c["target_provider"], Address: c["target_address"], Version: c["target_version"]}); tg != (StoreTarget{}) {
		r.Target = &tg
	}
	for name, dst := range map[string]any{"keys": &r.Keys, "fingerprints": &r.Fingerprints, "details": &r.Details, "checkpoint": &r.Checkpoint} {
		if c[name] != "" {
			if err := json.Unmarshal([]byte(c[name]), dst); err != nil {
				t.Fatalf("column %s: %v", name, err)
			}
		}
	}
	return r
}

func TestCSVDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-1": "'-1", "@SUM": "'@SUM",
		"'quoted": "''quoted", "plain": "plain", "": "",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// ocsfRequired lists the attributes OCSF 1.3.0 requires in an API Activity event (class 6003):
// from base_event (activity_id, category_uid, class_uid, metadata, severity_id, time, type_uid),
// the api_activity class (actor, api, src_endpoint), and the objects they hold: metadata
// (product, version), product (vendor_name; name is recommended and we always set it) and api
// (operation). Source: ocsf/ocsf-schema events/base_event.json, events/application/api_activity.json,
// objects/metadata.json, objects/product.json, objects/api.json; browsable at
// https://schema.ocsf.io/1.3.0/classes/api_activity.
var ocsfRequired = []string{
	"activity_id", "category_uid", "class_uid", "severity_id", "time", "type_uid",
	"metadata", "metadata.version", "metadata.product", "metadata.product.vendor_name", "metadata.product.name",
	"actor", "api", "api.operation", "src_endpoint",
}

func lookup(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestExportOCSF(t *testing.T) {
	log, recs := exportLog(t)
	out := export(t, log, ExportOptions{Format: FormatOCSF, ProductVersion: "v1.2.3"})
	lines := splitLines(out)
	if len(lines) != len(recs) {
		t.Fatalf("%d events, want %d", len(lines), len(recs))
	}
	for i, line := range lines {
		var ev map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		for _, p := range ocsfRequired {
			if v, ok := lookup(ev, p); !ok || v == "" || v == nil {
				t.Errorf("event %d lacks required %s", i+1, p)
			}
		}
		num := func(p string) int64 {
			v, _ := lookup(ev, p)
			n, _ := v.(json.Number).Int64()
			return n
		}
		activity := num("activity_id")
		if num("class_uid") != 6003 || num("category_uid") != 6 || num("type_uid") != 600300+activity {
			t.Errorf("event %d: class %d category %d type %d activity %d", i+1, num("class_uid"), num("category_uid"), num("type_uid"), activity)
		}
		if !map[int64]bool{1: true, 2: true, 3: true, 4: true, 99: true}[activity] {
			t.Errorf("event %d: activity_id %d", i+1, activity)
		}
		if num("time") != recs[i].Time.UnixMilli() {
			t.Errorf("event %d: time %d, want %d ms", i+1, num("time"), recs[i].Time.UnixMilli())
		}
		wantStatus := map[Outcome]int64{OutcomeSuccess: 1, OutcomeFailure: 2, OutcomeSkipped: 99}[recs[i].Outcome]
		if num("status_id") != wantStatus {
			t.Errorf("event %d: status_id %d, want %d", i+1, num("status_id"), wantStatus)
		}
		if v, _ := lookup(ev, "metadata.correlation_uid"); v != recs[i].RunID {
			t.Errorf("event %d: correlation_uid %v", i+1, v)
		}
		if v, _ := lookup(ev, "metadata.version"); v != OCSFVersion {
			t.Errorf("event %d: metadata.version %v", i+1, v)
		}
		if v, _ := lookup(ev, "metadata.product.version"); v != "v1.2.3" {
			t.Errorf("event %d: product version %v", i+1, v)
		}
	}
}

func TestOCSFActivity(t *testing.T) {
	tests := []struct {
		action string
		want   int
	}{
		{ActionMigrateWrite, 1}, {ActionPlanCreate, 1}, {ActionKeygen, 1}, {ActionMigrateVerify, 2},
		{"rotate.promote", 3}, {"migrate.cutover", 3}, {"migrate.delete", 4}, {ActionMigrateConflict, 99},
		{ActionMigrateSkip, 99}, {ActionCheckpoint, 99},
	}
	for _, tt := range tests {
		if got, _ := ocsfActivity(tt.action); got != tt.want {
			t.Errorf("ocsfActivity(%s) = %d, want %d", tt.action, got, tt.want)
		}
	}
}

// cefHeaderRE matches the seven header fields; header values may hold escaped pipes.
var cefHeaderRE = regexp.MustCompile(`^CEF:0\|secretshift\|secretshift\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|(\d+)\|(.*)$`)

func TestExportCEF(t *testing.T) {
	log, recs := exportLog(t)
	out := export(t, log, ExportOptions{Format: FormatCEF, ProductVersion: "v1|2"})
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines, want %d", len(lines), len(recs))
	}
	for i, line := range lines {
		m := cefHeaderRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d is not CEF: %s", i+1, line)
		}
		if m[1] != `v1\|2` || m[2] != recs[i].Action {
			t.Errorf("line %d: version %q signature %q", i+1, m[1], m[2])
		}
		if sev, _ := strconv.Atoi(m[4]); sev < 0 || sev > 10 {
			t.Errorf("line %d: severity %d", i+1, sev)
		}
		ext := parseCEFExtension(m[5])
		if ext["externalId"] != recs[i].EventID || ext["cs1"] != recs[i].RunID || ext["outcome"] != string(recs[i].Outcome) ||
			ext["rt"] != strconv.FormatInt(recs[i].Time.UnixMilli(), 10) || ext["cs5"] != recs[i].Hash {
			t.Errorf("line %d: extension %v", i+1, ext)
		}
		if recs[i].Error != "" && ext["msg"] != recs[i].Error {
			t.Errorf("line %d: msg %q, want %q", i+1, ext["msg"], recs[i].Error)
		}
	}
}

// parseCEFExtension splits "k=v k=v" where values escape \ = and newlines.
func parseCEFExtension(s string) map[string]string {
	out := map[string]string{}
	keyRE := regexp.MustCompile(`(?:^| )([A-Za-z0-9]+)=`)
	idx := keyRE.FindAllStringSubmatchIndex(s, -1)
	// Skip matches whose '=' is escaped.
	var starts [][]int
	for _, m := range idx {
		if m[1] >= 2 && s[m[1]-2] == '\\' {
			continue
		}
		starts = append(starts, m)
	}
	for i, m := range starts {
		end := len(s)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		raw := s[m[1]:end]
		r := strings.NewReplacer(`\\`, `\`, `\=`, `=`, `\n`, "\n", `\r`, "\r")
		out[s[m[2]:m[3]]] = r.Replace(raw)
	}
	return out
}

func TestCEFEscaping(t *testing.T) {
	tests := []struct {
		name, in, header, value string
	}{
		{"plain", "migrate.write", "migrate.write", "migrate.write"},
		{"pipe", "a|b", `a\|b`, "a|b"},
		{"backslash", `a\b`, `a\\b`, `a\\b`},
		{"equals", "k=v", "k=v", `k\=v`},
		{"newlines", "a\nb\rc", "a b c", `a\nb\rc`},
		{"control", "a\x01b", "a b", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cefHeader(tt.in); got != tt.header {
				t.Errorf("cefHeader = %q, want %q", got, tt.header)
			}
			if got := cefValue(tt.in); got != tt.value {
				t.Errorf("cefValue = %q, want %q", got, tt.value)
			}
		})
	}
}

func TestExportFilter(t *testing.T) {
	log, recs := exportLog(t)
	mid := recs[5].Time
	count := func(pred func(*Record) bool) int {
		n := 0
		for _, r := range recs {
			if pred(r) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name   string
		filter Filter
		want   int
	}{
		{"all", Filter{}, len(recs)},
		{"since (inclusive)", Filter{Since: mid}, count(func(r *Record) bool { return !r.Time.Before(mid) })},
		{"until (exclusive)", Filter{Until: mid}, count(func(r *Record) bool { return r.Time.Before(mid) })},
		{"future", Filter{Since: time.Now().Add(time.Hour)}, 0},
		{"exact action", Filter{Actions: []string{ActionMigrateWrite}}, count(func(r *Record) bool { return r.Action == ActionMigrateWrite })},
		{"action pattern", Filter{Actions: []string{"migrate.*"}}, count(func(r *Record) bool { return strings.HasPrefix(r.Action, "migrate.") })},
		{"outcomes", Filter{Outcomes: []Outcome{OutcomeFailure, OutcomeSkipped}}, count(func(r *Record) bool { return r.Outcome != OutcomeSuccess })},
		{"combined", Filter{Actions: []string{"migrate.*"}, Outcomes: []Outcome{OutcomeFailure}}, count(func(r *Record) bool {
			return strings.HasPrefix(r.Action, "migrate.") && r.Outcome == OutcomeFailure
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Export(io.Discard, bytes.NewReader(log), ExportOptions{Format: FormatJSONL, Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("exported %d, want %d", n, tt.want)
			}
		})
	}
}

func TestExportsCarryNoValues(t *testing.T) {
	log, _ := exportLog(t)
	assertNoCanary(t, "log", log)
	for _, f := range Formats {
		assertNoCanary(t, string(f)+" export", export(t, log, ExportOptions{Format: f}))
	}
}
