package audit

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// OCSF activity ids of API Activity (class 6003).
const (
	ocsfCreate = 1
	ocsfRead   = 2
	ocsfUpdate = 3
	ocsfDelete = 4
	ocsfOther  = 99
)

// ocsfActivity maps the last word of an action to an OCSF activity.
func ocsfActivity(action string) (int, string) {
	verb := action[strings.LastIndexByte(action, '.')+1:]
	switch verb {
	case "create", "write", "put", "keygen", "generate", "seal", "encrypt":
		return ocsfCreate, "Create"
	case "read", "get", "list", "verify", "check", "discover", "fetch":
		return ocsfRead, "Read"
	case "update", "set", "rotate", "promote", "stage", "finish", "annotate", "adopt", "rollback", "cutover":
		return ocsfUpdate, "Update"
	case "delete", "destroy", "purge", "prune":
		return ocsfDelete, "Delete"
	}
	return ocsfOther, "Other"
}

// OCSFEvent maps a record to an OCSF API Activity event (see the package documentation).
func OCSFEvent(r *Record, productVersion string) map[string]any {
	activity, activityName := ocsfActivity(r.Action)
	ev := map[string]any{
		"class_uid":     6003,
		"class_name":    "API Activity",
		"category_uid":  6,
		"category_name": "Application Activity",
		"activity_id":   activity,
		"activity_name": activityName,
		"type_uid":      600300 + activity,
		"type_name":     "API Activity: " + activityName,
		"time":          r.Time.UnixMilli(),
		"message":       r.Action + " " + string(r.Outcome) + refSuffix(r),
		"metadata": map[string]any{
			"version": OCSFVersion,
			"product": map[string]any{
				"name":        "secretshift",
				"vendor_name": "secretshift",
				"version":     productVersion,
			},
			"uid":             r.EventID,
			"correlation_uid": r.RunID,
			"sequence":        r.Seq,
			"original_time":   formatTime(r.Time),
			"event_code":      r.Action,
			"log_name":        "secretshift-audit",
		},
		"api": map[string]any{
			"operation": r.Action,
			"request":   map[string]any{"uid": r.EventID},
		},
	}
	switch r.Outcome {
	case OutcomeSuccess:
		ev["status_id"], ev["status"] = 1, "Success"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	case OutcomeFailure:
		ev["status_id"], ev["status"] = 2, "Failure"
		ev["severity_id"], ev["severity"] = 3, "Medium"
	case OutcomeAttempt:
		// The intent record written before an action; its success or failure follows.
		ev["status_id"], ev["status"] = 99, "Attempt"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	default:
		ev["status_id"], ev["status"] = 99, "Skipped"
		ev["severity_id"], ev["severity"] = 1, "Informational"
	}
	if r.ErrorClass != "" {
		ev["status_code"] = r.ErrorClass
	}
	if r.Error != "" {
		ev["status_detail"] = r.Error
	}

	actor := map[string]any{"app_name": "secretshift"}
	if name := actorName(r.Actor); name != "" {
		actor["user"] = map[string]any{"name": name}
	}
	ev["actor"] = actor
	src := map[string]any{"name": "secretshift"}
	if r.Actor != nil && r.Actor.Host != "" {
		src["hostname"] = r.Actor.Host
	}
	ev["src_endpoint"] = src
	if r.Target != nil && r.Target.Provider != "" {
		ev["api"].(map[string]any)["service"] = map[string]any{"name": r.Target.Provider}
	}

	var resources []any
	if s := r.Source; s != nil && s.Name != "" {
		res := map[string]any{"name": s.Ref(), "type": "kubernetes/Secret"}
		if s.UID != "" {
			res["uid"] = s.UID
		}
		resources = append(resources, res)
	}
	if t := r.Target; t != nil && t.Address != "" {
		res := map[string]any{"name": t.Address, "type": t.Provider}
		if t.Version != "" {
			res["data"] = map[string]any{"version": t.Version}
		}
		resources = append(resources, res)
	}
	if resources != nil {
		ev["resources"] = resources
	}

	unmapped := map[string]any{"prev": r.Prev, "hash": r.Hash}
	if r.Actor != nil {
		unmapped["actor"] = r.Actor
	}
	if r.Source != nil {
		unmapped["source"] = r.Source
	}
	if r.Target != nil {
		unmapped["target"] = r.Target
	}
	if len(r.Keys) > 0 {
		unmapped["keys"] = r.Keys
	}
	if len(r.Fingerprints) > 0 {
		unmapped["fingerprints"] = r.Fingerprints
	}
	if len(r.Details) > 0 {
		unmapped["details"] = r.Details
	}
	if r.Checkpoint != nil {
		unmapped["checkpoint"] = r.Checkpoint
	}
	ev["unmapped"] = unmapped
	return ev
}

// actorName picks the most specific identity: the CI user, then the Kubernetes user, a store
// identity's display name, and the OS user.
func actorName(a *Actor) string {
	if a == nil {
		return ""
	}
	if a.CI != nil && a.CI.Actor != "" {
		return a.CI.Actor
	}
	for _, s := range []string{a.KubeUser, a.storeDisplayName(), a.OSUser} {
		if s != "" {
			return s
		}
	}
	return ""
}

func refSuffix(r *Record) string {
	if r.Source != nil && r.Source.Name != "" {
		return " " + r.Source.Ref()
	}
	return ""
}

// CEFLine formats a record as one CEF line (see the package documentation for the mapping).
func CEFLine(r *Record, productVersion string) string {
	severity := "3"
	switch {
	case r.Outcome == OutcomeFailure:
		severity = "7"
	case r.Action == ActionCheckpoint:
		severity = "1"
	}
	var b strings.Builder
	b.WriteString("CEF:0|secretshift|secretshift|")
	b.WriteString(cefHeader(productVersion) + "|")
	b.WriteString(cefHeader(r.Action) + "|")
	b.WriteString(cefHeader(r.Action+" "+string(r.Outcome)+refSuffix(r)) + "|")
	b.WriteString(severity + "|")

	ext := [][2]string{
		{"rt", strconv.FormatInt(r.Time.UnixMilli(), 10)},
		{"externalId", r.EventID},
		{"act", r.Action},
		{"outcome", string(r.Outcome)},
		{"cs1Label", "run_id"}, {"cs1", r.RunID},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatUint(r.Seq, 10)},
	}
	if name := actorName(r.Actor); name != "" {
		ext = append(ext, [2]string{"suser", name})
	}
	if r.Actor != nil && r.Actor.Host != "" {
		ext = append(ext, [2]string{"shost", r.Actor.Host})
	}
	if r.ErrorClass != "" {
		ext = append(ext, [2]string{"reason", r.ErrorClass})
	}
	if r.Error != "" {
		ext = append(ext, [2]string{"msg", r.Error})
	}
	if s := r.Source; s != nil && s.Name != "" {
		ext = append(ext, [2]string{"cs2Label", "source"}, [2]string{"cs2", s.Ref()})
		if s.UID != "" {
			ext = append(ext, [2]string{"cs6Label", "source_uid"}, [2]string{"cs6", s.UID})
		}
	}
	if t := r.Target; t != nil && (t.Provider != "" || t.Address != "") {
		target := t.Provider + ":" + t.Address
		if t.Version != "" {
			target += "@" + t.Version
		}
		ext = append(ext, [2]string{"cs3Label", "target"}, [2]string{"cs3", target})
	}
	if len(r.Keys) > 0 {
		keys := slices.Clone(r.Keys)
		sort.Strings(keys)
		ext = append(ext, [2]string{"cs4Label", "keys"}, [2]string{"cs4", strings.Join(keys, ",")})
	}
	ext = append(ext, [2]string{"cs5Label", "hash"}, [2]string{"cs5", r.Hash})
	for i, kv := range ext {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0] + "=" + cefValue(kv[1]))
	}
	return b.String()
}

// cefHeader escapes a CEF header field: backslash and pipe are escaped; line breaks, which a
// header cannot hold, become spaces.
func cefHeader(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '|':
			b.WriteString(`\|`)
		case r == '\n' || r == '\r' || r < 0x20:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cefValue escapes a CEF extension value: backslash, equals sign and line breaks; other control
// characters become spaces.
func cefValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '=':
			b.WriteString(`\=`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
