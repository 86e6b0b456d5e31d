package admin

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

//go:embed page.html
var pageHTML string

// pageTmpl is the web page; its only input is the event list, grouped by family.
var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// family is a group of events in the form: "page" holds page_created, page_moved, ...
type family struct {
	Name   string
	Events []string
}

// families groups events by the word before their first underscore, keeping their order.
func families(events []string) []family {
	var out []family
	idx := map[string]int{}
	for _, e := range events {
		f, _, _ := strings.Cut(e, "_")
		i, ok := idx[f]
		if !ok {
			i = len(out)
			idx[f] = i
			out = append(out, family{Name: f})
		}
		out[i].Events = append(out[i].Events, e)
	}
	return out
}

// renderPage renders the page once, at New.
func renderPage(events []string) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, struct{ Families []family }{families(events)}); err != nil {
		return nil, fmt.Errorf("admin: rendering the page: %w", err)
	}
	return b.Bytes(), nil
}

// servePage answers GET /: the web page. It loads nothing from elsewhere, so the policy
// forbids everything but itself.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Write(s.page)
}
