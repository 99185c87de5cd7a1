package akv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// corpusDir is where the recordings live, relative to this package.
var corpusDir = filepath.Join("..", "..", "..", "..", "shared", "corpus", "akv-recordings")

// replayPropagation is the lag the replay runs with: the recordings show one 404 (or 409)
// after most deletes, recovers and purges.
const replayPropagation = 1

const whyKeys = "keys API, which the server does not serve (TestConflictWordingFromKeysRecording checks the secrets 409 wording against these files' 409s)"

// skipFiles are recordings not replayed at all.
var skipFiles = map[string]string{
	"git-exact/azure-sdk-for-cpp/KEYS-PROXY_KeyVaultKeyClient.CreateDeletedKey.json":                   whyKeys,
	"git-exact/azure-sdk-for-cpp/KEYS-PROXY_KeyVaultKeyClient.CreateDeletedKeyBeforePollComplete.json": whyKeys,
}

// skip is a recorded answer the server does not reproduce on purpose.
type skip struct {
	reason string
	// settle resends the request until it gets the recorded status (at most
	// replayPropagation more times), so that later entries see the state the service had.
	settle bool
}

const (
	whyLagTwice    = "Azure answered a second 404 while the delete propagated; the server's lag is one request"
	whyLagPerName  = "the second delete had propagated by the time the first one had; the server lags each name by one request"
	whyRestoreLag  = "here the purge had finished before the restore; the server answers one 409 first, as the Python recording shows"
	whyCertsOnly   = "the page lists only certificate-backed secrets (managed, contentType) of a shared vault; the server holds no certificates"
	whyOtherSecret = "the page starts after every name this recording created; only a certificate of the shared vault was left"
)

// skipEntries are the skipped entries, by file and 0-based entry index. The request is still
// sent, so later entries see the same state.
var skipEntries = map[string]map[int]skip{
	"assets-transcribed/go/sdk/security/keyvault/azsecrets/testdata/recordings/TestListDeletedSecrets.json": {
		7: {reason: whyLagPerName},
	},
	"assets-transcribed/net/sdk/keyvault/Azure.Security.KeyVault.Secrets/tests/SessionRecords/SecretGeneratedClientLiveTests/Update_Replaces_Tags_Wholesale.json": {
		5: {reason: whyLagTwice},
	},
	"git-exact/azure-sdk-for-cpp/KeyVaultSecretClientTest.BackupRestore.json": {
		7: {reason: whyRestoreLag, settle: true},
	},
	"git-exact/azure-sdk-for-node/keyVault-secret-tests.nock.js": {
		12: {reason: whyCertsOnly},
		13: {reason: whyCertsOnly},
		15: {reason: whyOtherSecret},
	},
}

// rewordings are error messages the service has since reworded: an answer that matches in
// all else but carries the current wording still matches.
var rewordings = map[string]string{
	"AKV10000: Request is missing a Bearer or PoP token.": "the 401 message as worded from 2023 to 2025; the server uses the 2026 wording",
	"Secret not found: nodeSecret":                        "the 404 message as worded in 2018; the server uses the current wording",
}

// fileOptions are the server settings a recording needs.
func fileOptions(name string) Options {
	o := Options{Propagation: replayPropagation}
	if strings.HasSuffix(name, ".nock.js") {
		o.DisableSoftDelete = true // a 2018 vault without soft delete ("Purgeable")
	}
	return o
}

type replayTally struct {
	replayed, matched, skipped int
	reasons                    map[string]int // skip reasons
	reworded                   map[string]int // matched with a reworded message
}

func TestReplayRecordings(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("recordings not found at %s (the shared folder sits next to the repository): %v", corpusDir, err)
	}
	recs := loadRecordings(t, corpusDir)
	if len(recs) == 0 {
		t.Fatalf("no recordings under %s", corpusDir)
	}
	tally := replayTally{reasons: map[string]int{}, reworded: map[string]int{}}
	for _, rec := range recs {
		if why, ok := skipFiles[rec.name]; ok {
			tally.skipped += len(rec.entries)
			tally.reasons[why] += len(rec.entries)
			continue
		}
		t.Run(rec.name, func(t *testing.T) { replayFile(t, rec, &tally) })
	}
	t.Logf("%d recorded entries in %d files, %d of them replayed: %d matched, %d skipped",
		tally.replayed+countSkippedFiles(recs), len(recs), tally.replayed, tally.matched, tally.skipped)
	logCounts(t, "matched, older wording", tally.reworded)
	logCounts(t, "skipped", tally.reasons)
	if n := tally.replayed + countSkippedFiles(recs) - tally.matched - tally.skipped; n != 0 {
		t.Errorf("%d entries neither matched nor skipped", n)
	}
}

func logCounts(t *testing.T, what string, m map[string]int) {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %s %3d: %s", what, m[k], k)
	}
}

func countSkippedFiles(recs []recording) int {
	n := 0
	for _, r := range recs {
		if _, ok := skipFiles[r.name]; ok {
			n += len(r.entries)
		}
	}
	return n
}

// replayer holds what one file's replay learned: the server's ids for recorded ones.
type replayer struct {
	t        *testing.T
	s        *Server
	hc       *http.Client
	versions map[string]string // recorded version id → the server's
	blobs    map[string]string // recorded backup blob → the server's
	lastBlob string            // the server's last backup blob
	nextTok  map[string]string // path → $skiptoken of the server's last nextLink there
}

func replayFile(t *testing.T, rec recording, tally *replayTally) {
	s := startServer(t, fileOptions(rec.name))
	r := &replayer{t: t, s: s, hc: s.HTTPClient(), versions: map[string]string{}, blobs: map[string]string{}, nextTok: map[string]string{}}
	for i, e := range rec.entries {
		tally.replayed++
		res := r.replay(e)
		sk, skipped := skipEntries[rec.name][i]
		switch {
		case skipped && len(res.problems) == 0:
			t.Errorf("entry %d (%s %s) is in the skip table (%s) but now matches: remove it", i, e.method, e.uri, sk.reason)
		case skipped:
			tally.skipped++
			tally.reasons[sk.reason]++
			for n := 0; sk.settle && n < replayPropagation && res.status != e.status; n++ {
				res = r.replay(e)
			}
		case len(res.problems) > 0:
			t.Errorf("entry %d: %s %s → recorded %d:\n  %s", i, e.method, e.uri, e.status, strings.Join(res.problems, "\n  "))
		default:
			tally.matched++
			if res.reworded != "" {
				tally.reworded[res.reworded]++
			}
		}
	}
}

// replayResult is how the server's answer to a recorded request compares.
type replayResult struct {
	status   int
	problems []string // differences from the recorded answer
	reworded string   // the rewording the message differs by, if any
}

func failed(err error) replayResult { return replayResult{problems: []string{err.Error()}} }

// replay sends e to the server and compares the answer with the recorded one.
func (r *replayer) replay(e recorded) replayResult {
	u, err := url.Parse(e.uri)
	if err != nil {
		return failed(err)
	}
	path := u.EscapedPath()
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if v, ok := r.versions[seg]; ok {
			segs[i] = v
		}
	}
	path = strings.Join(segs, "/")
	q := u.Query()
	if tok := q.Get("$skiptoken"); tok != "" {
		if _, ok := decodeSkipToken(tok); !ok && r.nextTok[path] != "" {
			q.Set("$skiptoken", r.nextTok[path]) // the recorder sanitized it
		}
	}
	body := e.body
	if body != nil {
		for rec, mine := range r.blobs {
			body = bytes.ReplaceAll(body, []byte(rec), []byte(mine))
		}
	} else if e.status != http.StatusUnauthorized {
		body = r.synthesize(e, path)
	}

	req, err := http.NewRequest(e.method, r.s.URL()+path+"?"+encodeQuery(q), bytes.NewReader(body))
	if err != nil {
		return failed(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// The first request of each SDK session goes without a token (and answers 401); the
	// recorders that drop the Authorization header (C++, Python) still sent one otherwise.
	if e.status != http.StatusUnauthorized {
		req.Header.Set("Authorization", "Bearer "+r.s.tokens.static)
	}
	if e.clientReqID != "" {
		req.Header.Set("x-ms-client-request-id", e.clientReqID)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return failed(err)
	}
	r.learn(e, path, resp.StatusCode, got)

	res := replayResult{status: resp.StatusCode}
	if resp.StatusCode != e.status {
		res.problems = append(res.problems, fmt.Sprintf("status %d, recorded %d: %s", resp.StatusCode, e.status, got))
		return res
	}
	res.problems, res.reworded = r.compareBody(e.resp, string(got))
	res.problems = append(res.problems, checkHeaders(e, resp, got)...)
	return res
}

// encodeQuery keeps the recorded parameter order where it can (api-version first) and leaves
// "$skiptoken" unescaped, as nextLinks carry it.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i] == "api-version" || (keys[j] != "api-version" && keys[i] < keys[j])
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+url.QueryEscape(q.Get(k)))
	}
	return strings.Join(parts, "&")
}

// synthesize builds the body a recorder without request bodies must have sent, from the
// recorded answer: a PUT or PATCH sends what the answer echoes, a restore the last backup.
func (r *replayer) synthesize(e recorded, path string) []byte {
	if e.method == http.MethodPost && strings.HasSuffix(path, "/secrets/restore") {
		b, _ := json.Marshal(map[string]string{"value": r.lastBlob})
		return b
	}
	if e.method != http.MethodPut && e.method != http.MethodPatch {
		return nil
	}
	var resp map[string]any
	if json.Unmarshal([]byte(e.resp), &resp) != nil {
		return nil
	}
	in := map[string]any{}
	if e.method == http.MethodPut {
		in["value"] = resp["value"]
	}
	for _, k := range []string{"contentType", "tags"} {
		if v, ok := resp[k]; ok {
			in[k] = v
		}
	}
	if a, ok := resp["attributes"].(map[string]any); ok {
		attrs := map[string]any{}
		for _, k := range []string{"enabled", "nbf", "exp"} {
			if v, ok := a[k]; ok {
				attrs[k] = v
			}
		}
		in["attributes"] = attrs
	}
	b, _ := json.Marshal(in)
	return b
}

// learn maps the recording's ids and blobs to the server's, from one exchange.
func (r *replayer) learn(e recorded, path string, status int, got []byte) {
	if status != http.StatusOK || e.status != http.StatusOK {
		return
	}
	var rec, mine map[string]any
	if json.Unmarshal([]byte(e.resp), &rec) != nil || json.Unmarshal(got, &mine) != nil {
		return
	}
	if ri, ok := rec["id"].(string); ok {
		if mi, ok := mine["id"].(string); ok {
			if rv, mv := versionOf(ri), versionOf(mi); rv != "" && mv != "" {
				r.versions[rv] = mv
			}
		}
	}
	if strings.HasSuffix(path, "/backup") {
		rb, _ := rec["value"].(string)
		mb, _ := mine["value"].(string)
		r.blobs[rb], r.lastBlob = mb, mb
	}
	if next, ok := mine["nextLink"].(string); ok {
		if nu, err := url.Parse(next); err == nil {
			r.nextTok[path] = nu.Query().Get("$skiptoken")
		}
	}
}

// versionOf returns the version segment of a secret id, or "".
func versionOf(id string) string {
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) == 3 {
		return segs[2]
	}
	return ""
}

var hostInURL = regexp.MustCompile(`https://[^/'"\s]+`)

// compareBody compares shapes: the same keys at every level and the same JSON kinds; values
// may differ. Errors must also agree on code and inner code, and on the message (hosts and
// ids aside) unless the service has since reworded it.
func (r *replayer) compareBody(recorded, got string) (problems []string, reworded string) {
	if recorded == "" || got == "" {
		if recorded != got {
			return []string{fmt.Sprintf("body %q, recorded %q", got, recorded)}, ""
		}
		return nil, ""
	}
	var rec, mine any
	if err := json.Unmarshal([]byte(recorded), &rec); err != nil {
		return []string{"recorded body is not JSON: " + err.Error()}, ""
	}
	if err := json.Unmarshal([]byte(got), &mine); err != nil {
		return []string{"body is not JSON: " + err.Error()}, ""
	}
	problems = shapeDiff("$", rec, mine)
	var re, me errorJSON
	if json.Unmarshal([]byte(recorded), &re) == nil && re.Error.Code != "" && json.Unmarshal([]byte(got), &me) == nil {
		msg := re.Error.Message
		for rv, mv := range r.versions {
			msg = strings.ReplaceAll(msg, rv, mv)
		}
		norm := func(s string) string { return hostInURL.ReplaceAllString(s, "https://HOST") }
		if norm(msg) != norm(me.Error.Message) {
			if why, ok := rewordings[re.Error.Message]; ok {
				reworded = why
			} else {
				problems = append(problems, fmt.Sprintf("message %q, recorded %q", me.Error.Message, re.Error.Message))
			}
		}
		if re.Error.Code != me.Error.Code || (re.Error.InnerError == nil) != (me.Error.InnerError == nil) ||
			(re.Error.InnerError != nil && re.Error.InnerError.Code != me.Error.InnerError.Code) {
			problems = append(problems, fmt.Sprintf("error %s, recorded %s", got, recorded))
		}
	}
	return problems, reworded
}

func shapeDiff(at string, rec, got any) []string {
	switch rv := rec.(type) {
	case nil:
		return nil // sanitized or absent (a null nextLink): any value will do
	case map[string]any:
		gv, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, recorded an object", at, got)}
		}
		var out []string
		for k := range rv {
			if _, ok := gv[k]; !ok {
				out = append(out, fmt.Sprintf("%s: no %q", at, k))
			}
		}
		for k := range gv {
			if _, ok := rv[k]; !ok {
				out = append(out, fmt.Sprintf("%s: extra %q", at, k))
			}
		}
		for k := range rv {
			if _, ok := gv[k]; ok {
				out = append(out, shapeDiff(at+"."+k, rv[k], gv[k])...)
			}
		}
		slices.Sort(out)
		return out
	case []any:
		gv, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, recorded an array", at, got)}
		}
		if (len(rv) == 0) != (len(gv) == 0) {
			return []string{fmt.Sprintf("%s: %d items, recorded %d", at, len(gv), len(rv))}
		}
		// Each item must have the shape of some recorded item: lists of a shared vault mix
		// certificate-backed secrets with plain ones.
		for i, g := range gv {
			if !slices.ContainsFunc(rv, func(x any) bool { return len(shapeDiff("", x, g)) == 0 }) {
				return []string{fmt.Sprintf("%s[%d]: no recorded item has its shape: %v", at, i, shapeDiff(at+"[0]", rv[0], g))}
			}
		}
		return nil
	default:
		if got == nil {
			return nil
		}
		if fmt.Sprintf("%T", rec) != fmt.Sprintf("%T", got) {
			return []string{fmt.Sprintf("%s: %T, recorded %T", at, got, rec)}
		}
		return nil
	}
}

// ignoredHeaders are recorded response headers of the service's hosting, not its API.
var ignoredHeaders = []string{"date", "server", "x-powered-by", "x-aspnet-version", "connection",
	"x-ms-keyvault-rbac-assignment-id", "x-ms-keyvault-rbac-cache", "transfer-encoding"}

// checkHeaders checks the answer's headers against §0 and the recorded header names.
func checkHeaders(e recorded, resp *http.Response, body []byte) []string {
	var out []string
	if len(body) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			out = append(out, "Content-Type "+ct)
		}
		if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(body)) {
			out = append(out, fmt.Sprintf("Content-Length %s for %d bytes", cl, len(body)))
		}
	} else if resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "" {
		out = append(out, "an empty answer with Content-Type or Content-Length")
	}
	if e.clientReqID != "" && resp.Header.Get("x-ms-client-request-id") != e.clientReqID {
		out = append(out, "x-ms-client-request-id not echoed")
	}
	for name := range e.respHeaders {
		if slices.Contains(ignoredHeaders, name) || (name == "content-length" && len(body) == 0) {
			continue
		}
		if _, ok := resp.Header[http.CanonicalHeaderKey(name)]; !ok {
			out = append(out, "no "+name+" header")
		}
	}
	if e.status == http.StatusUnauthorized {
		want := regexp.MustCompile(`^Bearer authorization="https://login\.microsoftonline\.com/[^"]+", resource="https://vault\.azure\.net"$`)
		if !want.MatchString(resp.Header.Get("WWW-Authenticate")) {
			out = append(out, "WWW-Authenticate "+resp.Header.Get("WWW-Authenticate"))
		}
	}
	return out
}

// TestConflictWordingFromKeysRecording checks the secrets 409 messages against the keys
// service's recorded ones, the only real bytes of these errors (AKV-SHAPES.md §3).
func TestConflictWordingFromKeysRecording(t *testing.T) {
	for file, want := range map[string]func(string) *apiError{
		"KEYS-PROXY_KeyVaultKeyClient.CreateDeletedKey.json":                   errDeletedButRecoverable,
		"KEYS-PROXY_KeyVaultKeyClient.CreateDeletedKeyBeforePollComplete.json": errBeingDeleted,
	} {
		b, err := os.ReadFile(filepath.Join(corpusDir, "git-exact", "azure-sdk-for-cpp", file))
		if err != nil {
			t.Skipf("recordings not found at %s: %v", corpusDir, err)
		}
		rec, err := parseCpp(b)
		if err != nil {
			t.Fatal(err)
		}
		last := rec.entries[len(rec.entries)-1]
		var e errorJSON
		if err := json.Unmarshal([]byte(last.resp), &e); err != nil || last.status != http.StatusConflict {
			t.Fatalf("%s: last entry %d %s", file, last.status, last.resp)
		}
		name := strings.Fields(e.Error.Message)[1]
		keyWording := strings.NewReplacer("Key "+name, "Secret "+name, "the key", "the secret").Replace(e.Error.Message)
		got := want(name)
		if got.message != keyWording || got.inner != e.Error.InnerError.Code || got.code != e.Error.Code {
			t.Errorf("%s:\n got %s %s %q\nwant %s %s %q", file, got.code, got.inner, got.message, e.Error.Code, e.Error.InnerError.Code, keyWording)
		}
	}
}
