package tamper

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Kinds of tampering, the rows of the matrix.
const (
	KindEditValue       = "edit a field (hash kept)"
	KindEditRehash      = "edit a field, record hash recomputed"
	KindRemoveMember    = "remove a field (hash kept or recomputed)"
	KindAddMember       = "add a field (hash kept or recomputed)"
	KindEditRechain     = "edit a record, hashes and prev links recomputed to the end"
	KindDelete          = "delete a record"
	KindDeleteRechain   = "delete a record, seq/prev/hashes recomputed to the end"
	KindInsertForged    = "insert a forged record (seq, prev and hash recomputed)"
	KindInsertRechain   = "insert a forged record, the rest renumbered and rechained"
	KindDuplicate       = "duplicate a record"
	KindSwap            = "swap two records"
	KindTruncate        = "truncate at a record boundary"
	KindTruncateMidLine = "truncate inside a line"
	KindForgedCP        = "forged checkpoint (other key, replayed or re-signed signature)"
	KindForgedHead      = "forged head file (edited, other key, unreadable, missing)"
	KindRollbackShipped = "log rolled back to an earlier run, checked against the shipped head file"
	// Out of the threat model audit/doc.go states ("Not detectable"): listed, never counted
	// as passing.
	KindRollbackLocal = "log and head file rolled back together to an earlier run (documented limit)"
	KindHeadOnly      = "head file alone rolled back, log intact (no record lost)"
)

// Kinds lists the rows in report order.
var Kinds = []string{KindEditValue, KindEditRehash, KindRemoveMember, KindAddMember, KindEditRechain, KindDelete, KindDeleteRechain,
	KindInsertForged, KindInsertRechain, KindDuplicate, KindSwap, KindTruncate, KindTruncateMidLine, KindForgedCP, KindForgedHead,
	KindRollbackShipped, KindRollbackLocal, KindHeadOnly}

// outOfModel are the kinds audit/doc.go says verification cannot detect.
var outOfModel = map[string]bool{KindRollbackLocal: true, KindHeadOnly: true}

// Case is one tampered copy of a log and its head file.
type Case struct {
	Kind string
	Name string
	Log  []byte
	// Head is the head file's content; nil means the head file was deleted.
	Head []byte
}

// builder derives the cases from a fixture.
type builder struct {
	f      *Fixture
	lines  [][]byte
	objs   []Object
	full   bool
	forger ed25519.PrivateKey
	cases  []Case
	err    error
}

const genesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
const checkpointAction = "audit.checkpoint"
const checkpointDomain = "secretshift-audit-checkpoint/v1\n"

// Cases returns the tamper cases of f. With full false it samples records (the first, one in
// the middle, the last and the first checkpoint) and swaps only neighbours: the reduced
// matrix the normal test suite runs.
func Cases(f *Fixture, full bool) ([]Case, error) {
	b := &builder{f: f, lines: f.Lines(), full: full, forger: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa5}, ed25519.SeedSize))}
	for i, l := range b.lines {
		m, err := ParseLine(l)
		if err != nil {
			return nil, fmt.Errorf("fixture line %d: %w", i+1, err)
		}
		b.objs = append(b.objs, m)
	}
	if len(b.objs) < 4 {
		return nil, fmt.Errorf("fixture has %d records, too few to tamper with", len(b.objs))
	}
	b.edits()
	b.deletions()
	b.insertions()
	b.swaps()
	b.truncations()
	b.checkpoints()
	b.heads()
	return b.cases, b.err
}

// records are the indices of the records tampered with one by one.
func (b *builder) records() []int {
	n := len(b.objs)
	if b.full {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := []int{0, n / 2, n - 1}
	for i, m := range b.objs {
		if m["action"] == checkpointAction {
			idx = append(idx, i)
			break
		}
	}
	slices.Sort(idx)
	return slices.Compact(idx)
}

func (b *builder) add(kind, name string, objs []Object, head []byte) {
	var log []byte
	for _, m := range objs {
		line, err := Line(m)
		if err != nil && b.err == nil {
			b.err = fmt.Errorf("%s %s: %w", kind, name, err)
		}
		log = append(log, line...)
	}
	b.cases = append(b.cases, Case{Kind: kind, Name: name, Log: log, Head: head})
}

func (b *builder) addRaw(kind, name string, lines [][]byte, head []byte) {
	b.cases = append(b.cases, Case{Kind: kind, Name: name, Log: bytes.Join(lines, nil), Head: head})
}

// copyObjs deep-copies the records.
func (b *builder) copyObjs() []Object {
	out := make([]Object, len(b.objs))
	for i, m := range b.objs {
		out[i] = deepCopy(m).(Object)
	}
	return out
}

func (b *builder) rehash(m Object) {
	if err := Rehash(m); err != nil && b.err == nil {
		b.err = err
	}
}

// rechain makes objs consistent from index from on, as an attacker without the signing key
// would: seq renumbered, prev linked to the record before, checkpoints' seq, count and head
// updated (their signatures cannot be), every hash recomputed.
func (b *builder) rechain(objs []Object, from int) {
	first := int64(1)
	if n, err := strconv.ParseInt(fmt.Sprint(b.objs[0]["seq"]), 10, 64); err == nil {
		first = n
	}
	for j := max(from, 0); j < len(objs); j++ {
		m := objs[j]
		seq := first + int64(j)
		m["seq"] = json.Number(strconv.FormatInt(seq, 10))
		prev := genesis
		if j > 0 {
			prev = objs[j-1]["hash"].(string)
		} else if p, ok := b.objs[0]["prev"].(string); ok {
			prev = p
		}
		m["prev"] = prev
		if cp, ok := m["checkpoint"].(map[string]any); ok {
			cp["seq"] = json.Number(strconv.FormatInt(seq-1, 10))
			cp["count"] = json.Number(strconv.Itoa(j))
			cp["head"] = prev
		}
		b.rehash(m)
	}
}

func (b *builder) edits() {
	for _, i := range b.records() {
		var leaves, objects []leaf
		walk(b.objs[i], nil, &leaves, &objects)
		for _, lf := range leaves {
			name := fmt.Sprintf("line %d %s", i+1, lf)
			objs := b.copyObjs()
			set(objs[i], lf, mutate)
			b.add(KindEditValue, name, objs, b.f.Head)
			if lf.String() == "hash" {
				continue
			}
			objs = b.copyObjs()
			set(objs[i], lf, mutate)
			b.rehash(objs[i])
			b.add(KindEditRehash, name, objs, b.f.Head)
		}
		for _, op := range objects {
			obj := objectAt(b.objs[i], op)
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				path := append(slices.Clone(op), k)
				for _, rehash := range []bool{false, true} {
					if rehash && len(op) == 0 && k == "hash" {
						continue
					}
					objs := b.copyObjs()
					delete(objectAt(objs[i], op), k)
					if rehash {
						b.rehash(objs[i])
					}
					b.add(KindRemoveMember, fmt.Sprintf("line %d remove %s rehash=%v", i+1, path, rehash), objs, b.f.Head)
				}
			}
			for _, rehash := range []bool{false, true} {
				objs := b.copyObjs()
				objectAt(objs[i], op)["reliability_note"] = "added"
				if rehash {
					b.rehash(objs[i])
				}
				b.add(KindAddMember, fmt.Sprintf("line %d add %s rehash=%v", i+1, append(slices.Clone(op), "reliability_note"), rehash), objs, b.f.Head)
			}
		}
		// The most careful edit: one field changed, every later hash and link recomputed.
		objs := b.copyObjs()
		target := leaf{"run_id"}
		if _, ok := objs[i]["source"].(map[string]any); ok {
			target = leaf{"source", "name"}
		}
		set(objs[i], target, mutate)
		b.rechain(objs, i)
		b.add(KindEditRechain, fmt.Sprintf("line %d %s", i+1, target), objs, b.f.Head)
	}
}

func (b *builder) deletions() {
	for _, i := range b.records() {
		objs := b.copyObjs()
		b.addRaw(KindDelete, fmt.Sprintf("line %d", i+1), slices.Delete(slices.Clone(b.lines), i, i+1), b.f.Head)
		objs = slices.Delete(objs, i, i+1)
		b.rechain(objs, i)
		b.add(KindDeleteRechain, fmt.Sprintf("line %d", i+1), objs, b.f.Head)
	}
}

// forged is a plausible record to insert at index i of objs: a copy of the first record that
// names a Secret, given a new event id, the seq and prev of position i and its own hash.
func (b *builder) forged(objs []Object, i int) Object {
	var tmpl Object
	for _, m := range b.objs {
		if _, ok := m["source"]; ok {
			tmpl = m
			break
		}
	}
	if tmpl == nil {
		tmpl = b.objs[0]
	}
	m := deepCopy(tmpl).(Object)
	m["event_id"] = "00000000-0000-4000-8000-00000000f0f0"
	m["outcome"] = "success"
	if src, ok := m["source"].(map[string]any); ok {
		src["name"] = "forged"
	}
	first, _ := strconv.ParseInt(fmt.Sprint(b.objs[0]["seq"]), 10, 64)
	m["seq"] = json.Number(strconv.FormatInt(first+int64(i), 10))
	m["prev"] = genesis
	if i > 0 {
		m["prev"] = objs[i-1]["hash"]
	}
	b.rehash(m)
	return m
}

func (b *builder) insertions() {
	positions := b.records()
	positions = append(positions, len(b.objs)) // after the last record, too
	for _, i := range positions {
		objs := b.copyObjs()
		objs = slices.Insert(objs, i, b.forged(objs, i))
		b.add(KindInsertForged, fmt.Sprintf("before line %d", i+1), objs, b.f.Head)
		objs = b.copyObjs()
		objs = slices.Insert(objs, i, b.forged(objs, i))
		b.rechain(objs, i+1)
		b.add(KindInsertRechain, fmt.Sprintf("before line %d", i+1), objs, b.f.Head)
		if i < len(b.lines) {
			b.addRaw(KindDuplicate, fmt.Sprintf("line %d", i+1), slices.Insert(slices.Clone(b.lines), i, b.lines[i]), b.f.Head)
		}
	}
}

func (b *builder) swaps() {
	n := len(b.lines)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if !b.full && j != i+1 {
				continue
			}
			lines := slices.Clone(b.lines)
			lines[i], lines[j] = lines[j], lines[i]
			b.addRaw(KindSwap, fmt.Sprintf("lines %d and %d", i+1, j+1), lines, b.f.Head)
		}
	}
}

func (b *builder) truncations() {
	for k := 0; k < len(b.lines); k++ {
		b.addRaw(KindTruncate, fmt.Sprintf("keep %d of %d lines", k, len(b.lines)), b.lines[:k], b.f.Head)
	}
	for _, i := range b.records() {
		l := b.lines[i]
		for _, cut := range []int{1, len(l) / 2, len(l) - 1} {
			lines := append(slices.Clone(b.lines[:i]), l[:cut])
			b.addRaw(KindTruncateMidLine, fmt.Sprintf("line %d cut after %d of %d bytes", i+1, cut, len(l)), lines, b.f.Head)
		}
	}
}

// sign signs a checkpoint object with key as audit/doc.go describes.
func sign(cp map[string]any, key ed25519.PrivateKey) (string, error) {
	c := make(map[string]any, len(cp))
	for k, v := range cp {
		if k != "signature" {
			c[k] = v
		}
	}
	j, err := Canonical(c)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, append([]byte(checkpointDomain), j...))), nil
}

func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:])
}

func (b *builder) checkpoints() {
	var cps []int
	for i, m := range b.objs {
		if m["action"] == checkpointAction {
			cps = append(cps, i)
		}
	}
	forgerID := keyID(b.forger.Public().(ed25519.PublicKey))
	for n, i := range cps {
		if !b.full && n > 0 && n != len(cps)-1 {
			continue
		}
		for _, v := range []struct {
			name  string
			keyID string
		}{{"re-signed by another key under the real key id", ""}, {"re-signed by another key under its own key id", forgerID}} {
			objs := b.copyObjs()
			cp := objs[i]["checkpoint"].(map[string]any)
			cp["time"] = mutate(cp["time"])
			objs[i]["time"] = cp["time"]
			if v.keyID != "" {
				cp["key_id"] = v.keyID
			}
			sig, err := sign(cp, b.forger)
			if err != nil && b.err == nil {
				b.err = err
			}
			cp["signature"] = sig
			b.rehash(objs[i])
			b.rechain(objs, i+1)
			b.add(KindForgedCP, fmt.Sprintf("line %d %s", i+1, v.name), objs, b.f.Head)
		}
		if len(cps) > 1 {
			objs := b.copyObjs()
			other := cps[(n+1)%len(cps)]
			objs[i]["checkpoint"].(map[string]any)["signature"] = b.objs[other]["checkpoint"].(map[string]any)["signature"]
			b.rehash(objs[i])
			b.rechain(objs, i+1)
			b.add(KindForgedCP, fmt.Sprintf("line %d signature replayed from line %d", i+1, other+1), objs, b.f.Head)
		}
	}
	if len(cps) == 0 {
		b.err = fmt.Errorf("the fixture has no checkpoint")
		return
	}
	// A checkpoint appended after the last record, to seal forged records, signed by a key
	// that is not the log's.
	objs := b.copyObjs()
	objs = append(objs, b.forged(objs, len(objs)))
	last := objs[len(objs)-1]
	cpRec := deepCopy(b.objs[cps[len(cps)-1]]).(Object)
	cp := cpRec["checkpoint"].(map[string]any)
	cp["head"], cp["seq"], cp["count"] = last["hash"], last["seq"], json.Number(strconv.Itoa(len(objs)))
	sig, err := sign(cp, b.forger)
	if err != nil && b.err == nil {
		b.err = err
	}
	cp["signature"] = sig
	objs = append(objs, cpRec)
	b.rechain(objs, len(objs)-1)
	b.add(KindForgedCP, "forged record sealed by an appended checkpoint of another key", objs, b.f.Head)
}

func (b *builder) heads() {
	var head map[string]any
	dec := json.NewDecoder(bytes.NewReader(b.f.Head))
	dec.UseNumber()
	if err := dec.Decode(&head); err != nil {
		b.err = fmt.Errorf("head file: %w", err)
		return
	}
	enc := func(m map[string]any) []byte {
		j, err := Canonical(m)
		if err != nil && b.err == nil {
			b.err = err
		}
		return append(j, '\n')
	}
	var leaves, objects []leaf
	walk(head, nil, &leaves, &objects)
	for _, lf := range leaves {
		h := deepCopy(head).(map[string]any)
		set(h, lf, mutate)
		b.addRaw(KindForgedHead, "head "+lf.String()+" edited", [][]byte{b.f.Log}, enc(h))
	}
	forgerID := keyID(b.forger.Public().(ed25519.PublicKey))
	for _, id := range []string{"", forgerID} {
		h := deepCopy(head).(map[string]any)
		h["seq"] = mutate(h["seq"])
		if id != "" {
			h["key_id"] = id
		}
		sig, err := sign(h, b.forger)
		if err != nil && b.err == nil {
			b.err = err
		}
		h["signature"] = sig
		b.addRaw(KindForgedHead, fmt.Sprintf("head re-signed by another key (key id replaced: %v)", id != ""), [][]byte{b.f.Log}, enc(h))
	}
	b.addRaw(KindForgedHead, "head file deleted", [][]byte{b.f.Log}, nil)
	b.addRaw(KindForgedHead, "head file emptied", [][]byte{b.f.Log}, []byte{})
	b.addRaw(KindForgedHead, "head file not JSON", [][]byte{b.f.Log}, []byte("{\"seq\":\n"))

	// Rollbacks: the log cut back to the end of an earlier run.
	for r, earlier := range b.f.EarlierHeads {
		var eh struct {
			Seq uint64 `json:"seq"`
		}
		if err := json.Unmarshal(earlier, &eh); err != nil {
			b.err = fmt.Errorf("earlier head %d: %w", r+1, err)
			return
		}
		keep := int(eh.Seq) + 1 // the records the earlier head's checkpoint covers, and itself
		if keep > len(b.lines) {
			b.err = fmt.Errorf("earlier head %d names seq %d beyond the log", r+1, eh.Seq)
			return
		}
		name := fmt.Sprintf("back to the end of run %d (%d of %d lines)", r+1, keep, len(b.lines))
		b.addRaw(KindRollbackShipped, name, b.lines[:keep], b.f.Head)
		b.addRaw(KindRollbackLocal, name, b.lines[:keep], earlier)
		b.addRaw(KindHeadOnly, fmt.Sprintf("head of run %d", r+1), [][]byte{b.f.Log}, earlier)
	}
}
