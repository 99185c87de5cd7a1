package akv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// recording is one recorded session, in order.
type recording struct {
	name    string // path under the corpus folder
	entries []recorded
}

// recorded is one request and its recorded answer, whatever the recorder's format.
type recorded struct {
	method string
	uri    string
	// body is the request body; nil when none was recorded (the C++ and node recorders keep
	// none) or the request had none.
	body         []byte
	bodyRecorded bool
	clientReqID  string // x-ms-client-request-id sent, if recorded
	status       int
	resp         string            // response body, "" for none
	respHeaders  map[string]string // lower-case names; nil when the format keeps none usable
}

// loadRecordings reads every recording under root: test-proxy JSON (assets-transcribed),
// the C++ recorder's JSON and the node nock script (git-exact).
func loadRecordings(t *testing.T, root string) []recording {
	t.Helper()
	var out []recording
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rec recording
		switch {
		case strings.HasSuffix(path, ".nock.js"):
			rec, err = parseNock(b)
		case strings.HasSuffix(path, ".json") && strings.Contains(rel, "assets-transcribed"):
			rec, err = parseTestProxy(b)
		case strings.HasSuffix(path, ".json"):
			rec, err = parseCpp(b)
		default:
			return nil // MANIFEST.md
		}
		if err != nil {
			t.Errorf("parse %s: %v", rel, err)
			return nil
		}
		rec.name = filepath.ToSlash(rel)
		out = append(out, rec)
		return nil
	})
	if err != nil {
		t.Fatalf("read recordings: %v", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// parseTestProxy reads the Azure SDK test proxy's format.
func parseTestProxy(b []byte) (recording, error) {
	var f struct {
		Entries []struct {
			RequestURI      string            `json:"RequestUri"`
			RequestMethod   string            `json:"RequestMethod"`
			RequestHeaders  map[string]string `json:"RequestHeaders"`
			RequestBody     json.RawMessage   `json:"RequestBody"`
			StatusCode      int               `json:"StatusCode"`
			ResponseHeaders map[string]string `json:"ResponseHeaders"`
			ResponseBody    json.RawMessage   `json:"ResponseBody"`
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return recording{}, err
	}
	var rec recording
	for _, e := range f.Entries {
		r := recorded{
			method: e.RequestMethod, uri: e.RequestURI, status: e.StatusCode,
			clientReqID: lowerKeys(e.RequestHeaders)["x-ms-client-request-id"],
			respHeaders: lowerKeys(e.ResponseHeaders),
		}
		if len(e.RequestBody) > 0 && string(e.RequestBody) != "null" {
			r.body, r.bodyRecorded = compact(e.RequestBody), true
		}
		if len(e.ResponseBody) > 0 && string(e.ResponseBody) != "null" {
			r.resp = string(compact(e.ResponseBody))
		}
		rec.entries = append(rec.entries, r)
	}
	return rec, nil
}

func compact(raw json.RawMessage) []byte {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// parseCpp reads the C++ SDK's recorder format. It keeps no request bodies.
func parseCpp(b []byte) (recording, error) {
	var f struct {
		NetworkCallRecords []struct {
			Headers  map[string]string
			Method   string
			URL      string `json:"Url"`
			Response map[string]string
		} `json:"networkCallRecords"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return recording{}, err
	}
	var rec recording
	for _, e := range f.NetworkCallRecords {
		status, err := strconv.Atoi(e.Response["STATUS_CODE"])
		if err != nil {
			return recording{}, err
		}
		h := map[string]string{}
		for k, v := range e.Response {
			if k != "BODY" && k != "STATUS_CODE" && k != "REASON_PHRASE" {
				h[strings.ToLower(k)] = v
			}
		}
		rec.entries = append(rec.entries, recorded{
			method: e.Method, uri: e.URL, status: status, resp: e.Response["BODY"],
			clientReqID: lowerKeys(e.Headers)["x-ms-client-request-id"], respHeaders: h,
		})
	}
	return rec, nil
}

// nockCall matches one intercepted call of a nock recording: method, path, status and body.
var nockCall = regexp.MustCompile(`(?s)nock\('(https://[^']+)'\).*?\.(get|put|patch|delete|post)\('([^']*)'.*?\.reply\((\d+), "((?:[^"\\]|\\.)*)"`)

// parseNock reads a node nock recording (a JavaScript file). Request bodies were filtered out
// by the recorder ('*').
func parseNock(b []byte) (recording, error) {
	var rec recording
	for _, m := range nockCall.FindAllStringSubmatch(string(b), -1) {
		status, err := strconv.Atoi(m[4])
		if err != nil {
			return recording{}, err
		}
		var body string
		if err := json.Unmarshal([]byte(`"`+m[5]+`"`), &body); err != nil {
			return recording{}, err
		}
		rec.entries = append(rec.entries, recorded{
			method: strings.ToUpper(m[2]), uri: m[1] + m[3], status: status, resp: body,
		})
	}
	return rec, nil
}
