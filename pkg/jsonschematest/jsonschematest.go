// Package jsonschematest checks mictl's -o json outputs against the JSON
// Schemas in pkg/cli/schema, which document them. Tests only: it links a
// JSON Schema validator, which the mictl binary has no use for.
package jsonschematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// dir is pkg/cli/schema, found from this file (tests run in their own
// package's directory).
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "cli", "schema")
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

// load compiles every schema of dir, once.
func load() (map[string]*jsonschema.Schema, error) {
	once.Do(func() {
		files, err := filepath.Glob(filepath.Join(dir(), "*.schema.json"))
		if err != nil || len(files) == 0 {
			loadErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		ids := map[string]string{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				loadErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				loadErr = err
				return
			}
			id := doc.(map[string]any)["$id"].(string)
			if err := c.AddResource(id, doc); err != nil {
				loadErr = err
				return
			}
			ids[strings.TrimSuffix(filepath.Base(f), ".schema.json")] = id
		}
		compiled = map[string]*jsonschema.Schema{}
		for name, id := range ids {
			s, err := c.Compile(id)
			if err != nil {
				loadErr = err
				return
			}
			compiled[name] = s
		}
	})
	return compiled, loadErr
}

// Validate fails t unless out (a command's -o json output) matches the
// schema called name (pkg/cli/schema/<name>.schema.json).
func Validate(t testing.TB, name string, out []byte) {
	t.Helper()
	if err := validate(name, out); err != nil {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, out, "", "  ")
		t.Fatalf("%v\noutput:\n%s", err, pretty.String())
	}
}

func validate(name string, out []byte) error {
	schemas, err := load()
	if err != nil {
		return fmt.Errorf("load the JSON schemas of %s: %w", dir(), err)
	}
	s, ok := schemas[name]
	if !ok {
		return fmt.Errorf("no schema %s.schema.json in %s", name, dir())
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return fmt.Errorf("%s output is not JSON: %w", name, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%s output does not match %s.schema.json:\n%w", name, name, err)
	}
	return nil
}
