package cutover

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// ControllerSealed is the value of AnnotationCutover for the sealed-secrets controller.
const ControllerSealed = "sealed-secrets"

// handler is what differs between the controllers a Secret is handed to: the object that comes
// to own it, the condition that says the controller synced it, and what the live Secret needs
// before that controller takes it over.
type handler struct {
	// controller is the value of AnnotationCutover.
	controller string
	// kind and group of the owning object; resource is its API resource.
	kind, group string
	resource    schema.GroupVersionResource
	// condition is the owning object's status condition that says it synced the Secret.
	condition string
	// adopt are the annotations the live Secret needs before the controller takes it over.
	adopt map[string]string
	// what names the controller in messages, selector its Deployment.
	what, selector string
}

var (
	esoHandler = &handler{controller: ControllerESO, kind: "ExternalSecret", group: "external-secrets.io", resource: kube.ExternalSecretResource,
		condition: "Ready", what: "ESO controller", selector: kube.ESOControllerSelector}
	// The sealed-secrets controller takes over an existing Secret only when it carries
	// sealedsecrets.bitnami.com/managed: "true" (its controller.go: a Secret not owned by the
	// SealedSecret and without that annotation is left alone, the SealedSecret not Synced).
	sealedHandler = &handler{controller: ControllerSealed, kind: "SealedSecret", group: "bitnami.com", resource: kube.SealedSecretResource,
		condition: "Synced", adopt: map[string]string{kube.SealedManagedAnnotation: "true"}, what: "sealed-secrets controller", selector: kube.SealedControllerSelector}
	handlers = []*handler{esoHandler, sealedHandler}
)

// handlerFor picks the controller p's copies are handed to: ESO for stores it can read, the
// sealed-secrets controller for SealedSecrets.
func handlerFor(p providers.Provider) (*handler, error) {
	if _, ok := p.(providers.ExternalReader); ok {
		return esoHandler, nil
	}
	if _, ok := p.(providers.ClusterObjecter); ok {
		return sealedHandler, nil
	}
	return nil, fmt.Errorf("no controller in the cluster reads the %s store: no cut-over to it", p.Name())
}

// owns reports whether ref is this handler's kind of owner.
func (h *handler) owns(apiVersion, kind string) bool {
	return kind == h.kind && strings.HasPrefix(apiVersion, h.group+"/")
}

// installed checks that the API server serves the handler's resources.
func (h *handler) installed(ctx context.Context, c *kube.Cluster, cluster bool) error {
	if h == sealedHandler {
		return c.SealedSecretsInstalled(ctx)
	}
	return c.ESOInstalled(ctx, cluster)
}

// handlerOf returns the handler whose kind owns refs' controller, if any.
func handlerOf(refs []metav1.OwnerReference) (*handler, *metav1.OwnerReference) {
	ctl := kube.ControllerOf(refs)
	if ctl == nil {
		return nil, nil
	}
	for _, h := range handlers {
		if h.owns(ctl.APIVersion, ctl.Kind) {
			return h, ctl
		}
	}
	return nil, ctl
}
