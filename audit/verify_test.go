package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// tamperLog is a log of three runs with checkpoints inside and at the end of each run.
func tamperLog(t *testing.T) (lines [][]byte, head *Checkpoint) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	b := writeRuns(t, path, 3, 6)
	head, err := ReadHead(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return splitLines(b), head
}

func join(lines [][]byte) []byte { return bytes.Join(lines, nil) }

func without(lines [][]byte, i int) [][]byte {
	out := append([][]byte{}, lines[:i]...)
	return append(out, lines[i+1:]...)
}

func withInserted(lines [][]byte, i int, line []byte) [][]byte {
	out := append([][]byte{}, lines[:i+1]...)
	out = append(out, line)
	return append(out, lines[i+1:]...)
}

// editLine changes one field of a line; with rehash it also recomputes the record's own hash, as
// an attacker who knows the format (but not the signing key) would.
func editLine(t *testing.T, line []byte, rehash bool) []byte {
	t.Helper()
	obj, err := parseStrict(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	m := obj.(map[string]any)
	if m["action"] == ActionCheckpoint {
		m["time"] = "2030-01-01T00:00:00.000000000Z"
	} else {
		m["outcome"] = map[string]any{"success": "failure", "failure": "success", "skipped": "success"}[m["outcome"].(string)]
	}
	if rehash {
		h, err := hashObject(m)
		if err != nil {
			t.Fatal(err)
		}
		m["hash"] = h
	}
	return marshalLine(t, m)
}

// rechain recomputes prev and hash of every line from index from on, as an attacker who edited
// an earlier record would to hide it from the chain (the checkpoints' signatures stay as signed).
func rechain(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	out := append([][]byte{}, lines...)
	for i := from; i < len(out); i++ {
		var prev map[string]any
		json.Unmarshal(out[i-1], &prev)
		var m map[string]any
		json.Unmarshal(out[i], &m)
		m["prev"] = prev["hash"]
		delete(m, "hash")
		h, err := hashObject(toGeneric(t, m))
		if err != nil {
			t.Fatal(err)
		}
		m["hash"] = h
		out[i] = marshalLine(t, m)
	}
	return out
}

func marshalLine(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// forgeAfter builds a well-formed record that claims to follow line: next seq, correct prev,
// correct own hash. Only a signature can expose it.
func forgeAfter(t *testing.T, line []byte) []byte {
	t.Helper()
	var prev Record
	if err := json.Unmarshal(line, &prev); err != nil {
		t.Fatal(err)
	}
	rec := Record{
		Time: prev.Time, RunID: prev.RunID, EventID: newID(), Seq: prev.Seq + 1,
		Action: ActionMigrateWrite, Outcome: OutcomeSuccess,
		Source: &Source{Namespace: "team-a", Name: "forged"}, Prev: prev.Hash,
	}
	obj, err := toObject(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hash, err = hashObject(obj); err != nil {
		t.Fatal(err)
	}
	return marshalLine(t, &rec)
}

func TestVerifyTamperMatrix(t *testing.T) {
	lines, head := tamperLog(t)
	pub := testSigner(7).Public().(ed25519.PublicKey)

	rep := Verify(bytes.NewReader(join(lines)), pub, head)
	if !rep.OK {
		t.Fatalf("untouched log does not verify: %v", rep.Problem)
	}
	if rep.Records != len(lines) || rep.Runs != 3 || rep.Checkpoints != 6 || rep.UnsignedTail != 0 || !rep.HeadChecked {
		t.Fatalf("untouched log report = %+v", rep)
	}

	type tamper struct {
		name  string
		apply func(i int) [][]byte // nil: not applicable at i
	}
	tampers := []tamper{
		{"edit", func(i int) [][]byte {
			out := append([][]byte{}, lines...)
			out[i] = editLine(t, lines[i], false)
			return out
		}},
		{"edit and recompute hash", func(i int) [][]byte {
			out := append([][]byte{}, lines...)
			out[i] = editLine(t, lines[i], true)
			return out
		}},
		{"delete", func(i int) [][]byte { return without(lines, i) }},
		{"insert forged record after", func(i int) [][]byte { return withInserted(lines, i, forgeAfter(t, lines[i])) }},
		{"duplicate", func(i int) [][]byte { return withInserted(lines, i, lines[i]) }},
		{"swap with next", func(i int) [][]byte {
			if i == len(lines)-1 {
				return nil
			}
			out := append([][]byte{}, lines...)
			out[i], out[i+1] = out[i+1], out[i]
			return out
		}},
		{"truncate after", func(i int) [][]byte {
			if i == len(lines)-1 {
				return nil
			}
			return append([][]byte{}, lines[:i+1]...)
		}},
		{"cut inside the line", func(i int) [][]byte {
			out := append([][]byte{}, lines[:i]...)
			return append(out, lines[i][:len(lines[i])/2])
		}},
	}
	kinds := map[Kind]int{}
	for _, tm := range tampers {
		for i := range lines {
			mutated := tm.apply(i)
			if mutated == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s line %d", tm.name, i+1), func(t *testing.T) {
				rep := Verify(bytes.NewReader(join(mutated)), pub, head)
				if rep.OK {
					t.Fatalf("not detected")
				}
				kinds[rep.Problem.Kind]++
				if rep.Problem.Line == 0 && rep.Problem.Kind != KindUnknownKey && rep.Problem.Kind != KindBadSignature {
					t.Errorf("problem has no line: %v", rep.Problem)
				}
			})
		}
	}
	t.Logf("problems by kind: %v", kinds)
}

func TestVerifyClassifiesProblems(t *testing.T) {
	lines, head := tamperLog(t)
	pub := testSigner(7).Public().(ed25519.PublicKey)
	otherPub := testSigner(9).Public().(ed25519.PublicKey)
	lastCP := len(lines) - 1 // the final checkpoint of the last run

	// A checkpoint signed by another key, spliced in where the last one was.
	var cpRec Record
	json.Unmarshal(lines[lastCP], &cpRec)
	forgedCP := *cpRec.Checkpoint
	forgedCP.PublicKeyID = PublicKeyID(otherPub)
	signCheckpoint(&forgedCP, testSigner(9))
	cpRec.Checkpoint, cpRec.Hash = &forgedCP, ""
	obj, _ := toObject(&cpRec)
	cpRec.Hash, _ = hashObject(obj)
	otherKeyLines := append(append([][]byte{}, lines[:lastCP]...), marshalLine(t, &cpRec))

	// A checkpoint whose signed content changed (fingerprint key id) with the hash recomputed.
	var badSig map[string]any
	json.Unmarshal(lines[lastCP], &badSig)
	badSig["checkpoint"].(map[string]any)["fingerprint_key_id"] = "hmac-sha256:0000000000000000"
	badSig["hash"], _ = hashObject(toGeneric(t, badSig))
	badSigLines := append(append([][]byte{}, lines[:lastCP]...), marshalLine(t, badSig))

	// A checkpoint record with an extra member its signature does not cover.
	var extra map[string]any
	json.Unmarshal(lines[lastCP], &extra)
	extra["details"] = map[string]any{"note": "added"}
	extra["hash"], _ = hashObject(toGeneric(t, extra))
	extraLines := append(append([][]byte{}, lines[:lastCP]...), marshalLine(t, extra))

	tests := []struct {
		name  string
		lines [][]byte
		pub   ed25519.PublicKey
		head  *Checkpoint
		kind  Kind
		line  int
	}{
		{"edited field", replaceLine(lines, 2, editLine(t, lines[2], false)), pub, head, KindEdited, 3},
		{"edited field with recomputed hash", replaceLine(lines, 2, editLine(t, lines[2], true)), pub, head, KindChainBroken, 4},
		{"edited field, chain re-hashed to the end", rechain(t, replaceLine(lines, 2, editLine(t, lines[2], true)), 3), pub, head, KindEdited, 5},
		{"deleted record", without(lines, 2), pub, head, KindDeleted, 3},
		{"deleted first record", without(lines, 0), pub, head, KindDeleted, 1},
		{"swapped records", replaceLine(replaceLine(lines, 2, lines[3]), 3, lines[2]), pub, head, KindReordered, 3},
		{"forged insert", withInserted(lines, 1, forgeAfter(t, lines[1])), pub, head, KindInserted, 4},
		{"duplicated record", withInserted(lines, 1, lines[1]), pub, head, KindInserted, 3},
		{"last run removed", lines[:len(lines)-8], pub, head, KindTruncated, len(lines) - 7},
		{"crashed run (unsigned tail)", lines[:len(lines)-1], pub, nil, KindUnsignedTail, len(lines) - 2},
		{"wrong public key", lines, otherPub, nil, KindUnknownKey, 5},
		{"checkpoint by another key", otherKeyLines, pub, nil, KindUnknownKey, len(lines)},
		{"checkpoint content changed", badSigLines, pub, nil, KindBadSignature, len(lines)},
		{"checkpoint with unsigned member", extraLines, pub, nil, KindEdited, len(lines)},
		{"head file from another key", lines, pub, &forgedCP, KindUnknownKey, 0},
		{"duplicate JSON key", replaceLine(lines, 0, bytes.Replace(lines[0], []byte(`{"time"`), []byte(`{"outcome":"failure","time"`), 1)), pub, head, KindMalformed, 1},
		{"not JSON", replaceLine(lines, 4, []byte("hello\n")), pub, head, KindMalformed, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Verify(bytes.NewReader(join(tt.lines)), tt.pub, tt.head)
			if rep.OK {
				t.Fatal("not detected")
			}
			if rep.Problem.Kind != tt.kind || rep.Problem.Line != tt.line {
				t.Errorf("problem = %v, want %s at line %d", rep.Problem, tt.kind, tt.line)
			}
			if strings.Contains(tt.name, "re-hashed") && !strings.Contains(rep.Problem.Detail, "changed and the chain re-hashed") {
				t.Errorf("problem = %v, want it to say a record before the checkpoint was changed", rep.Problem)
			}
		})
	}
}

func TestVerifyEmptyLog(t *testing.T) {
	pub := testSigner(7).Public().(ed25519.PublicKey)
	if rep := Verify(strings.NewReader(""), pub, nil); !rep.OK || rep.Records != 0 {
		t.Errorf("empty log without head: %+v", rep)
	}
	_, head := tamperLog(t)
	if rep := Verify(strings.NewReader(""), pub, head); rep.OK || rep.Problem.Kind != KindTruncated {
		t.Errorf("emptied log with head: %+v", rep.Problem)
	}
}

// TestHashIsDocumentedJCS recomputes a record hash the way the package documentation tells a
// third party to: sorted keys, no whitespace, SHA-256.
func TestHashIsDocumentedJCS(t *testing.T) {
	lines, _ := tamperLog(t)
	for i, line := range lines {
		obj, err := parseStrict(bytes.TrimSpace(line))
		if err != nil {
			t.Fatal(err)
		}
		m := obj.(map[string]any)
		want := m["hash"].(string)
		delete(m, "hash")
		// encoding/json sorts map keys (equal to UTF-16 order for these ASCII names) and escapes
		// <, >, & and U+2028/9 where JCS does not; the records here contain none of them.
		b, _ := json.Marshal(m)
		b = bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<"))
		if got := "sha256:" + sha256Hex(b); got != want {
			t.Fatalf("line %d: recomputed %s, stored %s", i+1, got, want)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// U+FB33 sorts after U+1F600 in UTF-16 (0xFB33 > 0xD83D), before it by code point.
		{"sorts keys by UTF-16", `{"b":1,"a":2,"\ufb33":3,"\ud83d\ude00":4}`, "{\"a\":2,\"b\":1,\"😀\":4,\"\ufb33\":3}"},
		{"minimal escaping", `{"s":"\u003c/\u0041\u001f\t\"\\é"}`, `{"s":"</A\u001f\t\"\\é"}`},
		{"nested", `{"z":[1,{"y":true,"x":null}],"a":{}}`, `{"a":{},"z":[1,{"x":null,"y":true}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseStrict([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := canonical(&buf, v); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got %s, want %s", buf.String(), tt.want)
			}
		})
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":9007199254740993}`, `{"a":1} x`, "{\"a\":\"\xff\"}"} {
		if _, err := parseStrict([]byte(bad)); err == nil {
			t.Errorf("parseStrict accepted %q", bad)
		}
	}
}

func replaceLine(lines [][]byte, i int, line []byte) [][]byte {
	out := append([][]byte{}, lines...)
	out[i] = line
	return out
}

func toGeneric(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	o, err := toObject(m)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestReadHeadMissing(t *testing.T) {
	// A missing head file wraps fs.ErrNotExist so callers can tell "no head" from "bad head".
	if _, err := ReadHead(filepath.Join(t.TempDir(), "none.head")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadHead of a missing file = %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	log := writeRuns(b, path, 10, 1000)
	pub := testSigner(7).Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for b.Loop() {
		if rep := Verify(bytes.NewReader(log), pub, nil); !rep.OK {
			b.Fatal(rep.Problem)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(bytes.Count(log, []byte("\n"))), "µs/record")
}
