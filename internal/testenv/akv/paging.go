package akv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxPageSize is the service's largest (and default) page of a list.
const MaxPageSize = 25

// A $skiptoken, as the recordings show it (AKV-SHAPES.md, B:TestGetPropertiesOfSecret), is
// base64url of {"NextMarker":"2!<n>!<inner>","TargetLocation":0}, where inner is standard
// base64 (with '=' written '-') of "<len6>!<marker>!000028!9999-12-31T23:59:59.9999999Z!"
// and n is len(inner). The marker names the first item of the next page: "secret/NAME" with
// the name upper-cased. Tokens the service issued for secret lists decode here too.

const markerTime = "9999-12-31T23:59:59.9999999Z"

func encodeSkipToken(marker string) string {
	plain := fmt.Sprintf("%06d!%s!%06d!%s!", len(marker), marker, len(markerTime), markerTime)
	inner := strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(plain)), "=", "-")
	outer, _ := json.Marshal(struct {
		NextMarker     string
		TargetLocation int
	}{fmt.Sprintf("2!%d!%s", len(inner), inner), 0})
	return base64.RawURLEncoding.EncodeToString(outer)
}

func decodeSkipToken(tok string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(tok, "=")); err != nil {
			return "", false
		}
	}
	var outer struct{ NextMarker string }
	if json.Unmarshal(raw, &outer) != nil {
		return "", false
	}
	parts := strings.SplitN(outer.NextMarker, "!", 3)
	if len(parts) != 3 {
		return "", false
	}
	plain, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(parts[2], "-", "="))
	if err != nil {
		return "", false
	}
	lenField, rest, ok := strings.Cut(string(plain), "!")
	n, err := strconv.Atoi(lenField)
	if !ok || err != nil || n < 0 || n > len(rest) {
		return "", false
	}
	return rest[:n], true
}

// pageRequest is what a list request asks for.
type pageRequest struct {
	size      int    // items per page
	sizeGiven bool   // maxresults was in the query (and goes into the nextLink)
	from      string // marker of the first item, "" for the first page
}

func parsePageRequest(q url.Values) (pageRequest, *apiError) {
	p := pageRequest{size: MaxPageSize}
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			// Only client-side checks of this limit are on record; the wording is ours.
			return p, badParameter(fmt.Sprintf("The value of 'maxresults' must be an integer from 1 to %d; got %q.", MaxPageSize, v))
		}
		p.size, p.sizeGiven = n, true
	}
	if tok, ok := q["$skiptoken"]; ok {
		m, valid := decodeSkipToken(tok[0])
		if !valid {
			return p, badParameter("The '$skiptoken' query parameter is not valid.")
		}
		p.from = m
	}
	return p, nil
}

// page cuts one page out of items, which are sorted by marker, and renders its nextLink.
func page[T any](r *http.Request, p pageRequest, items []T, marker func(T) string, render func(T) any) listJSON {
	start, _ := slices.BinarySearchFunc(items, p.from, func(it T, m string) int { return strings.Compare(marker(it), m) })
	out := listJSON{Value: []any{}}
	end := min(start+p.size, len(items))
	for _, it := range items[start:end] {
		out.Value = append(out.Value, render(it))
	}
	if end < len(items) {
		host := r.Host
		if !strings.Contains(host, ":") {
			host += ":443" // the service's nextLinks name the port
		}
		link := "https://" + host + r.URL.Path + "?api-version=" + url.QueryEscape(r.URL.Query().Get("api-version")) +
			"&$skiptoken=" + encodeSkipToken(marker(items[end]))
		if p.sizeGiven {
			link += "&maxresults=" + strconv.Itoa(p.size)
		}
		out.NextLink = &link
	}
	return out
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	p, e := parsePageRequest(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	items := s.store.sorted(func(sec *secret) bool { return !sec.deleted })
	out := page(r, p, items,
		func(sec *secret) string { return "secret/" + fold(sec.name) },
		func(sec *secret) any { return s.props(r, sec, sec.latest(), false) })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// listVersions lists the versions of name, ordered by version id as the service does. A name
// that does not exist lists nothing (not on record).
func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, name string) {
	p, e := parsePageRequest(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	var vers []*version
	sec := s.store.byKey[fold(name)]
	if sec != nil && !sec.deleted {
		vers = slices.Clone(sec.versions)
		slices.SortFunc(vers, func(a, b *version) int { return strings.Compare(a.id, b.id) })
	}
	out := page(r, p, vers,
		func(v *version) string { return "secret/" + fold(sec.name) + "/" + strings.ToUpper(v.id) },
		func(v *version) any { return s.props(r, sec, v, true) })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listDeleted(w http.ResponseWriter, r *http.Request) {
	p, e := parsePageRequest(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	items := s.store.sorted(func(sec *secret) bool { return sec.deleted })
	out := page(r, p, items,
		func(sec *secret) string { return "deletedsecret/" + fold(sec.name) },
		func(sec *secret) any { return s.deletedBundle(r, sec, false) })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
