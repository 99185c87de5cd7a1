// Package azurekv will store Secrets in Azure Key Vault through the azsecrets SDK. It is not
// implemented yet and is not in the provider registry.
package azurekv
