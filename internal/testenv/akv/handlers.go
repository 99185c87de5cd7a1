package akv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

const (
	// MaxValueBytes is the largest secret value the service stores: 25 KB.
	MaxValueBytes = 25 * 1024
	// MaxTags is the most tags a secret version may carry.
	MaxTags = 15
	// maxBodyBytes bounds request bodies; a value at the limit, JSON-escaped, fits easily.
	maxBodyBytes = 1 << 20
)

// validName is a Key Vault object name (REST "Set Secret" page: 1–127 of 0-9, a-z, A-Z, -).
var validName = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// route dispatches an authenticated vault request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	// Split the escaped path: a name with an escaped "/" is one (invalid) name, not two
	// segments.
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		if u, err := url.PathUnescape(seg); err == nil {
			segs[i] = u
		}
	}
	// A trailing slash means "latest" (GET /secrets/{name}/) or "all" (GET /secrets/).
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	m := r.Method
	switch {
	case segs[0] == "secrets" && len(segs) == 1:
		if m != http.MethodGet {
			writeError(w, errMethodNotAllowed(m))
			return
		}
		s.listSecrets(w, r)
	case segs[0] == "secrets" && len(segs) == 2 && segs[1] == "restore" && m == http.MethodPost:
		s.restoreSecret(w, r)
	case segs[0] == "secrets" && len(segs) <= 3:
		name := segs[1]
		if !validName.MatchString(name) {
			writeError(w, errInvalidName(name))
			return
		}
		rest := ""
		if len(segs) == 3 {
			rest = segs[2]
		}
		switch {
		case rest == "" && m == http.MethodPut:
			s.setSecret(w, r, name)
		case rest == "" && m == http.MethodDelete:
			s.deleteSecret(w, r, name)
		case rest == "versions" && m == http.MethodGet:
			s.listVersions(w, r, name)
		case rest == "backup" && m == http.MethodPost:
			s.backupSecret(w, r, name)
		case m == http.MethodGet:
			s.getSecret(w, r, name, rest)
		case m == http.MethodPatch:
			s.updateSecret(w, r, name, rest)
		default:
			writeError(w, errMethodNotAllowed(m))
		}
	case segs[0] == "deletedsecrets" && len(segs) == 1:
		if m != http.MethodGet {
			writeError(w, errMethodNotAllowed(m))
			return
		}
		s.listDeleted(w, r)
	case segs[0] == "deletedsecrets" && len(segs) <= 3:
		name := segs[1]
		if !validName.MatchString(name) {
			writeError(w, errInvalidName(name))
			return
		}
		switch {
		case len(segs) == 2 && m == http.MethodGet:
			s.getDeleted(w, r, name)
		case len(segs) == 2 && m == http.MethodDelete:
			s.purgeSecret(w, name)
		case len(segs) == 3 && segs[2] == "recover" && m == http.MethodPost:
			s.recoverSecret(w, r, name)
		default:
			writeError(w, errMethodNotAllowed(m))
		}
	default:
		writeError(w, errNotImplemented(m, r.URL.Path))
	}
}

// readJSON decodes the request body into v.
func readJSON(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return badParameter("The request body could not be read.")
	}
	if len(body) > maxBodyBytes {
		return badParameter(fmt.Sprintf("The request body is larger than %d bytes.", maxBodyBytes))
	}
	if len(body) == 0 {
		return badParameter("The request body is empty.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		// The decoder's message may quote the body, and so a value: name the problem only.
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return badParameter("The request body has a wrong type for property '" + typeErr.Field + "'.")
		}
		return badParameter("The request body is not valid JSON.")
	}
	return nil
}

// checkTags enforces the documented tag count limit.
func checkTags(tags *map[string]string) *apiError {
	if tags != nil && len(*tags) > MaxTags {
		return badParameter(fmt.Sprintf("A secret may have at most %d tags; the request has %d.", MaxTags, len(*tags)))
	}
	return nil
}

func (s *Server) setSecret(w http.ResponseWriter, r *http.Request, name string) {
	var in setIn
	if e := readJSON(r, &in); e != nil {
		writeError(w, e)
		return
	}
	if in.Value == nil {
		writeError(w, badParameter("The request body is missing the required property 'value'."))
		return
	}
	if n := len(*in.Value); n > MaxValueBytes {
		writeError(w, badParameter(fmt.Sprintf("The secret value is %d bytes; the service stores at most %d bytes (25 KB).", n, MaxValueBytes)))
		return
	}
	if e := checkTags(in.Tags); e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	sec, ver, e := s.store.set(name, in, time.Now())
	var out bundleJSON
	if e == nil {
		out = s.bundle(r, sec, ver)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, name, v string) {
	s.mu.Lock()
	sec, ver, e := s.store.activeVersion(name, v)
	var out bundleJSON
	switch {
	case e != nil:
	case !ver.enabled:
		e = errDisabled()
	case r.URL.Query().Has("outContentType"):
		// Only PFX secrets (certificates) convert to PEM, and this server holds none.
		e = errPEMTransform()
	default:
		out = s.bundle(r, sec, ver)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) updateSecret(w http.ResponseWriter, r *http.Request, name, v string) {
	var in updateIn
	if e := readJSON(r, &in); e != nil {
		writeError(w, e)
		return
	}
	if e := checkTags(in.Tags); e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	sec, ver, e := s.store.update(name, v, in, time.Now())
	var out propsJSON
	if e == nil {
		out = s.props(r, sec, ver, true)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	sec, e := s.store.remove(name, s.softDelete, s.recoverableDays, s.lag, time.Now())
	var out any
	if e == nil {
		if s.softDelete {
			out = s.deletedBundle(r, sec, true)
		} else {
			out = s.props(r, sec, sec.latest(), true)
		}
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) getDeleted(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	sec, e := s.store.deleted(name)
	var out deletedJSON
	if e == nil {
		out = s.deletedBundle(r, sec, true)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) recoverSecret(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	sec, e := s.store.recover(name, s.lag)
	var out propsJSON
	if e == nil {
		out = s.props(r, sec, sec.latest(), true)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

func (s *Server) purgeSecret(w http.ResponseWriter, name string) {
	s.mu.Lock()
	e := s.store.purgeDeleted(name, s.lag)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	writeNoContent(w)
}

func (s *Server) backupSecret(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	sec, e := s.store.active(name)
	var blob string
	if e == nil {
		blob, e = s.backup.seal(sec)
	}
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, backupJSON{Value: blob})
}

func (s *Server) restoreSecret(w http.ResponseWriter, r *http.Request) {
	var in restoreIn
	if e := readJSON(r, &in); e != nil {
		writeError(w, e)
		return
	}
	if in.Value == nil {
		writeError(w, badParameter("The request body is missing the required property 'value'."))
		return
	}
	sec, e := s.backup.open(*in.Value)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	e = s.store.restore(sec, func(sec *secret) string { return s.secretID(r, sec.name, sec.latest().id) })
	var out propsJSON
	if e == nil {
		out = s.props(r, sec, sec.latest(), true)
	}
	s.mu.Unlock()
	reply(w, out, e)
}

// Rendering. Ids carry the host the client addressed, as the service's do.

func (s *Server) base(r *http.Request) string { return "https://" + r.Host }

func (s *Server) secretID(r *http.Request, name, v string) string {
	id := s.base(r) + "/secrets/" + name
	if v != "" {
		id += "/" + v
	}
	return id
}

func (s *Server) attributes(ver *version) attributesJSON {
	a := attributesJSON{
		Enabled: ver.enabled, NotBefore: ver.nbf, Expires: ver.exp,
		Created: ver.created, Updated: ver.updated,
	}
	switch {
	case !s.softDelete:
		a.RecoveryLevel = "Purgeable"
	case s.recoverableDays < 90:
		a.RecoveryLevel = "CustomizedRecoverable+Purgeable"
	default:
		a.RecoveryLevel = "Recoverable+Purgeable"
	}
	if s.softDelete {
		days := s.recoverableDays
		a.RecoverableDays = &days
	}
	return a
}

func tagsJSON(t map[string]string) *map[string]string {
	if t == nil {
		return nil
	}
	return &t
}

func (s *Server) bundle(r *http.Request, sec *secret, ver *version) bundleJSON {
	return bundleJSON{
		Value: ver.value, ContentType: ver.contentType, ID: s.secretID(r, sec.name, ver.id),
		Attributes: s.attributes(ver), Tags: tagsJSON(ver.tags),
	}
}

// props renders ver without its value; withVersion false gives the id a list of secrets shows.
func (s *Server) props(r *http.Request, sec *secret, ver *version, withVersion bool) propsJSON {
	v := ""
	if withVersion {
		v = ver.id
	}
	return propsJSON{
		ContentType: ver.contentType, ID: s.secretID(r, sec.name, v),
		Attributes: s.attributes(ver), Tags: tagsJSON(ver.tags),
	}
}

// deletedBundle renders the soft-deleted sec by its latest version.
func (s *Server) deletedBundle(r *http.Request, sec *secret, withVersion bool) deletedJSON {
	p := s.props(r, sec, sec.latest(), withVersion)
	return deletedJSON{
		RecoveryID:  s.base(r) + "/deletedsecrets/" + sec.name,
		DeletedDate: sec.deletedDate, ScheduledPurgeDate: sec.purge,
		ContentType: p.ContentType, ID: p.ID, Attributes: p.Attributes, Tags: p.Tags,
	}
}
