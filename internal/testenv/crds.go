package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdEstablishTimeout bounds the wait for the apiserver to serve newly installed CRDs.
const crdEstablishTimeout = 60 * time.Second

// InstallCRDs creates (or updates) every CustomResourceDefinition in the .yaml, .yml and .json
// files of dir, such as SharedDir()/corpus/eso-crds, and waits until all are Established.
// Documents of other kinds are ignored.
func InstallCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	crds, err := readCRDs(dir)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	client := dyn.Resource(crdResource)
	for _, crd := range crds {
		if err := applyCRD(ctx, client, crd); err != nil {
			return err
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, client, crd.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// readCRDs decodes the CRD documents of the files in dir, in file name order.
func readCRDs(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read crd dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	var crds []*unstructured.Unstructured
	for _, name := range names {
		path := filepath.Join(dir, name)
		docs, err := decodeDocuments(path)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, d)
			}
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinition in %s", dir)
	}
	return crds, nil
}

func decodeDocuments(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64*1024)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

func applyCRD(ctx context.Context, client dynamic.NamespaceableResourceInterface, crd *unstructured.Unstructured) error {
	_, err := client.Create(ctx, crd, metav1.CreateOptions{FieldManager: "secretshift-testenv"})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create crd %s: %w", crd.GetName(), err)
	}
	current, err := client.Get(ctx, crd.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get crd %s: %w", crd.GetName(), err)
	}
	crd = crd.DeepCopy()
	crd.SetResourceVersion(current.GetResourceVersion())
	if _, err := client.Update(ctx, crd, metav1.UpdateOptions{FieldManager: "secretshift-testenv"}); err != nil {
		return fmt.Errorf("update crd %s: %w", crd.GetName(), err)
	}
	return nil
}

// waitEstablished waits for the Established condition of CRD name.
func waitEstablished(ctx context.Context, client dynamic.NamespaceableResourceInterface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, crdEstablishTimeout)
	defer cancel()
	for {
		obj, err := client.Get(ctx, name, metav1.GetOptions{})
		if err == nil && conditionTrue(obj, "Established") {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("condition Established is not True")
			}
			return fmt.Errorf("wait for crd %s: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func conditionTrue(obj *unstructured.Unstructured, condType string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == condType && m["status"] == "True" {
			return true
		}
	}
	return false
}
