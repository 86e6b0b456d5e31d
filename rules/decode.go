package rules

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

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

func (d *decoder) value(v any, rv reflect.Value, path, where, key string) {
	bad := func(want string) {
		d.errorf(path, where, "%s must be %s, not %s", key, want, tomlType(v))
	}
	if rv.Type() == durationType {
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
			bad("a duration string (\"5s\")")
		}
		return
	}
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			bad("a string")
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			bad("a boolean")
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			bad("an integer")
			return
		}
		rv.SetInt(n)
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		d.value(v, p.Elem(), path, where, key)
		rv.Set(p)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a table")
			return
		}
		rv.Set(reflect.ValueOf(m))
	case reflect.Slice:
		et := rv.Type().Elem()
		if et.Kind() == reflect.Interface {
			list, ok := v.([]any)
			if !ok {
				bad("an array")
				return
			}
			rv.Set(reflect.ValueOf(list))
			return
		}
		if et.Kind() == reflect.Struct {
			list, ok := asTables(v)
			if !ok {
				bad("an array of tables")
				return
			}
			s := reflect.MakeSlice(rv.Type(), len(list), len(list))
			for i, m := range list {
				d.table(m, s.Index(i), path+sep+strconv.Itoa(i), where)
			}
			rv.Set(s)
			return
		}
		if s, ok := v.(string); ok && key == "method" {
			v = []any{s}
		}
		list, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(list), len(list))
		for i, e := range list {
			d.value(e, s.Index(i), path, where, key+"["+strconv.Itoa(i)+"]")
		}
		rv.Set(s)
	default:
		bad("a " + rv.Kind().String())
	}
}

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
