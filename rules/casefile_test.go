package rules_test

import (
	"strings"
	"testing"

	"hooktap/rules"
)

// TestParseCaseErrors checks that a bad case file is reported with its name and line.
func TestParseCaseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"x\n", `rules: c.txt: no "---- exchanges" line`},
		{"x\n---- exchanges\nGET /a\n\n=> 200\n====\nPOST /b\n\nbody\n", `rules: c.txt:7: exchange "/b" has no => STATUS line`},
		{"x\n---- exchanges\nupstream GET /l => ok {}\nGET /a\n\n=> 200\n", `rules: c.txt:3: bad upstream line "upstream GET /l => ok {}": status "ok" is not a number`},
		{"x\n---- exchanges\nGET /a\n\n=> 2x\n", `rules: c.txt:5: bad status line "=> 2x"`},
	} {
		_, err := rules.ParseCase("c.txt", []byte(c.src))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.src, err, c.want)
		}
	}
	if !strings.HasPrefix(rules.CaseEvents, "---- ") {
		t.Fatal("separator")
	}
}
