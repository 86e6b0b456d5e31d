package rules

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// tables decodes the array of tables v ([[key]]) into the slice *dst points to, each
// element strictly as a table, and sets each element's Line field (when it has one) to the
// line of its [[key]]. It returns each element's name for errors: `key "name"`, or
// "key #n" for an element without a name.
func (d *decoder) tables(v any, dst any, key string) []string {
	list, ok := asTables(v)
	if !ok {
		d.errorf(key, "", "%s must be an array of tables ([[%s]])", key, key)
		return nil
	}
	sv := reflect.ValueOf(dst).Elem()
	sv.Set(reflect.MakeSlice(sv.Type(), len(list), len(list)))
	wheres := make([]string, len(list))
	for i, m := range list {
		p := key + sep + strconv.Itoa(i)
		wheres[i] = elemWhere(key, i, m["name"])
		ev := sv.Index(i)
		if lf := ev.FieldByName("Line"); lf.IsValid() && lf.Kind() == reflect.Int {
			lf.SetInt(int64(d.line(p)))
		}
		d.table(m, ev, p, wheres[i])
	}
	return wheres
}

// elemWhere names element i of the array of tables key in errors: by its name when it is a
// non-empty string (`webhook "chat"`), else by its number ("webhook #3").
func elemWhere(key string, i int, name any) string {
	if n, ok := name.(string); ok && n != "" {
		return key + " " + strconv.Quote(n)
	}
	return key + " #" + strconv.Itoa(i+1)
}

// reflectValue returns the struct that the pointer p points to, for table.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

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

// duration decodes a time.Duration: a duration string ("5s") or an integer of nanoseconds,
// neither negative.
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
		if x < 0 {
			d.errorf(path, where, "%s must not be negative", key)
			return
		}
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
