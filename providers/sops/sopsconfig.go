package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configName is the file sops looks for, from the working directory upwards.
const configName = ".sops.yaml"

// rulePathRegex matches the files this provider writes, relative to the folder of .sops.yaml
// (sops strips that folder from the path before matching): <namespace>/<name>.yaml, with either
// separator so the rule also works for sops on Windows.
const rulePathRegex = `^[a-z0-9][-a-z0-9]*[/\\][^/\\]+\.yaml$`

// ruleComment introduces the rule in .sops.yaml, for the person who reads it later.
const ruleComment = "Kubernetes Secret manifests written by secretshift (<namespace>/<name>.yaml)"

// Recipient fields of a creation rule this provider owns in its own rule. Other fields a person
// adds to that rule (kms, gcp_kms, mac_only_encrypted, ...) are left alone.
const (
	fieldAge   = "age"
	fieldPGP   = "pgp"
	fieldVault = "hc_vault_transit_uri"
	fieldAzure = "azure_keyvault"
)

// ruleField is one key of our creation rule; an empty value means the key must be absent.
type ruleField struct{ key, value string }

// ruleFields is the creation rule matching what Write encrypts to, in a stable order.
// Recipients are comma-separated strings, the form every sops 3.x release reads.
func (r recipients) ruleFields() []ruleField {
	az := make([]string, len(r.azure))
	for i, a := range r.azure {
		az[i] = a.url
	}
	return []ruleField{
		{"path_regex", rulePathRegex},
		{"encrypted_regex", encryptedRegex},
		{fieldAge, strings.Join(r.age, ",")},
		{fieldPGP, strings.Join(r.pgp, ",")},
		{fieldVault, strings.Join(r.vault, ",")},
		{fieldAzure, strings.Join(az, ",")},
	}
}

// sopsConfig is a parsed .sops.yaml; yaml.v3 nodes keep comments, key order and unknown fields.
type sopsConfig struct {
	doc   *yaml.Node // document node
	rules *yaml.Node // creation_rules sequence; nil when absent
}

// parseSopsConfig parses a .sops.yaml without changing it. It refuses shapes it could not
// merge into without losing something: several documents, or a root or creation_rules that
// are not what sops expects.
func parseSopsConfig(b []byte) (*sopsConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one YAML document")
	}
	if doc.Kind == 0 {
		// Empty, or comments only: yaml.v3 drops such comments, so carry them over by hand.
		doc = yaml.Node{Kind: yaml.DocumentNode, HeadComment: strings.TrimSpace(string(b))}
	}
	c := &sopsConfig{doc: &doc}
	if len(doc.Content) == 0 {
		return c, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("is not a YAML mapping")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "creation_rules" {
			continue
		}
		v := root.Content[i+1]
		switch {
		case v.Kind == yaml.SequenceNode:
			c.rules = v
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			// "creation_rules:" with nothing under it; replaced by a list on merge.
		default:
			return nil, errors.New("creation_rules is not a list")
		}
	}
	return c, nil
}

// merge makes sure the config holds our rule with the given fields. It returns whether anything
// changed and the index of our rule. An existing rule with our path_regex is ours: its recipient
// fields are updated in place. Otherwise the rule is appended, after every existing rule, so
// that no file another rule already covers changes recipients; a rule that comes first and also
// matches our files is reported by shadows.
func (c *sopsConfig) merge(fields []ruleField) (changed bool, index int) {
	if c.rules == nil {
		if len(c.doc.Content) == 0 || c.doc.Content[0].Kind != yaml.MappingNode {
			c.doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
		}
		root := c.doc.Content[0]
		c.rules = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		replaced := false
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "creation_rules" {
				root.Content[i+1] = c.rules
				replaced = true
			}
		}
		if !replaced {
			root.Content = append(root.Content, scalar("creation_rules"), c.rules)
		}
		changed = true
	}
	for i, r := range c.rules.Content {
		if r.Kind == yaml.MappingNode && ruleValue(r, "path_regex") == rulePathRegex {
			return updateRule(r, fields) || changed, i
		}
	}
	r := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: ruleComment}
	for _, f := range fields {
		if f.value != "" {
			r.Content = append(r.Content, scalar(f.key), scalar(f.value))
		}
	}
	c.rules.Content = append(c.rules.Content, r)
	return true, len(c.rules.Content) - 1
}

// updateRule sets the fields of our rule, keeping the node (and its comments) when the value is
// already equal, comparing recipient lists as sets whatever their form (string or list).
func updateRule(r *yaml.Node, fields []ruleField) bool {
	changed := false
	for _, f := range fields {
		i := keyIndex(r, f.key)
		switch {
		case f.value == "" && i >= 0:
			r.Content = slices.Delete(r.Content, i, i+2)
			changed = true
		case f.value == "":
		case i < 0:
			r.Content = append(r.Content, scalar(f.key), scalar(f.value))
			changed = true
		case !sameList(nodeList(r.Content[i+1]), splitList(f.value)):
			r.Content[i+1] = scalar(f.value)
			changed = true
		}
	}
	return changed
}

// shadows returns a description of each rule before index that sops would pick for rel (a path
// relative to the folder of .sops.yaml) instead of ours.
func (c *sopsConfig) shadows(index int, rel string) []string {
	var out []string
	for i := 0; i < index && i < len(c.rules.Content); i++ {
		r := c.rules.Content[i]
		if r.Kind != yaml.MappingNode {
			continue
		}
		pr := ruleValue(r, "path_regex")
		if pr == "" {
			out = append(out, fmt.Sprintf("creation rule %d (no path_regex, matches every file)", i+1))
			continue
		}
		re, err := regexp.Compile(pr)
		if err == nil && re.MatchString(rel) {
			out = append(out, fmt.Sprintf("creation rule %d (path_regex %q)", i+1, pr))
		}
	}
	return out
}

func (c *sopsConfig) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func ruleValue(m *yaml.Node, key string) string {
	if i := keyIndex(m, key); i >= 0 && m.Content[i+1].Kind == yaml.ScalarNode {
		return m.Content[i+1].Value
	}
	return ""
}

// nodeList reads a recipient field: a comma-separated string or a list of strings.
func nodeList(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return splitList(n.Value)
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, splitList(c.Value)...)
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sameList(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// configPath is <out>/.sops.yaml.
func (p *Provider) configPath() string { return filepath.Join(p.out, configName) }
