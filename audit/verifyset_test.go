package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testPublicKey(seed byte) ed25519.PublicKey {
	return testSigner(seed).Public().(ed25519.PublicKey)
}

// rotatedPair writes a log signed by testSigner(7), rotates it under testSigner(newSeed) and
// returns the archive and the new file, oldest first.
func rotatedPair(t *testing.T, newSeed byte) []string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	archive := filepath.Join(dir, "audit-1.jsonl")
	writeRuns(t, path, 2, 3)
	opts := testOptions(t, "run-rotate")
	opts.Signer = testSigner(newSeed)
	if _, err := Rotate(path, archive, opts); err != nil {
		t.Fatal(err)
	}
	return []string{archive, path}
}

// oneLog writes a log of one finished run signed by testSigner(7) and returns its path.
func oneLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRuns(t, path, 1, 3)
	return path
}

// unfinishedLog writes a log whose closing checkpoint is gone, as after a run that crashed,
// without a head file.
func unfinishedLog(t *testing.T) string {
	t.Helper()
	path := oneLog(t)
	b, _ := os.ReadFile(path)
	lines := splitLines(b)
	if err := os.WriteFile(path, []byte(strings.Join(toStrings(lines[:len(lines)-1]), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(HeadPath(path))
	return path
}

func toStrings(lines [][]byte) []string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = string(l)
	}
	return s
}

func TestVerifySet(t *testing.T) {
	type wantFile struct {
		ok      bool
		keyID   string // the key the file was checked with, when it was
		err     string // in Error; "" wants none
		noErr   string // not in Error
		warning string // in Warning; "" wants none
	}
	pub7, pub8 := testPublicKey(7), testPublicKey(8)
	id7, id8 := PublicKeyID(pub7), PublicKeyID(pub8)
	tests := []struct {
		name  string
		setup func(t *testing.T) ([]string, VerifySetOptions)
		ok    bool
		files []wantFile
	}{
		{"one file", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{oneLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, true, []wantFile{{ok: true, keyID: id7}}},
		{"rotated files under one key", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 7), VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, true, []wantFile{{ok: true, keyID: id7}, {ok: true, keyID: id7}}},
		{"rotated to a new key, both keys given", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{pub7, pub8}}
		}, true, []wantFile{{ok: true, keyID: id7}, {ok: true, keyID: id8}}},
		{"rotated to a new key, keys newest first", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{pub8, pub7}}
		}, true, []wantFile{{ok: true, keyID: id7}, {ok: true, keyID: id8}}},
		{"rotated to a new key, no head files: the key that fits", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{pub8, pub7}, NoHead: true}
		}, true, []wantFile{
			{ok: true, keyID: id7, warning: "not compared with a head file"},
			{ok: true, keyID: id8, warning: "not compared with a head file"}}},
		{"key of the new file missing", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, false, []wantFile{{ok: true, keyID: id7}, {err: string(KindUnknownKey), noErr: "does not continue"}}},
		{"key of the old file missing", func(t *testing.T) ([]string, VerifySetOptions) {
			return rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{pub8}}
		}, false, []wantFile{{err: string(KindUnknownKey)}, {ok: true, keyID: id8}}},
		{"files in the wrong order", func(t *testing.T) ([]string, VerifySetOptions) {
			logs := rotatedPair(t, 7)
			return []string{logs[1], logs[0]}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, false, []wantFile{{ok: true, keyID: id7}, {err: "does not continue", keyID: id7}}},
		{"broken link: an unrelated file follows", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{rotatedPair(t, 7)[0], oneLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, false, []wantFile{{ok: true, keyID: id7}, {err: "does not continue", keyID: id7}}},
		{"unsigned tail", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{unfinishedLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, NoHead: true}
		}, false, []wantFile{{err: string(KindUnsignedTail), keyID: id7}}},
		{"unsigned tail allowed", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{unfinishedLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, NoHead: true, AllowUnsignedTail: true}
		}, true, []wantFile{{ok: true, keyID: id7, warning: "3 records at the end are not covered by a checkpoint; not compared with a head file"}}},
		{"unsigned tail allowed, then a link", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{unfinishedLog(t), oneLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, NoHead: true, AllowUnsignedTail: true}
		}, false, []wantFile{
			{ok: true, keyID: id7, warning: "not covered by a checkpoint"},
			// The warning is given before the link is checked.
			{err: "does not continue", keyID: id7, warning: "not compared with a head file"}}},
		{"head file given for one log", func(t *testing.T) ([]string, VerifySetOptions) {
			path := oneLog(t)
			head := filepath.Join(t.TempDir(), "kept.head")
			if err := os.Rename(HeadPath(path), head); err != nil {
				t.Fatal(err)
			}
			return []string{path}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, Head: head}
		}, true, []wantFile{{ok: true, keyID: id7}}},
		{"another log's head file given", func(t *testing.T) ([]string, VerifySetOptions) {
			longer := filepath.Join(t.TempDir(), "audit.jsonl")
			writeRuns(t, longer, 2, 3)
			return []string{oneLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, Head: HeadPath(longer)}
		}, false, []wantFile{{err: string(KindTruncated), keyID: id7}}},
		{"given head file missing", func(t *testing.T) ([]string, VerifySetOptions) {
			return []string{oneLog(t)}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}, Head: filepath.Join(t.TempDir(), "none.head")}
		}, false, []wantFile{{err: "is missing"}}},
		{"head file missing", func(t *testing.T) ([]string, VerifySetOptions) {
			path := oneLog(t)
			os.Remove(HeadPath(path))
			return []string{path}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, false, []wantFile{{err: "is missing, so removal of whole runs cannot be ruled out"}}},
		{"head file unreadable", func(t *testing.T) ([]string, VerifySetOptions) {
			path := oneLog(t)
			os.WriteFile(HeadPath(path), []byte("{not json"), 0o600)
			return []string{path}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, false, []wantFile{{err: "head file"}}},
		{"empty log without a head file", func(t *testing.T) ([]string, VerifySetOptions) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			os.WriteFile(path, nil, 0o600)
			return []string{path}, VerifySetOptions{Keys: []ed25519.PublicKey{pub7}}
		}, true, []wantFile{{ok: true, keyID: id7, warning: "the log is empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, opts := tt.setup(t)
			set, err := VerifySet(logs, opts)
			if err != nil {
				t.Fatal(err)
			}
			if set.OK != tt.ok || len(set.Logs) != len(tt.files) {
				t.Fatalf("VerifySet = ok %v with %d files, want ok %v with %d: %+v", set.OK, len(set.Logs), tt.ok, len(tt.files), set.Logs)
			}
			for i, want := range tt.files {
				got := set.Logs[i]
				if got.Log != logs[i] || got.OK != want.ok {
					t.Errorf("file %d: %s ok %v, want %s ok %v (error %q)", i, got.Log, got.OK, logs[i], want.ok, got.Error)
				}
				if (want.err == "") != (got.Error == "") || !strings.Contains(got.Error, want.err) {
					t.Errorf("file %d: error %q, want %q", i, got.Error, want.err)
				}
				if want.noErr != "" && strings.Contains(got.Error, want.noErr) {
					t.Errorf("file %d: error %q holds %q", i, got.Error, want.noErr)
				}
				if (want.warning == "") != (got.Warning == "") || !strings.Contains(got.Warning, want.warning) {
					t.Errorf("file %d: warning %q, want %q", i, got.Warning, want.warning)
				}
				if want.keyID != "" && (got.Report == nil || got.Report.PublicKeyID != want.keyID) {
					t.Errorf("file %d: checked with %+v, want key %s", i, got.Report, want.keyID)
				}
				if got.OK && (got.Report == nil || !got.Report.HeadChecked) != (opts.NoHead || got.Head == "") {
					t.Errorf("file %d: head %q compared: %v", i, got.Head, got.Report != nil && got.Report.HeadChecked)
				}
			}
		})
	}
}

func TestVerifySetRefuses(t *testing.T) {
	keys := []ed25519.PublicKey{testPublicKey(7)}
	tests := []struct {
		name string
		logs func(t *testing.T) []string
		opts VerifySetOptions
		is   error
	}{
		{"no key", func(t *testing.T) []string { return []string{oneLog(t)} }, VerifySetOptions{}, ErrNoKey},
		{"a head file for two logs", func(t *testing.T) []string { return rotatedPair(t, 7) },
			VerifySetOptions{Keys: keys, Head: "audit.jsonl.head"}, nil},
		{"a head file and no head file", func(t *testing.T) []string { return []string{oneLog(t)} },
			VerifySetOptions{Keys: keys, Head: "audit.jsonl.head", NoHead: true}, nil},
		{"a missing log", func(t *testing.T) []string {
			return []string{oneLog(t), filepath.Join(t.TempDir(), "none.jsonl")}
		}, VerifySetOptions{Keys: keys}, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := VerifySet(tt.logs(t), tt.opts)
			if err == nil {
				t.Fatalf("VerifySet = %+v, want an error", set)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("VerifySet error %v, want %v", err, tt.is)
			}
		})
	}
}

// TestSetReportJSON: the command's -o json is this value; its member names are stable.
func TestSetReportJSON(t *testing.T) {
	set, err := VerifySet(rotatedPair(t, 8), VerifySetOptions{Keys: []ed25519.PublicKey{testPublicKey(7)}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		OK   *bool            `json:"ok"`
		Logs []map[string]any `json:"logs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.OK == nil || *m.OK || len(m.Logs) != 2 {
		t.Fatalf("set report JSON %s", b)
	}
	for _, k := range []string{"log", "head", "ok", "report"} {
		if _, ok := m.Logs[0][k]; !ok {
			t.Errorf("file report JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := m.Logs[1]["error"]; !ok {
		t.Errorf("failed file report JSON lacks \"error\": %s", b)
	}
}
