package kube

import (
	"bufio"
	"encoding/json"
	"io"
)

// WriteJSON writes r exactly as json.Encoder with SetIndent("", "  ") would, item by item: a
// report of 10,000 Secrets is never held in memory as one encoded buffer (twice, with the
// indentation pass).
func (r *Discovery) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fields := []struct {
		name  string
		value any
	}{
		{"apiVersion", r.APIVersion},
		{"kind", r.Kind},
		{"source", r.Source},
		{"items", nil},
		{"missingReferences", r.MissingReferences},
		{"errors", r.Errors},
		{"summary", r.Summary},
	}
	bw.WriteString("{\n")
	for i, f := range fields {
		bw.WriteString(`  "` + f.name + `": `)
		if f.name == "items" {
			if err := writeItems(bw, r.Items); err != nil {
				return err
			}
		} else {
			b, err := json.MarshalIndent(f.value, "  ", "  ")
			if err != nil {
				return err
			}
			bw.Write(b)
		}
		if i < len(fields)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

func writeItems(bw *bufio.Writer, items []Item) error {
	switch {
	case items == nil:
		_, err := bw.WriteString("null")
		return err
	case len(items) == 0:
		_, err := bw.WriteString("[]")
		return err
	}
	bw.WriteString("[\n")
	for i := range items {
		b, err := json.MarshalIndent(&items[i], "    ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString("    ")
		bw.Write(b)
		if i < len(items)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	_, err := bw.WriteString("  ]")
	return err
}
