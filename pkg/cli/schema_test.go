package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
)

// Every -o json output that needs no running instance matches its schema
// in pkg/cli/schema, every key present (issue 10). The e2e tests check the
// outputs of running deployments (status, ports table live, top).
func TestJSONOutputsMatchTheirSchemas(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	tests := []struct {
		schema string
		args   []string
	}{
		{"version", []string{"version", "-o", "json"}},
		{"ports-table", []string{"ports", "table", "--instances", "3", "-o", "json"}},
		{"ports-table", []string{"ports", "table", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"check-conflicts", "--instances", "2", "-o", "json"}},
		// A refused up says why as check-conflicts does, never in text.
		{"check-conflicts", []string{"up", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		// So do the commands that refuse instances whose own ports clash.
		{"check-conflicts", []string{"generate", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"export", "systemd", "--out", "systemd-clash", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"export", "compose", "--out", "clash.yaml", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"generate", []string{"generate", "--instances", "2", "--base-offset", fmt.Sprint(a), "-o", "json"}},
		{"diff", []string{"diff", "-o", "json"}},
		{"status", []string{"status", "-o", "json"}},
		{"export", []string{"export", "kubernetes", "--out", "k8s", "-o", "json"}},
		{"export", []string{"export", "systemd", "--out", "systemd", "-o", "json"}},
		{"export", []string{"export", "compose", "--out", "compose.yaml", "-o", "json"}},
		{"export-prometheus", []string{"export", "prometheus", "--metrics", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			_, out, errOut := run(t, tt.args...)
			if out == "" {
				t.Fatalf("no output; stderr:\n%s", errOut)
			}
			jsonschematest.Validate(t, tt.schema, []byte(out))
		})
	}
}

// A key means one thing in every -o json output: the same name has the
// same JSON type (null aside) in every schema of pkg/cli/schema, so a
// script reads .ports or .pid alike whichever command printed it. inspect
// named its instances' inbound endpoint ports "ports", an array, where
// status and ports table have "ports", the object of the four roles.
func TestSchemasGiveEachKeyOneType(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("schema", "*.schema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in schema/: %v", err)
	}
	docs := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		docs[filepath.Base(f)] = doc
	}
	// jsonTypes are the JSON types a (sub)schema of file allows, null
	// left out, following $ref, oneOf, anyOf and enum.
	var jsonTypes func(file string, s map[string]any) []string
	jsonTypes = func(file string, s map[string]any) []string {
		var out []string
		if ref, ok := s["$ref"].(string); ok {
			target, pointer, _ := strings.Cut(ref, "#")
			if target == "" {
				target = file
			}
			node := any(docs[target])
			for _, part := range strings.Split(strings.Trim(pointer, "/"), "/") {
				node = node.(map[string]any)[part]
			}
			out = append(out, jsonTypes(target, node.(map[string]any))...)
		}
		switch typ := s["type"].(type) {
		case string:
			out = append(out, typ)
		case []any:
			for _, x := range typ {
				out = append(out, x.(string))
			}
		}
		for _, key := range []string{"oneOf", "anyOf", "allOf"} {
			subs, _ := s[key].([]any)
			for _, sub := range subs {
				out = append(out, jsonTypes(file, sub.(map[string]any))...)
			}
		}
		enum, _ := s["enum"].([]any)
		for _, v := range enum {
			switch v.(type) {
			case string:
				out = append(out, "string")
			case float64:
				out = append(out, "number")
			case bool:
				out = append(out, "boolean")
			}
		}
		out = slices.DeleteFunc(out, func(t string) bool { return t == "null" })
		slices.Sort(out)
		return slices.Compact(out)
	}
	// types: key -> its types -> where.
	types := map[string]map[string][]string{}
	var walk func(file, path string, node any)
	walk = func(file, path string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if props, ok := n["properties"].(map[string]any); ok {
				for key, sub := range props {
					typ := strings.Join(jsonTypes(file, sub.(map[string]any)), "|")
					if types[key] == nil {
						types[key] = map[string][]string{}
					}
					types[key][typ] = append(types[key][typ], file+path+"."+key)
				}
			}
			for k, v := range n {
				walk(file, path+"/"+k, v)
			}
		case []any:
			for _, v := range n {
				walk(file, path, v)
			}
		}
	}
	for file, doc := range docs {
		walk(file, "", doc)
	}
	// The roles are keys of maps by role, where each map says one thing
	// of every role: ports (a port) and live (who holds it).
	isRole := func(key string) bool {
		return slices.ContainsFunc(ports.Catalogue[:], func(s ports.Spec) bool { return s.Name == key })
	}
	for _, key := range slices.Sorted(maps.Keys(types)) {
		if len(types[key]) > 1 && !isRole(key) {
			t.Errorf("key %q has %d types: %v", key, len(types[key]), types[key])
		}
	}
}
