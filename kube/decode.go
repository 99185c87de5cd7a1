package kube

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxSecretSize is the API server's limit on the total size of a Secret's values.
const MaxSecretSize = 1 << 20

// LastAppliedAnnotation is kubectl's copy of the last applied manifest. On a Secret it holds
// every value (base64 is not encryption), so it is dropped when a Secret is read.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// fieldError is one decoding failure, located by field and key, worded without the value.
type fieldError struct {
	key string
	msg string
}

// decodeSecret decodes a Secret manifest. It returns what it could decode (at least the
// name, when readable) together with every failure, so that all bad keys are named at once.
func decodeSecret(obj map[string]any) (*Secret, []fieldError) {
	s := &Secret{}
	errs := decodeSecretHead(s, obj)
	fail := func(key, format string, a ...any) {
		errs = append(errs, fieldError{key: key, msg: fmt.Sprintf(format, a...)})
	}

	data, bad := decodeValues(obj["data"], "data", func(v any) ([]byte, string) {
		enc, ok := v.(string)
		if !ok {
			return nil, "value must be a base64 string, got " + kindOf(v)
		}
		// encoding/json decodes []byte this way (newlines ignored), and so does the API server.
		b := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, err := base64.StdEncoding.Decode(b, []byte(enc))
		if err != nil {
			return nil, "value is not valid base64"
		}
		return b[:n:n], ""
	})
	errs = append(errs, bad...)
	strData, bad := decodeValues(obj["stringData"], "stringData", func(v any) ([]byte, string) {
		text, ok := v.(string)
		if !ok {
			return nil, "value must be a string, got " + kindOf(v)
		}
		return []byte(text), ""
	})
	errs = append(errs, bad...)

	// The API server writes stringData over data: a key in both keeps the stringData value.
	for k, v := range strData {
		if data == nil {
			data = Data{}
		}
		data[k] = v
	}
	s.Data = data
	if size := s.Data.Size(); size > MaxSecretSize {
		largest := ""
		for _, k := range s.Data.Keys() {
			if largest == "" || len(s.Data[k]) > len(s.Data[largest]) {
				largest = k
			}
		}
		fail(largest, "values total %d bytes, over the API server's limit of %d (largest key %q)", size, MaxSecretSize, largest)
	}
	if len(errs) > 0 {
		s.Data = nil
	}
	return s, errs
}

// decodeSecretHead fills what a Secret holds besides its values: metadata, type, immutable.
func decodeSecretHead(s *Secret, obj map[string]any) []fieldError {
	errs := decodeSecretMeta(s, obj["metadata"])
	if t, err := stringField(obj, "type"); err != nil {
		errs = append(errs, fieldError{msg: err.Error()})
	} else {
		s.Type = t
	}
	if v := obj["immutable"]; v != nil {
		b, ok := v.(bool)
		if !ok {
			errs = append(errs, fieldError{msg: "immutable: must be a boolean, got " + kindOf(v)})
		}
		s.Immutable = b
	}
	return errs
}

// decodeValues decodes the data or stringData map, checking each key name and value.
func decodeValues(raw any, field string, value func(v any) ([]byte, string)) (Data, []fieldError) {
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, []fieldError{{msg: fmt.Sprintf("%s: must be a map of keys to values, got %s", field, kindOf(raw))}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []fieldError
	out := make(Data, len(m))
	for _, k := range keys {
		if msgs := validation.IsConfigMapKey(k); len(msgs) > 0 {
			errs = append(errs, fieldError{key: k, msg: fmt.Sprintf("%s key %q: invalid key name: %s", field, k, strings.Join(msgs, "; "))})
			continue
		}
		if m[k] == nil {
			errs = append(errs, fieldError{key: k, msg: fmt.Sprintf("%s key %q: value is null", field, k)})
			continue
		}
		v, msg := value(m[k])
		if msg != "" {
			errs = append(errs, fieldError{key: k, msg: fmt.Sprintf("%s key %q: %s", field, k, msg)})
			continue
		}
		out[k] = v
	}
	return out, errs
}

// decodeSecretMeta fills the metadata of s, checking the type of every field it keeps.
func decodeSecretMeta(s *Secret, raw any) []fieldError {
	if raw == nil {
		return []fieldError{{msg: "metadata.name: required"}}
	}
	meta, ok := raw.(map[string]any)
	if !ok {
		return []fieldError{{msg: "metadata: must be an object, got " + kindOf(raw)}}
	}
	var errs []fieldError
	str := func(name string) string {
		v, err := stringField(meta, name)
		if err != nil {
			errs = append(errs, fieldError{msg: "metadata." + err.Error()})
		}
		return v
	}
	s.Name = str("name")
	s.Namespace = str("namespace")
	s.UID = str("uid")
	s.ResourceVersion = str("resourceVersion")
	if ts := str("creationTimestamp"); ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			errs = append(errs, fieldError{msg: "metadata.creationTimestamp: not an RFC 3339 time"})
		}
		s.Created = t
	}
	if s.Name == "" && len(errs) == 0 {
		errs = append(errs, fieldError{msg: "metadata.name: required (generateName cannot be referenced by workloads)"})
	}
	var bad []fieldError
	s.Labels, bad = stringMap(meta["labels"], "metadata.labels")
	errs = append(errs, bad...)
	s.Annotations, bad = stringMap(meta["annotations"], "metadata.annotations")
	errs = append(errs, bad...)
	delete(s.Annotations, LastAppliedAnnotation)
	if len(s.Annotations) == 0 {
		s.Annotations = nil
	}
	if raw := meta["ownerReferences"]; raw != nil {
		var owners []ownerReference
		if err := decodeInto(raw, &owners); err != nil {
			errs = append(errs, fieldError{msg: "metadata.ownerReferences: " + safeJSONError(err)})
		}
		s.Owners = ownersOf(owners)
	}
	return errs
}

// stringMap decodes labels or annotations: a map whose values are all strings.
func stringMap(raw any, field string) (map[string]string, []fieldError) {
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, []fieldError{{msg: fmt.Sprintf("%s: must be a map of strings, got %s", field, kindOf(raw))}}
	}
	out := make(map[string]string, len(m))
	var errs []fieldError
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			errs = append(errs, fieldError{msg: fmt.Sprintf("%s key %q: value must be a string, got %s", field, k, kindOf(v))})
			continue
		}
		out[k] = s
	}
	slices.SortFunc(errs, func(a, b fieldError) int { return strings.Compare(a.msg, b.msg) })
	return out, errs
}

// ownerReference is the part of an ownerReference secretshift reads.
type ownerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Controller *bool  `json:"controller"`
}

func ownersOf(refs []ownerReference) []Owner {
	var owners []Owner
	for _, r := range refs {
		owners = append(owners, Owner{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Controller: isTrue(r.Controller)})
	}
	return owners
}

// controllerOf returns the controlling owner, if any.
func controllerOf(refs []ownerReference) *ObjectRef {
	for _, r := range refs {
		if isTrue(r.Controller) {
			return &ObjectRef{Kind: r.Kind, Name: r.Name}
		}
	}
	return nil
}

// workloadMeta is the metadata a workload is reduced to.
type workloadMeta struct {
	Name            string           `json:"name"`
	Namespace       string           `json:"namespace"`
	OwnerReferences []ownerReference `json:"ownerReferences"`
}

// workloadGroups lists, per kind read as a consumer, the API groups it is served from (old
// extensions/v1beta1 manifests still circulate).
var workloadGroups = map[string][]string{
	KindPod:            {""},
	KindServiceAccount: {""},
	KindReplicaSet:     {"apps", "extensions"},
	KindDeployment:     {"apps", "extensions"},
	KindStatefulSet:    {"apps"},
	KindDaemonSet:      {"apps", "extensions"},
	KindJob:            {"batch"},
	KindCronJob:        {"batch"},
	KindIngress:        {"networking.k8s.io", "extensions"},
}

func isWorkloadKind(kind, group string) bool {
	return slices.Contains(workloadGroups[kind], group)
}

// decodeWorkload reduces a workload manifest to its Secret references. The returned Workload
// carries name and namespace even on error, for the message.
func decodeWorkload(kind string, tree map[string]any) (Workload, error) {
	var obj struct {
		Metadata workloadMeta `json:"metadata"`
		Spec     struct {
			podSpec
			Template struct {
				Spec podSpec `json:"spec"`
			} `json:"template"`
			JobTemplate struct {
				Spec struct {
					Template struct {
						Spec podSpec `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
			TLS []struct {
				SecretName string `json:"secretName"`
			} `json:"tls"`
		} `json:"spec"`
		ImagePullSecrets []localObjectRefer `json:"imagePullSecrets"`
	}
	err := decodeInto(tree, &obj)
	w := Workload{Kind: kind, Namespace: obj.Metadata.Namespace, Name: obj.Metadata.Name}
	if err != nil {
		return w, fmt.Errorf("malformed %s: %s", kind, safeJSONError(err))
	}
	if w.Name == "" {
		return w, fmt.Errorf("metadata.name: required")
	}
	w.Controller = controllerOf(obj.Metadata.OwnerReferences)
	var spec *podSpec
	switch kind {
	case KindPod:
		spec = &obj.Spec.podSpec
	case KindCronJob:
		spec = &obj.Spec.JobTemplate.Spec.Template.Spec
	case KindServiceAccount:
		for _, s := range obj.ImagePullSecrets {
			if s.Name != "" {
				w.References = append(w.References, Reference{Secret: s.Name, Use: Use{Via: ViaImagePullSecret}})
			}
		}
	case KindIngress:
		for _, t := range obj.Spec.TLS {
			if t.SecretName != "" {
				w.References = append(w.References, Reference{Secret: t.SecretName, Use: Use{Via: ViaIngressTLS}})
			}
		}
	default:
		spec = &obj.Spec.Template.Spec
	}
	if spec != nil {
		w.ServiceAccount = spec.serviceAccount()
		w.References = spec.references()
	}
	return w, nil
}
