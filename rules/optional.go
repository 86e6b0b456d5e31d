package rules

import "strings"

// A last path template segment "{name*}" is a catch-all that may be empty: it matches what
// "{name...}" matches and also the path without that segment. "/index.php/{title*}" matches
// "/index.php" (path.title missing) and "/index.php/Main_Page" (path.title "Main_Page"), the
// two ways MediaWiki's index.php is addressed (with the title in the query, or as path
// info).

// optionalRest reports whether the template name (inside the braces) ends in '*', and
// strips it.
func optionalRest(name *string) bool {
	n, ok := strings.CutSuffix(*name, "*")
	if ok {
		*name = n
	}
	return ok
}
