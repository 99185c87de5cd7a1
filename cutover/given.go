package cutover

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/templates"
)

// givenIndex indexes the user's ExternalSecrets (Options.Given) by the Secret each makes
// (namespace/name) and returns what is wrong with the set: an object without a namespace, two
// ExternalSecrets making one Secret.
func givenIndex(m *templates.Manifests) (map[string]templates.Read[templates.ExternalSecret], []string) {
	byTarget := map[string]templates.Read[templates.ExternalSecret]{}
	var problems []string
	for _, g := range m.ExternalSecrets {
		es := g.Typed
		if es.Metadata.Namespace == "" {
			problems = append(problems, fmt.Sprintf("ExternalSecret %s (%s) has no namespace: give each object its namespace", es.Metadata.Name, g.Source))
			continue
		}
		ref := es.Metadata.Namespace + "/" + targetName(es)
		if prev, ok := byTarget[ref]; ok {
			problems = append(problems, fmt.Sprintf("two ExternalSecrets make the Secret %s: %s (%s) and %s (%s)", ref, prev.Typed.Metadata.Name, prev.Source, es.Metadata.Name, g.Source))
			continue
		}
		byTarget[ref] = g
	}
	return byTarget, problems
}

func targetName(es templates.ExternalSecret) string {
	if es.Spec.Target.Name != "" {
		return es.Spec.Target.Name
	}
	return es.Metadata.Name
}

// given takes the user's own objects (Options.Given) instead of the built ones. Each
// ExternalSecret must read exactly what the built one would — the copies just verified — with
// creationPolicy Owner and nothing that changes values; otherwise its Secret is refused. The
// stores they use must be in the manifests (for the same kind of store) or already in the
// cluster. Everything else in the user's objects (refresh interval, store names and auth,
// labels, deletion policy) is theirs and applied as written.
func given(ctx context.Context, todo []*item, built *templates.Objects, o *Options) (*objects, []*item, []string, error) {
	objs := &objects{owners: map[string]object[string]{}}
	want := map[string]templates.ExternalSecret{}
	for _, es := range built.ExternalSecrets {
		want[es.Metadata.Namespace+"/"+es.Metadata.Name] = es
	}
	var provider string // ESO's name of the store's provider: the key of the provider block
	for _, s := range built.Stores {
		for k := range s.Spec.Provider {
			provider = k
		}
	}
	stores := map[string]templates.Read[templates.SecretStore]{}
	var problems []string
	for _, s := range o.Given.Stores {
		key := storeKey(s.Typed.Kind, s.Typed.Metadata.Namespace, s.Typed.Metadata.Name)
		if prev, ok := stores[key]; ok {
			problems = append(problems, fmt.Sprintf("%s is in the manifests twice: %s and %s", key, prev.Source, s.Source))
		}
		stores[key] = s
	}
	used := map[string]bool{}
	var kept []*item
	for _, it := range todo {
		ref := it.src.Ref()
		g, ok := o.byTarget[ref]
		if !ok {
			it.report.Result, it.report.Reason = ResultSkipped, "no ExternalSecret of the manifests makes it"
			continue
		}
		name := g.Typed.Metadata.Name
		it.report.Owner = esoHandler.kind + "/" + name
		gvr, err := versioned(kube.ExternalSecretResource, g.Typed.APIVersion)
		if err == nil {
			err = readsTheCopy(g, want[ref])
		}
		if err != nil {
			it.report.Result, it.report.Reason = ResultRefused, fmt.Sprintf("the ExternalSecret %s (%s) %v", name, g.Source, err)
			continue
		}
		sr := g.Typed.Spec.SecretStoreRef
		ns := it.src.Namespace
		if sr.Kind == templates.KindClusterSecretStore {
			ns = ""
		}
		used[storeKey(sr.Kind, ns, sr.Name)] = true
		objs.owners[ref] = object[string]{typed: name, obj: g.Object, gvr: gvr}
		kept = append(kept, it)
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		s, ok := stores[key]
		if !ok {
			kind, rest, _ := strings.Cut(key, " ")
			ns, name, _ := strings.Cut(rest, "/")
			_, err := o.Cluster.Get(ctx, storeResource(kind), ns, name)
			switch {
			case apierrors.IsNotFound(err):
				problems = append(problems, fmt.Sprintf("the ExternalSecrets read %s, which is neither in the manifests nor in the cluster", key))
			case err != nil:
				problems = append(problems, fmt.Sprintf("read %s: %v", key, err))
			}
			continue
		}
		if keys := slices.Sorted(maps.Keys(s.Typed.Spec.Provider)); provider != "" && !slices.Equal(keys, []string{provider}) {
			problems = append(problems, fmt.Sprintf("%s (%s) is for ESO's %s provider, but the copies were verified in the %s store", key, s.Source, strings.Join(keys, ","), o.Provider.Name()))
			continue
		}
		gvr, err := versioned(storeResource(s.Typed.Kind), s.Typed.APIVersion)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", key, s.Source, err))
			continue
		}
		objs.stores = append(objs.stores, object[templates.SecretStore]{typed: s.Typed, obj: s.Object, gvr: gvr})
	}
	for _, sa := range o.Given.ServiceAccounts {
		objs.serviceAccounts = append(objs.serviceAccounts, object[templates.ObjectMeta]{typed: sa.Typed.Metadata, obj: sa.Object, gvr: serviceAccountResource})
	}
	return objs, kept, problems, nil
}

func storeKey(kind, namespace, name string) string {
	if kind == "" {
		kind = templates.KindSecretStore
	}
	if kind == templates.KindClusterSecretStore {
		return kind + " /" + name
	}
	return kind + " " + namespace + "/" + name
}

// versioned is gvr at the version of apiVersion, which must be in gvr's group and one ESO
// serves (v1, or v1beta1 before it).
func versioned(gvr schema.GroupVersionResource, apiVersion string) (schema.GroupVersionResource, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Group != gvr.Group || (gv.Version != "v1" && gv.Version != "v1beta1") {
		return gvr, fmt.Errorf("has apiVersion %q: want %s/v1 (or v1beta1)", apiVersion, gvr.Group)
	}
	gvr.Version = gv.Version
	return gvr, nil
}

// remoteRef is an ExternalSecret's spec.data[].remoteRef with every field that changes what is
// read, defaults filled in.
type remoteRef struct {
	Key                string `json:"key"`
	Property           string `json:"property,omitempty"`
	Version            string `json:"version,omitempty"`
	ConversionStrategy string `json:"conversionStrategy,omitempty"`
	DecodingStrategy   string `json:"decodingStrategy,omitempty"`
	MetadataPolicy     string `json:"metadataPolicy,omitempty"`
}

type dataEntry struct {
	SecretKey string    `json:"secretKey"`
	RemoteRef remoteRef `json:"remoteRef"`
}

func (r remoteRef) canonical() remoteRef {
	r.ConversionStrategy = orDefault(r.ConversionStrategy, "Default")
	r.DecodingStrategy = orDefault(r.DecodingStrategy, "None")
	r.MetadataPolicy = orDefault(r.MetadataPolicy, "None")
	return r
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// readsTheCopy says why g would not make the Secret from the verified copy the way want (the
// ExternalSecret cutover would make) does; nil when it would.
func readsTheCopy(g templates.Read[templates.ExternalSecret], want templates.ExternalSecret) error {
	t := g.Typed.Spec.Target
	if p := t.CreationPolicy; p != "" && p != "Owner" {
		return fmt.Errorf("has creationPolicy %s: ESO adopts an existing Secret only with Owner", p)
	}
	spec, _ := g.Object["spec"].(map[string]any)
	if _, ok := spec["dataFrom"]; ok {
		return fmt.Errorf("uses dataFrom: cutover checks key by key that ESO reads the verified copy; list the keys under data, as migrate --manifests writes them")
	}
	if target, _ := spec["target"].(map[string]any); target != nil {
		if tpl, _ := target["template"].(map[string]any); tpl != nil {
			for _, f := range []string{"data", "templateFrom"} {
				if _, ok := tpl[f]; ok {
					return fmt.Errorf("has target.template.%s: it changes the values ESO writes, so the Secret's bytes would change", f)
				}
			}
		}
	}
	gotType, wantType := "Opaque", "Opaque"
	if t.Template != nil && t.Template.Type != "" {
		gotType = t.Template.Type
	}
	if wt := want.Spec.Target.Template; wt != nil && wt.Type != "" {
		wantType = wt.Type
	}
	if gotType != wantType {
		return fmt.Errorf("makes a Secret of type %s, the live one is %s", gotType, wantType)
	}
	var got []dataEntry
	if raw, ok := spec["data"]; ok {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &got); err != nil {
			return fmt.Errorf("spec.data: %v", err)
		}
	}
	gotBy := map[string]remoteRef{}
	for _, d := range got {
		gotBy[d.SecretKey] = d.RemoteRef.canonical()
	}
	wantBy := map[string]remoteRef{}
	for _, d := range want.Spec.Data {
		r := d.RemoteRef
		wantBy[d.SecretKey] = remoteRef{Key: r.Key, Property: r.Property, ConversionStrategy: r.ConversionStrategy, DecodingStrategy: r.DecodingStrategy, MetadataPolicy: r.MetadataPolicy}.canonical()
	}
	var missing, extra, other []string
	for k, w := range wantBy {
		gr, ok := gotBy[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case gr != w:
			other = append(other, k)
		}
	}
	for k := range gotBy {
		if _, ok := wantBy[k]; !ok {
			extra = append(extra, k)
		}
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"does not make the keys", missing}, {"makes keys the Secret does not have", extra}, {"reads other remote values than the verified copy for", other}} {
		if len(p.keys) > 0 {
			slices.Sort(p.keys)
			parts = append(parts, p.what+" "+strings.Join(p.keys, ","))
		}
	}
	if len(parts) > 0 {
		return fmt.Errorf("%s", strings.Join(parts, "; "))
	}
	return nil
}
