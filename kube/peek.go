package kube

import "bytes"

// peekSecret reads the namespace and name of a plain YAML Secret manifest without decoding it,
// so that a process of a sharded run passes over the Secrets of the other shards at the cost of
// one scan of their bytes instead of a YAML decode (most of the cost of reading a manifest). It
// answers only for documents in a strict subset of YAML, as kubectl and most tools write
// Secrets: block mappings of plain scalars, spaces for indentation, ASCII only, no comments,
// quotes, anchors, aliases, tags, flow collections, block scalars or lists; a top level with
// apiVersion: v1, kind: Secret and one metadata mapping whose first level names the Secret.
// Anything else gives ok false, and the document is decoded in full.
//
// The answer decides which shard owns the document, and every shard scans the same bytes, so
// all agree on it; the owning shard decodes the document in full and reports it as a problem if
// the decoder reads another namespace or name (checkPeek), so a document this reading gets
// wrong can never be passed over by every shard in silence.
func peekSecret(doc []byte) (namespace, name string, ok bool) {
	for _, c := range doc {
		if notPlain[c] {
			return "", "", false
		}
	}
	var kind, apiVersion, ns, nm []byte
	var seenKind, seenAPI, seenMeta, seenName, seenNS bool
	inMeta, metaIndent := false, -1
	for len(doc) > 0 {
		var line []byte
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			line, doc = doc, nil
		}
		text := bytes.TrimLeft(line, " ")
		if len(bytes.TrimRight(text, " ")) == 0 {
			continue
		}
		indent := len(line) - len(text)
		key, value, isKey := peekKeyValue(text)
		if !isKey {
			return "", "", false // a list item, a continued scalar, "..." or other YAML
		}
		if indent == 0 {
			inMeta = false
			switch string(key) {
			case "kind":
				kind, ok = value, !seenKind
				seenKind = true
			case "apiVersion":
				apiVersion, ok = value, !seenAPI
				seenAPI = true
			case "metadata":
				inMeta, ok = true, !seenMeta && len(value) == 0
				seenMeta = true
			default:
				ok = true
			}
			if !ok {
				return "", "", false
			}
			continue
		}
		if !inMeta {
			continue // below data, stringData, type: their lines are checked above, values not needed
		}
		if metaIndent < 0 {
			metaIndent = indent
		}
		switch {
		case indent < metaIndent:
			return "", "", false // inconsistent indentation
		case indent > metaIndent:
			continue // inside labels, annotations
		}
		switch string(key) {
		case "name":
			if seenName {
				return "", "", false
			}
			nm, seenName = value, true
		case "namespace":
			if seenNS {
				return "", "", false
			}
			ns, seenNS = value, true
		}
	}
	if string(kind) != "Secret" || string(apiVersion) != "v1" || !seenMeta || !dnsName(nm) || (seenNS && !dnsName(ns)) {
		return "", "", false
	}
	return string(ns), string(nm), true
}

// notPlain marks the bytes peekSecret refuses: what makes YAML other than plain block
// mappings (comments, quotes, anchors, aliases, tags, flow collections, block scalars,
// directives, escapes, tabs, carriage returns) and anything not ASCII.
var notPlain = func() (t [256]bool) {
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	for _, c := range []byte("\t\r#\"'&*!{}[]|>%@`\\") {
		t[c] = true
	}
	return t
}()

// peekKeyValue splits "key: value" or "key:" (a plain key of [A-Za-z0-9._/-]) from a line
// without its indentation; a plain value is what follows ": ", spaces trimmed.
func peekKeyValue(text []byte) (key, value []byte, ok bool) {
	i := bytes.IndexByte(text, ':')
	if i <= 0 || text[0] == '-' { // no key, or a list item
		return nil, nil, false
	}
	for _, c := range text[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return nil, nil, false
		}
	}
	rest := text[i+1:]
	if len(rest) > 0 && rest[0] != ' ' {
		return nil, nil, false
	}
	return text[:i], bytes.TrimSpace(rest), true
}

// dnsName reports whether s is a lowercase RFC 1123 name, as Secret names and namespaces are:
// a value that plain YAML reads as itself (no number, boolean or null).
func dnsName(s []byte) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9':
		case (c == '-' || c == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return letter
}
