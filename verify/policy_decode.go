package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// decodeStrict turns a YAML (or JSON) document into out, refusing unknown
// fields, fields spelled in another case and values of the wrong type, with
// the field path of the first problem. encoding/json alone would accept
// "Threshold" for "threshold" and name no path for an unknown field.
func decodeStrict(data []byte, out any) error {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPolicySyntax, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return fmt.Errorf("%w: %v", ErrPolicySyntax, err)
	}
	if generic == nil {
		return fmt.Errorf("%w: empty document", ErrMissingField)
	}
	if err := checkShape(generic, reflect.TypeOf(out).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(js, out); err != nil {
		// checkShape accepted it, so this is a value json cannot hold
		// (an integer out of range).
		return fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	return nil
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func describeJSON(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// checkShape walks a generic JSON value alongside the Go type it will be
// decoded into. null is accepted anywhere and means "not set".
func checkShape(v any, t reflect.Type, path string) error {
	if v == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	where := path
	if where == "" {
		where = "document"
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %w: expected a mapping, got %s", where, ErrFieldType, describeJSON(v))
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				known := make([]string, 0, len(fields))
				for name := range fields {
					known = append(known, name)
				}
				slices.Sort(known)
				return fmt.Errorf("%s: %w %q (this schema knows: %s)", joinPath(path, k), ErrUnknownField, k, strings.Join(known, ", "))
			}
			if err := checkShape(m[k], ft, joinPath(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %w: expected a list, got %s", where, ErrFieldType, describeJSON(v))
		}
		for i, e := range l {
			if err := checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %w: expected a string, got %s", where, ErrFieldType, describeJSON(v))
		}
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %w: expected an integer, got %s", where, ErrFieldType, describeJSON(v))
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			return fmt.Errorf("%s: %w: %s is not an integer in range", where, ErrInvalidValue, n)
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %w: expected true or false, got %s", where, ErrFieldType, describeJSON(v))
		}
		return nil
	}
	return fmt.Errorf("%s: %w: unsupported schema type %s", where, ErrFieldType, t)
}

// jsonFields lists the exported fields of t by their JSON names.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
