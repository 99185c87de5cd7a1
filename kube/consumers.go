package kube

import (
	"cmp"
	"slices"
)

// Consumer is a top-level workload (Deployment, StatefulSet, DaemonSet, CronJob, Job, bare Pod,
// ServiceAccount, Ingress) that uses a Secret, with every way it does.
type Consumer struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Uses []Use  `json:"uses"`
}

// Ref returns the consumer as Kind/Name.
func (c Consumer) Ref() ObjectRef { return ObjectRef{Kind: c.Kind, Name: c.Name} }

// Kinds of MissingRef.
const (
	// MissingSecret: no Secret of that name exists in the namespace.
	MissingSecret = "secret-not-found"
	// MissingKey: the Secret exists but lacks the referenced key.
	MissingKey = "key-not-found"
)

// MissingRef is a reference to a Secret, or a key of one, that does not exist. With
// Use.Optional set the workload still starts; otherwise it fails (or, for an image pull
// secret or Ingress TLS, degrades).
type MissingRef struct {
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
	// Problem is MissingSecret or MissingKey.
	Problem  string    `json:"problem"`
	Consumer ObjectRef `json:"consumer"`
	Use
}

// secretIndex maps namespace/name of every existing Secret to its key names; a nil set means
// the keys are unknown (the Secret could not be decoded).
type secretIndex map[string]map[string]bool

func newSecretIndex(inv *Inventory) secretIndex {
	ix := make(secretIndex, len(inv.Secrets)+len(inv.Others))
	for _, s := range inv.Secrets {
		ix.add(s.Namespace, s.Name, s.KeyNames())
	}
	for _, o := range inv.Others {
		ix.add(o.Namespace, o.Name, o.Keys)
	}
	return ix
}

func (ix secretIndex) add(ns, name string, keys []string) {
	var set map[string]bool
	if keys != nil {
		set = make(map[string]bool, len(keys))
		for _, k := range keys {
			set[k] = true
		}
	}
	ix[ns+"/"+name] = set
}

// FindConsumers returns, for each Secret (by "namespace/name"), the top-level workloads that
// reference it, and every reference to a Secret or key that exists nowhere in inv. A Pod is
// attributed to its top-level controller (Pod → ReplicaSet → Deployment, Pod → Job → CronJob)
// as far as inv holds the owners, and inherits its ServiceAccount's imagePullSecrets.
func FindConsumers(inv *Inventory) (map[string][]Consumer, []MissingRef) {
	return findConsumers(inv.Workloads, newSecretIndex(inv))
}

type usage struct {
	ns, secret string
	consumer   ObjectRef
	use        Use
}

func findConsumers(workloads []Workload, ix secretIndex) (map[string][]Consumer, []MissingRef) {
	byKey := make(map[string]*Workload, len(workloads))
	key := func(ns, kind, name string) string { return ns + "/" + kind + "/" + name }
	for i := range workloads {
		w := &workloads[i]
		byKey[key(w.Namespace, w.Kind, w.Name)] = w
	}
	top := func(w *Workload) ObjectRef {
		// Bounded: a cycle of ownerReferences is invalid but must not hang discovery.
		for range 8 {
			if w.Controller == nil {
				break
			}
			next, ok := byKey[key(w.Namespace, w.Controller.Kind, w.Controller.Name)]
			if !ok {
				return *w.Controller
			}
			w = next
		}
		return ObjectRef{Kind: w.Kind, Name: w.Name}
	}

	seen := map[usage]bool{}
	var usages []usage
	record := func(u usage) {
		if !seen[u] {
			seen[u] = true
			usages = append(usages, u)
		}
	}
	for i := range workloads {
		w := &workloads[i]
		if len(w.References) == 0 && w.ServiceAccount == "" {
			continue
		}
		owner := top(w)
		for _, r := range w.References {
			record(usage{ns: w.Namespace, secret: r.Secret, consumer: owner, use: r.Use})
		}
		if w.ServiceAccount == "" {
			continue
		}
		if sa, ok := byKey[key(w.Namespace, KindServiceAccount, w.ServiceAccount)]; ok {
			for _, r := range sa.References {
				record(usage{ns: w.Namespace, secret: r.Secret, consumer: owner, use: Use{
					Via: ViaServiceAccountImagePullSecret, ServiceAccount: sa.Name}})
			}
		}
	}

	grouped := map[string]map[ObjectRef][]Use{}
	var missing []MissingRef
	for _, u := range usages {
		ref := u.ns + "/" + u.secret
		keys, exists := ix[ref]
		switch {
		case !exists:
			missing = append(missing, MissingRef{Namespace: u.ns, Secret: u.secret, Problem: MissingSecret, Consumer: u.consumer, Use: u.use})
			continue
		case keys != nil && u.use.Key != "" && !keys[u.use.Key]:
			missing = append(missing, MissingRef{Namespace: u.ns, Secret: u.secret, Problem: MissingKey, Consumer: u.consumer, Use: u.use})
		}
		if grouped[ref] == nil {
			grouped[ref] = map[ObjectRef][]Use{}
		}
		grouped[ref][u.consumer] = append(grouped[ref][u.consumer], u.use)
	}

	out := make(map[string][]Consumer, len(grouped))
	for ref, byConsumer := range grouped {
		cs := make([]Consumer, 0, len(byConsumer))
		for c, uses := range byConsumer {
			slices.SortFunc(uses, compareUse)
			cs = append(cs, Consumer{Kind: c.Kind, Name: c.Name, Uses: uses})
		}
		slices.SortFunc(cs, func(a, b Consumer) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
		})
		out[ref] = cs
	}
	slices.SortFunc(missing, func(a, b MissingRef) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret),
			cmp.Compare(a.Consumer.Kind, b.Consumer.Kind), cmp.Compare(a.Consumer.Name, b.Consumer.Name),
			compareUse(a.Use, b.Use))
	})
	return out, missing
}

func compareUse(a, b Use) int {
	return cmp.Or(cmp.Compare(a.Via, b.Via), cmp.Compare(a.Container, b.Container), cmp.Compare(a.Volume, b.Volume),
		cmp.Compare(a.Env, b.Env), cmp.Compare(a.ServiceAccount, b.ServiceAccount), cmp.Compare(a.Key, b.Key),
		cmpBool(a.Optional, b.Optional))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
