package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
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
	// skip, when set, passes over the lines it returns true for, unparsed.
	skip func(line []byte) bool
}

// NewReader returns a Reader over a log.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next record and its line (without the newline), or io.EOF at the end.
func (r *Reader) Next() (*Record, []byte, error) {
	b, _, err := readLine(r.br)
	for err == nil && r.skip != nil && r.skip(b) {
		r.line++
		b, _, err = readLine(r.br)
	}
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
	e, err := newExporter(w, opts)
	if err != nil {
		return 0, err
	}
	rd := NewReader(r)
	for {
		rec, line, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return e.n, err
		}
		if err := e.write(rec, line); err != nil {
			return e.n, err
		}
	}
	return e.n, e.flush()
}

// exporter writes records in one export format.
type exporter struct {
	opts ExportOptions
	bw   *bufio.Writer
	cw   *csv.Writer
	n    int
}

func newExporter(w io.Writer, opts ExportOptions) (*exporter, error) {
	if opts.ProductVersion == "" {
		opts.ProductVersion = "unknown"
	}
	if !slices.Contains(Formats, opts.Format) {
		return nil, fmt.Errorf("unknown export format %q", opts.Format)
	}
	e := &exporter{opts: opts, bw: bufio.NewWriter(w)}
	if opts.Format == FormatCSV {
		e.cw = csv.NewWriter(e.bw)
		if err := e.cw.Write(CSVHeader); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// write writes rec (read from line) if the filter selects it.
func (e *exporter) write(rec *Record, line []byte) error {
	if !e.opts.Filter.Match(rec) {
		return nil
	}
	var err error
	switch e.opts.Format {
	case FormatJSONL:
		e.bw.Write(line)
		err = e.bw.WriteByte('\n')
	case FormatCSV:
		err = e.cw.Write(csvRow(rec))
	case FormatOCSF:
		var b []byte
		if b, err = json.Marshal(OCSFEvent(rec, e.opts.ProductVersion)); err == nil {
			e.bw.Write(b)
			err = e.bw.WriteByte('\n')
		}
	case FormatCEF:
		_, err = e.bw.WriteString(CEFLine(rec, e.opts.ProductVersion) + "\n")
	}
	if err != nil {
		return err
	}
	e.n++
	return nil
}

func (e *exporter) flush() error {
	if e.cw != nil {
		e.cw.Flush()
		if err := e.cw.Error(); err != nil {
			return err
		}
	}
	return e.bw.Flush()
}

// ExportFiles is Export of the logs at paths read as one, in order: the files of one chain
// oldest first, as Rotate leaves them. A file that cannot be opened stops it before anything
// is written; the error then says the log could not be read, else that the export failed.
func ExportFiles(w io.Writer, paths []string, opts ExportOptions) (int, error) {
	readers := make([]io.Reader, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, fmt.Errorf("read audit log: %w", err)
		}
		defer f.Close()
		readers = append(readers, f)
	}
	n, err := Export(w, io.MultiReader(readers...), opts)
	if err != nil {
		return n, fmt.Errorf("export audit log: %w", err)
	}
	return n, nil
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
		t = &StoreTarget{}
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
