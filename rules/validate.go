package rules

import "strings"

// validateClassify checks the limits and route_at paths of [classify]; its user and lookups
// are checked by compile.
func (d *decoder) validateClassify(c *ClassifySection) {
	if c.CacheSize < 0 {
		d.errorf("classify"+sep+"cache_size", "[classify]", "cache_size must not be negative")
	}
	if c.EachLookupLimit < 0 {
		d.errorf("classify"+sep+"each_lookup_limit", "[classify]", "each_lookup_limit must not be negative")
	}
	switch c.RepeatedParams {
	case "", "first", "last":
	default:
		d.errorf("classify"+sep+"repeated_params", "[classify]", "repeated_params must be \"first\" or \"last\", not %q", c.RepeatedParams)
	}
	for _, p := range c.RouteAt {
		if !strings.HasPrefix(p, "/") {
			d.errorf("classify"+sep+"route_at", "[classify]", "route_at path %q must start with '/'", p)
		}
	}
}
