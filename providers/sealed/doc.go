// Package sealed will write Bitnami SealedSecret manifests sealed with the controller's public
// certificate. It is not implemented yet and is not in the provider registry.
package sealed
