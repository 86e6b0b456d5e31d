package rules

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// decodeFile decodes the top-level sections into f; an unknown section is an error.
func (d *decoder) decodeFile(raw map[string]any, f *File) {
	for _, k := range d.keysOf("", raw) {
		v := raw[k]
		switch k {
		case "proxy":
			d.table(v, reflect.ValueOf(&f.Proxy).Elem(), "proxy", "[proxy]")
		case "admin":
			d.table(v, reflect.ValueOf(&f.Admin).Elem(), "admin", "[admin]")
		case "dispatch":
			d.table(v, reflect.ValueOf(&f.Dispatch).Elem(), "dispatch", "[dispatch]")
		case "classify":
			d.table(v, reflect.ValueOf(&f.Classify).Elem(), "classify", "[classify]")
		case "webhook":
			list, ok := asTables(v)
			if !ok {
				d.errorf("webhook", "", "webhook must be an array of tables ([[webhook]])")
				continue
			}
			f.Webhooks = make([]Webhook, len(list))
			for i, m := range list {
				p := "webhook" + sep + strconv.Itoa(i)
				where := "webhook #" + strconv.Itoa(i+1)
				if n, ok := m["name"].(string); ok && n != "" {
					where = "webhook " + strconv.Quote(n)
				}
				d.hookWhere = append(d.hookWhere, where)
				f.Webhooks[i].Line = d.line(p)
				d.table(m, reflect.ValueOf(&f.Webhooks[i]).Elem(), p, where)
			}
		case "rule":
			list, ok := asTables(v)
			if !ok {
				d.errorf("rule", "", "rule must be an array of tables ([[rule]])")
				continue
			}
			f.Rules = make([]Rule, len(list))
			for i, m := range list {
				p := "rule" + sep + strconv.Itoa(i)
				where := "rule #" + strconv.Itoa(i+1)
				if n, ok := m["name"].(string); ok && n != "" {
					where = "rule " + strconv.Quote(n)
				}
				d.ruleWhere = append(d.ruleWhere, where)
				f.Rules[i].Line = d.line(p)
				d.table(m, reflect.ValueOf(&f.Rules[i]).Elem(), p, where)
			}
		default:
			d.errorf(k, "", "unknown section %q", k)
		}
	}
}

// asTables returns v as a list of tables: an array of tables ([[x]]) or an array of inline
// tables (x = [{...}]).
func asTables(v any) ([]map[string]any, bool) {
	switch x := v.(type) {
	case []map[string]any:
		return x, true
	case []any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

var durationType = reflect.TypeOf(time.Duration(0))

// table decodes a TOML table into the struct rv by toml tags, strictly.
func (d *decoder) table(v any, rv reflect.Value, path, where string) {
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, where, "must be a table, not %s", tomlType(v))
		return
	}
	t := rv.Type()
	for _, k := range d.keysOf(path, m) {
		fi := -1
		for i := 0; i < t.NumField(); i++ {
			if tag := t.Field(i).Tag.Get("toml"); tag == k && tag != "-" {
				fi = i
				break
			}
		}
		kp := path + sep + k
		if fi < 0 {
			d.errorf(kp, where, "unknown key %q", k)
			continue
		}
		d.value(m[k], rv.Field(fi), kp, where, k)
	}
}

// value decodes the TOML value v of key into rv, strictly: a value of the wrong type is an
// error saying what key must be.
func (d *decoder) value(v any, rv reflect.Value, path, where, key string) {
	if rv.Type() == durationType {
		d.duration(v, rv, path, where, key)
		return
	}
	switch rv.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		d.scalar(v, rv, path, where, key)
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		d.value(v, p.Elem(), path, where, key)
		rv.Set(p)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			d.mistyped(v, path, where, key, "a table")
			return
		}
		rv.Set(reflect.ValueOf(m))
	case reflect.Slice:
		d.slice(v, rv, path, where, key)
	default:
		d.mistyped(v, path, where, key, "a "+rv.Kind().String())
	}
}

// mistyped reports that key holds v where it must hold want ("a string").
func (d *decoder) mistyped(v any, path, where, key, want string) {
	d.errorf(path, where, "%s must be %s, not %s", key, want, tomlType(v))
}

// duration decodes a time.Duration: a duration string ("5s", not negative) or an integer of
// nanoseconds.
func (d *decoder) duration(v any, rv reflect.Value, path, where, key string) {
	switch x := v.(type) {
	case string:
		dur, err := time.ParseDuration(x)
		if err != nil || dur < 0 {
			d.errorf(path, where, "%s: bad duration %q", key, x)
			return
		}
		rv.SetInt(int64(dur))
	case int64:
		rv.SetInt(x)
	default:
		d.mistyped(v, path, where, key, "a duration string (\"5s\")")
	}
}

// scalarTypes gives, for each scalar kind of field, the type of TOML value it takes and its
// name in errors.
var scalarTypes = map[reflect.Kind]struct {
	typ  reflect.Type
	name string
}{
	reflect.String: {reflect.TypeOf(""), "a string"},
	reflect.Bool:   {reflect.TypeOf(false), "a boolean"},
	reflect.Int:    {reflect.TypeOf(int64(0)), "an integer"},
	reflect.Int64:  {reflect.TypeOf(int64(0)), "an integer"},
}

// scalar decodes a string, boolean or integer field from a TOML value of that type.
func (d *decoder) scalar(v any, rv reflect.Value, path, where, key string) {
	want := scalarTypes[rv.Kind()]
	if reflect.TypeOf(v) != want.typ {
		d.mistyped(v, path, where, key, want.name)
		return
	}
	rv.Set(reflect.ValueOf(v).Convert(rv.Type()))
}

// slice decodes an array into a slice field: an array of any values ([]any), an array of
// tables (a slice of structs, each decoded as a table), or an array of scalars, each decoded
// as a value ("key[i]" in errors); a method may also be one string.
func (d *decoder) slice(v any, rv reflect.Value, path, where, key string) {
	switch rv.Type().Elem().Kind() {
	case reflect.Interface:
		list, ok := v.([]any)
		if !ok {
			d.mistyped(v, path, where, key, "an array")
			return
		}
		rv.Set(reflect.ValueOf(list))
	case reflect.Struct:
		list, ok := asTables(v)
		if !ok {
			d.mistyped(v, path, where, key, "an array of tables")
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(list), len(list))
		for i, m := range list {
			d.table(m, s.Index(i), path+sep+strconv.Itoa(i), where)
		}
		rv.Set(s)
	default:
		if s, ok := v.(string); ok && key == "method" {
			v = []any{s}
		}
		list, ok := v.([]any)
		if !ok {
			d.mistyped(v, path, where, key, "an array")
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(list), len(list))
		for i, e := range list {
			d.value(e, s.Index(i), path, where, key+"["+strconv.Itoa(i)+"]")
		}
		rv.Set(s)
	}
}

// tomlType names the TOML type of v, for errors ("an integer").
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}
