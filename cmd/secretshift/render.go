package main

import (
	"encoding/json"

	"sigs.k8s.io/yaml"
)

// render writes v to stdout as JSON or YAML when -o asks for it, and otherwise calls table.
// The same value feeds all three, so the machine formats never drift from what people see.
func (f *factory) render(v any, table func() error) error {
	switch f.Output {
	case outputJSON:
		enc := json.NewEncoder(f.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = f.Out.Write(b)
		return err
	}
	return table()
}
