package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Format is an export format.
type Format string

const (
	// FormatJSONL writes the selected log lines unchanged.
	FormatJSONL Format = "jsonl"
	// FormatCSV writes one row per record with a header row.
	FormatCSV Format = "csv"
	// FormatOCSF writes one OCSF API Activity (class 6003) event per line.
	FormatOCSF Format = "ocsf"
	// FormatCEF writes one ArcSight Common Event Format line per record.
	FormatCEF Format = "cef"
)

// Formats lists the export formats.
var Formats = []Format{FormatJSONL, FormatCSV, FormatOCSF, FormatCEF}

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(s))
	if slices.Contains(Formats, f) {
		return f, nil
	}
	return "", fmt.Errorf("unknown export format %q: use jsonl, csv, ocsf or cef", s)
}

// OCSFVersion is the OCSF schema version the ocsf export follows.
const OCSFVersion = "1.3.0"

// Filter selects records. Zero fields select everything.
type Filter struct {
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	// Actions are exact names or path.Match patterns ("migrate.*").
	Actions  []string
	Outcomes []Outcome
}

// Match reports whether r is selected.
func (f Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if len(f.Outcomes) > 0 && !slices.Contains(f.Outcomes, r.Outcome) {
		return false
	}
	if len(f.Actions) == 0 {
		return true
	}
	for _, a := range f.Actions {
		if ok, _ := path.Match(a, r.Action); ok || a == r.Action {
			return true
		}
	}
	return false
}

// ExportOptions configure Export.
type ExportOptions struct {
	Format Format
	Filter Filter
	// ProductVersion is the secretshift version named in OCSF and CEF output.
	ProductVersion string
}

// Reader reads records from a log without verifying their hashes, but refuses a line that
// Verify would not parse (duplicate member names, invalid UTF-8, non-integer numbers, a record
// format newer than this package), so an export never shows a reading of a line that the
// verifier does not share. Records of every earlier format read into today's Record.
type Reader struct {
	br   *bufio.Reader
	line int
}

// NewReader returns a Reader over a log.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next record and its line (without the newline), or io.EOF at the end.
func (r *Reader) Next() (*Record, []byte, error) {
	b, _, err := readLine(r.br)
	if err != nil {
		return nil, nil, err
	}
	r.line++
	if _, err := parseStrict(b); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w (run `secretshift audit verify`)", r.line, err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w", r.line, err)
	}
	if err := checkFormat(&rec); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w", r.line, err)
	}
	return &rec, b, nil
}

// Export writes the records of the log read from r that match opts.Filter to w, and returns how
// many it wrote. It does not verify the log; run Verify for that.
func Export(w io.Writer, r io.Reader, opts ExportOptions) (int, error) {
	if opts.ProductVersion == "" {
		opts.ProductVersion = "unknown"
	}
	bw := bufio.NewWriter(w)
	var cw *csv.Writer
	if opts.Format == FormatCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, err
		}
	}
	rd := NewReader(r)
	n := 0
	for {
		rec, line, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		if !opts.Filter.Match(rec) {
			continue
		}
		switch opts.Format {
		case FormatJSONL:
			bw.Write(line)
			err = bw.WriteByte('\n')
		case FormatCSV:
			err = cw.Write(csvRow(rec))
		case FormatOCSF:
			var b []byte
			if b, err = json.Marshal(OCSFEvent(rec, opts.ProductVersion)); err == nil {
				bw.Write(b)
				err = bw.WriteByte('\n')
			}
		case FormatCEF:
			_, err = bw.WriteString(CEFLine(rec, opts.ProductVersion) + "\n")
		default:
			return n, fmt.Errorf("unknown export format %q", opts.Format)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// CSVHeader names the CSV columns. Nested maps and lists are JSON-encoded in their cell.
var CSVHeader = []string{
	"time", "format_version", "run_id", "event_id", "seq", "action", "outcome", "error_class", "error",
	"actor_os_user", "actor_host", "actor_kube_user", "actor_stores",
	"actor_ci_provider", "actor_ci_actor", "actor_ci_repository", "actor_ci_run_id", "actor_ci_job_id", "actor_ci_url",
	"source_cluster", "source_namespace", "source_name", "source_uid", "source_origin",
	"target_provider", "target_address", "target_version",
	"keys", "fingerprints", "details", "checkpoint", "prev", "hash",
}

func csvRow(r *Record) []string {
	a, ci, s, t := r.Actor, (*CI)(nil), r.Source, r.Target
	if a == nil {
		a = &Actor{}
	}
	if ci = a.CI; ci == nil {
		ci = &CI{}
	}
	if s == nil {
		s = &Source{}
	}
	if t == nil {
		t = &Target{}
	}
	row := []string{
		formatTime(r.Time), formatVersionCell(r.FormatVersion), r.RunID, r.EventID, strconv.FormatUint(r.Seq, 10), r.Action, string(r.Outcome), r.ErrorClass, r.Error,
		a.OSUser, a.Host, a.KubeUser, jsonCell(a.Stores),
		ci.Provider, ci.Actor, ci.Repository, ci.RunID, ci.JobID, ci.URL,
		s.Cluster, s.Namespace, s.Name, s.UID, s.Origin,
		t.Provider, t.Address, t.Version,
		jsonCell(r.Keys), jsonCell(r.Fingerprints), jsonCell(r.Details), jsonCell(r.Checkpoint), r.Prev, r.Hash,
	}
	for i, c := range row {
		row[i] = csvSafe(c)
	}
	return row
}

// formatVersionCell is empty for format 1, whose records do not name their format.
func formatVersionCell(v int) string {
	if v == 0 {
		return ""
	}
	return strconv.Itoa(v)
}

func jsonCell[T any](v T) string {
	b, _ := json.Marshal(v)
	if s := string(b); s != "null" && s != "{}" && s != "[]" {
		return s
	}
	return ""
}

// csvSafe defuses spreadsheet formula injection (a Secret named "=HYPERLINK(…)" must not run in
// an analyst's spreadsheet): a cell starting with = + - @ tab, CR or ' gets a leading ',
// which readers of this format strip again.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// OCSF activity ids of API Activity (class 6003).
const (
	ocsfCreate = 1
	ocsfRead   = 2
	ocsfUpdate = 3
	ocsfDelete = 4
	ocsfOther  = 99
)

// ocsfActivity maps the last word of an action to an OCSF activity.
func ocsfActivity(action string) (int, string) {
	verb := action[strings.LastIndexByte(action, '.')+1:]
	switch verb {
	case "create", "write", "put", "keygen", "generate", "seal", "encrypt":
		return ocsfCreate, "Create"
	case "read", "get", "list", "verify", "check", "discover", "fetch":
		return ocsfRead, "Read"
	case "update", "set", "rotate", "promote", "stage", "finish", "annotate", "adopt", "rollback", "cutover":
		return ocsfUpdate, "Update"
	case "delete", "destroy", "purge", "prune":
		return ocsfDelete, "Delete"
	}
	return ocsfOther, "Other"
}

// OCSFEvent maps a record to an OCSF API Activity event (see the package documentation).
func OCSFEvent(r *Record, productVersion string) map[string]any {
	activity, activityName := ocsfActivity(r.Action)
	ev := map[string]any{
		"class_uid":     6003,
		"class_name":    "API Activity",
		"category_uid":  6,
		"category_name": "Application Activity",
		"activity_id":   activity,
		"activity_name": activityName,
		"type_uid":      600300 + activity,
		"type_name":     "API Activity: " + activityName,
		"time":          r.Time.UnixMilli(),
		"message":       r.Action + " " + string(r.Outcome) + refSuffix(r),
		"metadata": map[string]any{
			"version": OCSFVersion,
			"product": map[string]any{
				"name":        "secretshift",
				"vendor_name": "secretshift",
				"version":     productVersion,
			},
			"uid":             r.EventID,
			"correlation_uid": r.RunID,
			"sequence":        r.Seq,
			"original_time":   formatTime(r.Time),
			"event_code":      r.Action,
			"log_name":        "secretshift-audit",
		},
		"api": map[string]any{
			"operation": r.Action,
			"request":   map[string]any{"uid": r.EventID},
		},
	}
	switch r.Outcome {
	case OutcomeSuccess:
		ev["status_id"], ev["status"] = 1, "Success"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	case OutcomeFailure:
		ev["status_id"], ev["status"] = 2, "Failure"
		ev["severity_id"], ev["severity"] = 3, "Medium"
	case OutcomeAttempt:
		// The intent record written before an action; its success or failure follows.
		ev["status_id"], ev["status"] = 99, "Attempt"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	default:
		ev["status_id"], ev["status"] = 99, "Skipped"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	}
	if r.ErrorClass != "" {
		ev["status_code"] = r.ErrorClass
	}
	if r.Error != "" {
		ev["status_detail"] = r.Error
	}

	actor := map[string]any{"app_name": "secretshift"}
	if name := actorName(r.Actor); name != "" {
		actor["user"] = map[string]any{"name": name}
	}
	ev["actor"] = actor
	src := map[string]any{"name": "secretshift"}
	if r.Actor != nil && r.Actor.Host != "" {
		src["hostname"] = r.Actor.Host
	}
	ev["src_endpoint"] = src
	if r.Target != nil && r.Target.Provider != "" {
		ev["api"].(map[string]any)["service"] = map[string]any{"name": r.Target.Provider}
	}

	var resources []any
	if s := r.Source; s != nil && s.Name != "" {
		res := map[string]any{"name": s.Ref(), "type": "kubernetes/Secret"}
		if s.UID != "" {
			res["uid"] = s.UID
		}
		resources = append(resources, res)
	}
	if t := r.Target; t != nil && t.Address != "" {
		res := map[string]any{"name": t.Address, "type": t.Provider}
		if t.Version != "" {
			res["data"] = map[string]any{"version": t.Version}
		}
		resources = append(resources, res)
	}
	if resources != nil {
		ev["resources"] = resources
	}

	unmapped := map[string]any{"prev": r.Prev, "hash": r.Hash}
	if r.Actor != nil {
		unmapped["actor"] = r.Actor
	}
	if r.Source != nil {
		unmapped["source"] = r.Source
	}
	if r.Target != nil {
		unmapped["target"] = r.Target
	}
	if len(r.Keys) > 0 {
		unmapped["keys"] = r.Keys
	}
	if len(r.Fingerprints) > 0 {
		unmapped["fingerprints"] = r.Fingerprints
	}
	if len(r.Details) > 0 {
		unmapped["details"] = r.Details
	}
	if r.Checkpoint != nil {
		unmapped["checkpoint"] = r.Checkpoint
	}
	ev["unmapped"] = unmapped
	return ev
}

// actorName picks the most specific identity: the CI user, then the Kubernetes user, a store
// identity's display name, and the OS user.
func actorName(a *Actor) string {
	if a == nil {
		return ""
	}
	if a.CI != nil && a.CI.Actor != "" {
		return a.CI.Actor
	}
	for _, s := range []string{a.KubeUser, a.storeDisplayName(), a.OSUser} {
		if s != "" {
			return s
		}
	}
	return ""
}

func refSuffix(r *Record) string {
	if r.Source != nil && r.Source.Name != "" {
		return " " + r.Source.Ref()
	}
	return ""
}

// CEFLine formats a record as one CEF line (see the package documentation for the mapping).
func CEFLine(r *Record, productVersion string) string {
	severity := "3"
	switch {
	case r.Outcome == OutcomeFailure:
		severity = "7"
	case r.Action == ActionCheckpoint:
		severity = "1"
	}
	var b strings.Builder
	b.WriteString("CEF:0|secretshift|secretshift|")
	b.WriteString(cefHeader(productVersion) + "|")
	b.WriteString(cefHeader(r.Action) + "|")
	b.WriteString(cefHeader(r.Action+" "+string(r.Outcome)+refSuffix(r)) + "|")
	b.WriteString(severity + "|")

	ext := [][2]string{
		{"rt", strconv.FormatInt(r.Time.UnixMilli(), 10)},
		{"externalId", r.EventID},
		{"act", r.Action},
		{"outcome", string(r.Outcome)},
		{"cs1Label", "run_id"}, {"cs1", r.RunID},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatUint(r.Seq, 10)},
	}
	if name := actorName(r.Actor); name != "" {
		ext = append(ext, [2]string{"suser", name})
	}
	if r.Actor != nil && r.Actor.Host != "" {
		ext = append(ext, [2]string{"shost", r.Actor.Host})
	}
	if r.ErrorClass != "" {
		ext = append(ext, [2]string{"reason", r.ErrorClass})
	}
	if r.Error != "" {
		ext = append(ext, [2]string{"msg", r.Error})
	}
	if s := r.Source; s != nil && s.Name != "" {
		ext = append(ext, [2]string{"cs2Label", "source"}, [2]string{"cs2", s.Ref()})
		if s.UID != "" {
			ext = append(ext, [2]string{"cs6Label", "source_uid"}, [2]string{"cs6", s.UID})
		}
	}
	if t := r.Target; t != nil && (t.Provider != "" || t.Address != "") {
		target := t.Provider + ":" + t.Address
		if t.Version != "" {
			target += "@" + t.Version
		}
		ext = append(ext, [2]string{"cs3Label", "target"}, [2]string{"cs3", target})
	}
	if len(r.Keys) > 0 {
		keys := slices.Clone(r.Keys)
		sort.Strings(keys)
		ext = append(ext, [2]string{"cs4Label", "keys"}, [2]string{"cs4", strings.Join(keys, ",")})
	}
	ext = append(ext, [2]string{"cs5Label", "hash"}, [2]string{"cs5", r.Hash})
	for i, kv := range ext {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0] + "=" + cefValue(kv[1]))
	}
	return b.String()
}

// cefHeader escapes a CEF header field: backslash and pipe are escaped; line breaks, which a
// header cannot hold, become spaces.
func cefHeader(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '|':
			b.WriteString(`\|`)
		case r == '\n' || r == '\r' || r < 0x20:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cefValue escapes a CEF extension value: backslash, equals sign and line breaks; other control
// characters become spaces.
func cefValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '=':
			b.WriteString(`\=`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
