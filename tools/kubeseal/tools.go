//go:build tools

package tools

import _ "github.com/bitnami/sealed-secrets/cmd/kubeseal"
