package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/reliability/tamper"
)

// fuzzBase is a log of two runs written by the audit package (testdata/fuzz-base.jsonl, made
// by tamper.APILog with the signing key of seed 7): a fuzzed line is verified after a prefix
// of it, so that the chain, the checkpoints and the head are real.
func fuzzBase(f *testing.F) (lines [][]byte, pub ed25519.PublicKey) {
	b, err := os.ReadFile("testdata/fuzz-base.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	lines = bytes.SplitAfter(b, []byte("\n"))
	lines = lines[:len(lines)-1]
	return lines, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
}

// FuzzVerifyLine verifies the first k records of a real log followed by fuzzed bytes. Whatever
// the bytes, Verify does not panic, is deterministic, and names a problem on a line that
// exists. Whenever it accepts the log (no problem, or only an unsigned tail), every line must
// hold, by this test's own reading of the documented format (tamper.Hash, an independent
// JCS): the hash of its content, the hash of the line before as prev, and the next seq; that
// is, the parser never accepts a line whose hash does not match. The export Reader reads what
// Verify accepted, record for record.
func FuzzVerifyLine(f *testing.F) {
	lines, pub := fuzzBase(f)
	for k := range lines {
		f.Add(uint8(k), lines[k])
	}
	f.Add(uint8(0), []byte(`{"seq":1,"seq":1}`+"\n"))
	f.Add(uint8(1), []byte("{\"time\":\"2026-03-01T12:00:00.1Z\",\"seq\":2.0}\n"))
	f.Add(uint8(3), append(bytes.TrimSuffix(lines[3], []byte("\n")), []byte(" \n")...))
	f.Add(uint8(len(lines)), []byte("\xff\xfe\n"))
	f.Fuzz(func(t *testing.T, k uint8, line []byte) {
		prefix := bytes.Join(lines[:int(k)%(len(lines)+1)], nil)
		log := append(prefix[:len(prefix):len(prefix)], line...)
		rep := audit.Verify(bytes.NewReader(log), pub, nil)
		again := audit.Verify(bytes.NewReader(log), pub, nil)
		if fmt.Sprint(rep.Problem) != fmt.Sprint(again.Problem) || rep.OK != again.OK {
			t.Fatalf("not deterministic: %v / %v", rep.Problem, again.Problem)
		}
		if p := rep.Problem; p != nil && (p.Line < 0 || p.Line > rep.Records+1 || p.Kind == "" || p.Detail == "") {
			t.Fatalf("problem out of place: %+v (records %d)", p, rep.Records)
		}
		if rep.OK != (rep.Problem == nil) {
			t.Fatalf("OK %v with problem %v", rep.OK, rep.Problem)
		}
		accepted := rep.Problem == nil || rep.Problem.Kind == audit.KindUnsignedTail
		if !accepted {
			return
		}
		all := bytes.SplitAfter(log, []byte("\n"))
		if len(all[len(all)-1]) == 0 {
			all = all[:len(all)-1]
		}
		prev := audit.GenesisHash
		var hashes []string
		for i, l := range all {
			m, err := tamper.ParseLine(l)
			if err != nil {
				t.Fatalf("line %d accepted but is not a JSON object: %v", i+1, err)
			}
			h, err := tamper.Hash(m)
			if err != nil {
				t.Fatalf("line %d accepted but holds what a record cannot: %v", i+1, err)
			}
			if h != m["hash"] {
				t.Fatalf("line %d accepted, but its content hashes to %s, not %v", i+1, h, m["hash"])
			}
			if m["prev"] != prev {
				t.Fatalf("line %d accepted, but prev %v is not the hash %s of the line before", i+1, m["prev"], prev)
			}
			if fmt.Sprint(m["seq"]) != fmt.Sprint(i+1) {
				t.Fatalf("line %d accepted with seq %v", i+1, m["seq"])
			}
			prev = h
			hashes = append(hashes, h)
		}
		if rep.Records != len(all) || (len(all) > 0 && rep.Head != prev) {
			t.Fatalf("report says %d records ending at %s, the log has %d ending at %s", rep.Records, rep.Head, len(all), prev)
		}
		r := audit.NewReader(bytes.NewReader(log))
		for i := range all {
			rec, _, err := r.Next()
			if err != nil {
				t.Fatalf("export reader refuses line %d, which Verify accepted: %v", i+1, err)
			}
			if rec.Hash != hashes[i] {
				t.Fatalf("export reader read line %d as another record", i+1)
			}
		}
		if _, _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("export reader reads past the end: %v", err)
		}
	})
}

// FuzzReaderNext reads arbitrary bytes with the export reader: it never panics, and every
// record it returns comes with the line it was read from.
func FuzzReaderNext(f *testing.F) {
	lines, _ := fuzzBase(f)
	f.Add(bytes.Join(lines[:3], nil))
	f.Add([]byte("{}\n\n{\"seq\":1}\r\n"))
	f.Add([]byte("{\"details\":{\"a\":\"\\ud800\"}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := audit.NewReader(bytes.NewReader(b))
		for range 10000 {
			rec, line, err := r.Next()
			if err != nil {
				return
			}
			if rec == nil || len(line) == 0 || !bytes.Contains(b, bytes.TrimRight(line, "\r\n")) {
				t.Fatalf("record %v from line %q not in the input", rec, line)
			}
		}
	})
}
