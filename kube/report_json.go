package kube

import (
	"bufio"
	"encoding/json"
	"io"
	"runtime"

	"golang.org/x/sync/errgroup"
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

// jsonWindow is how many items writeItems encodes at once, in parallel, before writing them.
const jsonWindow = 1024

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
	// Encoding is most of the work (indentation is a second pass over each item's bytes):
	// a window of items is encoded on every core, then written in order.
	encoded := make([][]byte, min(len(items), jsonWindow))
	workers := runtime.GOMAXPROCS(0)
	for from := 0; from < len(items); from += jsonWindow {
		window := items[from:min(from+jsonWindow, len(items))]
		var g errgroup.Group
		for w := range workers {
			g.Go(func() error {
				for i := w; i < len(window); i += workers {
					b, err := json.MarshalIndent(&window[i], "    ", "  ")
					if err != nil {
						return err
					}
					encoded[i] = b
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for i, b := range encoded[:len(window)] {
			bw.WriteString("    ")
			bw.Write(b)
			if from+i < len(items)-1 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
		}
	}
	_, err := bw.WriteString("  ]")
	return err
}
