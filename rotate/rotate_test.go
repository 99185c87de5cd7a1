package rotate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/memstore"
	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/rotate/generate"
)

var fpKey = bytes.Repeat([]byte("k"), audit.MinKeyLen)

// fixture is a memory store holding one entry, and the options of a run against it.
type fixture struct {
	store *memstore.Store
	t     providers.Target
	old   kube.Data
	log   *recordertest.Log
	opts  Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	opened, err := (&memstore.Config{Bucket: t.Name() + "-" + fmt.Sprint(time.Now().UnixNano())}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	store := opened.(*memstore.Store)
	fp, err := audit.NewFingerprinter(fpKey)
	if err != nil {
		t.Fatal(err)
	}
	old := kube.Data{"username": []byte("shop"), "password": []byte("old-password"), "blob": {0xff, 0x00, 0xfe}}
	tg := providers.Target{Provider: memstore.Name, Address: "shop/db"}
	ref := providers.Ref{Namespace: "shop", Name: "db", UID: "uid-1"}
	if _, err := store.Write(context.Background(), tg, providers.Payload{Ref: ref, Type: "Opaque", Data: old, Fingerprint: fp.Set("Opaque", old)}, ""); err != nil {
		t.Fatal(err)
	}
	log := &recordertest.Log{}
	return &fixture{store: store, t: tg, old: old, log: log,
		opts: Options{Provider: store, Fingerprinter: fp, Recorder: log, JournalDir: t.TempDir(), RunID: "run-1"}}
}

func passwordKey(t *testing.T, name string) Key {
	t.Helper()
	spec, err := generate.ParseSpec("password:length=32")
	if err != nil {
		t.Fatal(err)
	}
	g, err := generate.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Name: name, Spec: spec, Generator: g}
}

func (f *fixture) current(t *testing.T) *providers.Stored {
	t.Helper()
	st, err := f.store.Read(context.Background(), f.t)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// hook writes an executable shell script into dir that appends its stdin to log and then runs
// body.
func hook(t *testing.T, dir, name, log, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := fmt.Sprintf("#!/bin/sh\ncat >> %q\necho >> %q\n%s\n", log, log, body)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// hookCalls reads what a hook was given, one JSON object per call.
func hookCalls(t *testing.T, log string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("hook input %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func value(t *testing.T, call map[string]any, key string) []byte {
	t.Helper()
	v, _ := call["values"].(map[string]any)[key].(string)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A rotation sets and tests the new value, then makes it current; the other keys keep their
// values byte for byte, the previous version stays readable, and each step is on record in
// order, with fingerprints only.
func TestRotateSetsTestsThenPromotes(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	setLog, testLog := filepath.Join(dir, "set.log"), filepath.Join(dir, "test.log")
	e := Entry{Target: f.t, Keys: []Key{passwordKey(t, "password")},
		Hooks: Hooks{Set: []string{hook(t, dir, "set", setLog, "exit 0")}, Test: []string{hook(t, dir, "test", testLog, "exit 0")}}}
	rep, err := Run(context.Background(), []Entry{e}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Items[0]
	if it.Result != ResultRotated || it.Previous != "1" || it.Version != "2" || it.OldFingerprint == it.NewFingerprint {
		t.Fatalf("report %+v", it)
	}
	st := f.current(t)
	if bytes.Equal(st.Data["password"], f.old["password"]) || len(st.Data["password"]) != 32 {
		t.Errorf("password not rotated")
	}
	if !bytes.Equal(st.Data["username"], f.old["username"]) || !bytes.Equal(st.Data["blob"], f.old["blob"]) {
		t.Errorf("the other keys changed")
	}
	if st.Ref.UID != "uid-1" || st.Fingerprint != it.NewFingerprint {
		t.Errorf("stored %+v", st)
	}
	prev, err := f.store.ReadVersion(context.Background(), f.t, "1")
	if err != nil || !bytes.Equal(prev.Data["password"], f.old["password"]) {
		t.Errorf("previous version: %v", err)
	}
	set, test := hookCalls(t, setLog), hookCalls(t, testLog)
	if len(set) != 1 || len(test) != 1 || set[0]["stage"] != "set" || test[0]["stage"] != "test" {
		t.Fatalf("hooks called %v / %v", set, test)
	}
	if !bytes.Equal(value(t, set[0], "password"), st.Data["password"]) || !bytes.Equal(value(t, test[0], "blob"), f.old["blob"]) {
		t.Error("the hooks were not given the new values")
	}
	var actions []string
	for _, e := range f.log.Snapshot() {
		actions = append(actions, e.Action+":"+string(e.Outcome))
	}
	want := "rotate.due:success rotate.pending:success rotate.set:success rotate.test:success rotate.promote:attempt rotate.promote:success"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit records:\n%s\nwant\n%s", strings.Join(actions, " "), want)
	}
}

// A failing test hook: the set hook runs again with the previous values, the store is not
// changed, and the report says rolled back.
func TestFailedTestRollsBack(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	setLog := filepath.Join(dir, "set.log")
	e := Entry{Target: f.t, Keys: []Key{passwordKey(t, "password")},
		Hooks: Hooks{Set: []string{hook(t, dir, "set", setLog, "exit 0")}, Test: []string{hook(t, dir, "test", filepath.Join(dir, "t.log"), "echo cannot log in >&2; exit 1")}}}
	rep, err := Run(context.Background(), []Entry{e}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Items[0]
	if it.Result != ResultRolledBack || !strings.Contains(it.Error, "not shown") || !rep.Failed() {
		t.Fatalf("report %+v", it)
	}
	if st := f.current(t); st.Version != "1" || !bytes.Equal(st.Data["password"], f.old["password"]) {
		t.Errorf("the store changed: version %s", st.Version)
	}
	calls := hookCalls(t, setLog)
	if len(calls) != 2 || calls[1]["stage"] != "rollback" || !bytes.Equal(value(t, calls[1], "password"), f.old["password"]) {
		t.Errorf("set hook calls %v", calls)
	}
	if f.log.Count(ActionRollback, audit.OutcomeSuccess) != 1 || f.log.Count(ActionPromote, audit.OutcomeAttempt) != 0 {
		t.Error("rollback not on record, or a promotion attempted")
	}
}

// Due-only: an entry younger than maxAge is left alone (and that is on record); --dry-run says
// what is due and changes nothing.
func TestDueAndDryRun(t *testing.T) {
	f := newFixture(t)
	e := Entry{Target: f.t, Keys: []Key{passwordKey(t, "password")}, MaxAge: time.Hour}
	f.opts.Due = true
	rep, err := Run(context.Background(), []Entry{e}, f.opts)
	if err != nil || rep.Items[0].Result != ResultNotDue || f.current(t).Version != "1" {
		t.Fatalf("young entry: %+v, %v", rep.Items[0], err)
	}
	if f.log.Count(ActionDue, audit.OutcomeSkipped) != 1 {
		t.Error("not-due check not on record")
	}
	f.opts.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	f.opts.DryRun = true
	rep, err = Run(context.Background(), []Entry{e}, f.opts)
	if err != nil || rep.Items[0].Result != ResultWouldRoll || f.current(t).Version != "1" || !strings.Contains(rep.Items[0].Reason, "over maxAge") {
		t.Fatalf("dry run: %+v, %v", rep.Items[0], err)
	}
	f.opts.DryRun = false
	rep, err = Run(context.Background(), []Entry{e}, f.opts)
	if err != nil || rep.Items[0].Result != ResultRotated || f.current(t).Version != "2" {
		t.Fatalf("old entry: %+v, %v", rep.Items[0], err)
	}
}

// Another writer changed the entry between the read and the promotion: the check-and-set
// write refuses, the set hook is not turned back over the other writer's values, and the
// report says conflict.
func TestConcurrentChangeIsAConflict(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	setLog := filepath.Join(dir, "set.log")
	// The set hook stands for the other writer: it changes the entry in the store.
	other := func() {
		st := f.current(t)
		if _, err := f.store.Write(context.Background(), f.t, providers.Payload{Data: kube.Data{"password": []byte("someone-else")}}, st.Version); err != nil {
			t.Error(err)
		}
	}
	k := passwordKey(t, "password")
	k.Generator = generatorFunc(func() { other() })
	e := Entry{Target: f.t, Keys: []Key{k}, Hooks: Hooks{Set: []string{hook(t, dir, "set", setLog, "exit 0")}}}
	rep, err := Run(context.Background(), []Entry{e}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items[0].Result != ResultConflict || len(hookCalls(t, setLog)) != 1 {
		t.Fatalf("report %+v, set hook calls %d", rep.Items[0], len(hookCalls(t, setLog)))
	}
	if st := f.current(t); string(st.Data["password"]) != "someone-else" {
		t.Error("the other writer's value was replaced")
	}
}

// generatorFunc makes a fixed value and calls during first.
type generatorFunc func()

func (g generatorFunc) Keys(key string) []string { return []string{key} }
func (g generatorFunc) Generate(_ context.Context, key string) (map[string][]byte, error) {
	g()
	return map[string][]byte{key: []byte("generated-value")}, nil
}

// The audit log failing stops the run before the store changes (fail-closed).
func TestAuditFailureStopsBeforeTheStoreChanges(t *testing.T) {
	for n := range 4 { // due, pending, promote attempt, promote outcome
		f := newFixture(t)
		f.opts.Recorder = recordertest.FailingAfter(n)
		_, err := Run(context.Background(), []Entry{{Target: f.t, Keys: []Key{passwordKey(t, "password")}}}, f.opts)
		if !errors.Is(err, job.ErrAudit) {
			t.Fatalf("after %d records: err = %v", n, err)
		}
		if st := f.current(t); n < 3 && st.Version != "1" {
			t.Errorf("after %d records the store changed to version %s", n, st.Version)
		}
	}
}

// An entry whose values cannot be read, or that does not exist, fails alone; the others are
// rotated.
func TestUnreadableEntriesFailAlone(t *testing.T) {
	f := newFixture(t)
	missing := Entry{Target: providers.Target{Provider: memstore.Name, Address: "shop/none"}, Keys: []Key{passwordKey(t, "password")}}
	rep, err := Run(context.Background(), []Entry{missing, {Target: f.t, Keys: []Key{passwordKey(t, "password")}}}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[ResultFailed] != 1 || rep.Counts[ResultRotated] != 1 {
		t.Errorf("counts %v", rep.Counts)
	}
}

// Rollback makes the previous version current again, as a new version, on record.
func TestRollback(t *testing.T) {
	f := newFixture(t)
	if _, err := Run(context.Background(), []Entry{{Target: f.t, Keys: []Key{passwordKey(t, "password")}}}, f.opts); err != nil {
		t.Fatal(err)
	}
	from, to, err := Rollback(context.Background(), f.store, f.log, f.t, "")
	if err != nil || from != "1" || to != "3" {
		t.Fatalf("rollback: %s → %s, %v", from, to, err)
	}
	if st := f.current(t); !bytes.Equal(st.Data["password"], f.old["password"]) {
		t.Error("the previous value is not current")
	}
	if _, _, err := Rollback(context.Background(), f.store, f.log, f.t, "9"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("unknown version: %v", err)
	}
	if f.log.Count(ActionRollback, audit.OutcomeSuccess) != 1 {
		t.Error("rollback not on record")
	}
}

// No generated or previous value reaches the report, the audit records or an error, even from
// a hook that prints what it was given.
func TestCanary(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	echo := hook(t, dir, "echo", filepath.Join(dir, "echo.log"), `cat `+filepath.Join(dir, "echo.log")+` >&2; exit 1`)
	canary := Key{Name: "password", Generator: constGenerator("CANARY-rotate-4f2a9c")}
	var logs bytes.Buffer
	f.opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, err := Run(context.Background(), []Entry{{Target: f.t, Keys: []Key{canary}, Hooks: Hooks{Set: []string{echo}}}}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	all := string(b) + fmt.Sprintf("%+v", f.log.Snapshot()) + logs.String()
	if !strings.Contains(logs.String(), ActionRollback) {
		t.Errorf("the debug log does not show the steps:\n%s", logs.String())
	}
	for _, v := range []string{"CANARY-rotate-4f2a9c", base64.StdEncoding.EncodeToString([]byte("CANARY-rotate-4f2a9c")), "old-password", base64.StdEncoding.EncodeToString([]byte("old-password"))} {
		if strings.Contains(all, v) {
			t.Fatalf("a value appears in the report or the audit records (%q)", v)
		}
	}
	// The hook fails its rollback run too (it fails every time): the entry failed, and the
	// store still holds the previous values.
	if rep.Items[0].Result != ResultFailed || !strings.Contains(rep.Items[0].Error, "not shown") || f.current(t).Version != "1" {
		t.Errorf("report %+v", rep.Items[0])
	}
}

// -vv shows every step of every entry, as its audit record does.
func TestDebugLogShowsEveryStep(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	ok := hook(t, dir, "ok", filepath.Join(dir, "ok.log"), "exit 0")
	var logs bytes.Buffer
	f.opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, err := Run(context.Background(), []Entry{{Target: f.t, Keys: []Key{passwordKey(t, "password")}, Hooks: Hooks{Set: []string{ok}, Test: []string{ok}}}}, f.opts)
	if err != nil || rep.Items[0].Result != ResultRotated {
		t.Fatalf("%+v, %v", rep.Items[0], err)
	}
	for _, action := range []string{ActionDue, ActionPending, ActionSet, ActionTest, ActionPromote} {
		if !strings.Contains(logs.String(), "msg="+action+" ") {
			t.Errorf("no %s line:\n%s", action, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "target="+memstore.Name+":shop/db") {
		t.Errorf("the lines do not name the entry:\n%s", logs.String())
	}
}

type constGenerator string

func (g constGenerator) Keys(key string) []string { return []string{key} }
func (g constGenerator) Generate(_ context.Context, key string) (map[string][]byte, error) {
	return map[string][]byte{key: []byte(g)}, nil
}

// A hook that does not exist or cannot be run is refused before anything changes.
func TestHookCheck(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o600)
	for _, h := range []Hooks{{Set: []string{filepath.Join(dir, "none")}}, {Test: []string{plain}}, {Set: []string{dir}}} {
		if err := h.Check(); err == nil {
			t.Errorf("%+v accepted", h)
		}
	}
}

// fakeConsumers records what a rotation asked the cluster to do.
type fakeConsumers struct {
	calls      []string
	restartErr error
	checkErr   error
}

func (c *fakeConsumers) Check(context.Context, providers.Ref) error { return c.checkErr }

func (c *fakeConsumers) Refresh(_ context.Context, ref providers.Ref, typ, fingerprint string) (string, error) {
	c.calls = append(c.calls, "refresh "+ref.String()+" "+typ+" "+fingerprint)
	return "refreshed", nil
}

func (c *fakeConsumers) Restart(_ context.Context, ref providers.Ref) (string, error) {
	c.calls = append(c.calls, "restart "+ref.String())
	return "restarted deployment/web", c.restartErr
}

// After promotion, entries that ask for it have their Secret refreshed with the new
// fingerprint and its consumers restarted, on record; a failed restart leaves the new values
// current and says so.
func TestRestartAfterPromotion(t *testing.T) {
	f := newFixture(t)
	c := &fakeConsumers{}
	f.opts.Consumers = c
	e := Entry{Target: f.t, Keys: []Key{passwordKey(t, "password")}, Restart: true}
	rep, err := Run(context.Background(), []Entry{e}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Items[0]
	if it.Result != ResultRotated || len(c.calls) != 2 || c.calls[0] != "refresh shop/db Opaque "+it.NewFingerprint || c.calls[1] != "restart shop/db" {
		t.Fatalf("report %+v, calls %v", it, c.calls)
	}
	if f.log.Count(ActionRefresh, audit.OutcomeSuccess) != 1 || f.log.Count(ActionRestart, audit.OutcomeSuccess) != 1 {
		t.Error("refresh and restart not on record")
	}
	c.restartErr = errors.New("deployment/web did not roll out in 5m0s")
	rep, err = Run(context.Background(), []Entry{e}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if it := rep.Items[0]; it.Result != ResultNotRestarted || !strings.Contains(it.Error, "did not roll out") || f.current(t).Version != "3" || !rep.Failed() {
		t.Errorf("failed restart: %+v", it)
	}
	// A cluster that could not follow (an ExternalSecret ESO would not refresh): the entry
	// fails before anything changes, in a dry run too.
	c.calls, c.restartErr, c.checkErr = nil, nil, errors.New("ExternalSecret shop/db: spec.refreshPolicy is CreatedOnce")
	for _, dry := range []bool{true, false} {
		opts := f.opts
		opts.DryRun = dry
		rep, err = Run(context.Background(), []Entry{e}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if it := rep.Items[0]; it.Result != ResultFailed || !strings.Contains(it.Error, "CreatedOnce") || !strings.Contains(it.Error, "nothing was changed") || f.current(t).Version != "3" || len(c.calls) != 0 {
			t.Errorf("dry run %v: %+v, calls %v", dry, it, c.calls)
		}
	}
	c.checkErr = nil
	// Without Restart nothing is asked of the cluster.
	c.calls = nil
	e.Restart = false
	if _, err := Run(context.Background(), []Entry{e}, f.opts); err != nil || len(c.calls) != 0 {
		t.Errorf("calls %v, %v", c.calls, err)
	}
}

// A key that is not rotated but holds the rotated key's old value inside it (a DSN with the
// password) is named in the report, by key only; short values are not looked for.
func TestStaleCopiesAreNamed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := kube.Data{"password": []byte("old-password"), "dsn": []byte("postgres://shop:old-password@db/shop"), "port": []byte("5432"), "pin": []byte("5432")}
	ref := providers.Ref{Namespace: "shop", Name: "db"}
	if _, err := f.store.Write(ctx, f.t, providers.Payload{Ref: ref, Type: "Opaque", Data: data, Fingerprint: f.opts.Fingerprinter.Set("Opaque", data)}, "1"); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, []Entry{{Target: f.t, Keys: []Key{passwordKey(t, "password"), passwordKey(t, "pin")}}}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Items[0]
	if it.Result != ResultRotated || !strings.Contains(it.Reason, "old value of password is also inside dsn") || strings.Contains(it.Reason, "port") {
		t.Errorf("report %+v", it)
	}
	if strings.Contains(it.Reason, "old-password") {
		t.Error("the reason shows a value")
	}
}

// A run that resumes a job stopped part-way does not rotate again an entry the stopped run
// rotated (its journal says verified at the current version); once a run ends the job, the
// next run rotates anew.
func TestResumedRunDoesNotRotateAgain(t *testing.T) {
	f := newFixture(t)
	e := Entry{Target: f.t, Keys: []Key{passwordKey(t, "password")}}
	ctx := context.Background()
	if _, err := Run(ctx, []Entry{e}, f.opts); err != nil {
		t.Fatal(err)
	}
	rotated := f.current(t).Version
	// A later run of the job that rotated the entry and was killed before its end: its end
	// line is taken out of the journal.
	if _, err := Run(ctx, []Entry{e}, withRun(f.opts, "killed-run")); err != nil {
		t.Fatal(err)
	}
	after := f.current(t).Version
	if after == rotated {
		t.Fatal("the killed run's rotation did not happen")
	}
	stripEnd(t, f.opts.JournalDir)

	rep, err := Run(ctx, []Entry{e}, withRun(f.opts, "resuming-run"))
	if err != nil {
		t.Fatal(err)
	}
	if it := rep.Items[0]; it.Result != ResultRotated || it.Resumed != string(job.StateVerified) || f.current(t).Version != after {
		t.Fatalf("resuming run: %+v, version %s; want the entry left at %s", it, f.current(t).Version, after)
	}
	if _, err := Run(ctx, []Entry{e}, withRun(f.opts, "next-week")); err != nil {
		t.Fatal(err)
	}
	if f.current(t).Version == after {
		t.Error("the run after an ended job did not rotate")
	}
}

func withRun(o Options, id string) Options { o.RunID = id; return o }

// stripEnd removes the journal's "end" lines after its last "run" line, as a kill before the
// end leaves it.
func stripEnd(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], `"state":"run"`) {
				break
			}
			if strings.Contains(lines[i], `"state":"end"`) {
				lines = append(lines[:i], lines[i+1:]...)
			}
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
