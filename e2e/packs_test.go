package e2e

import (
	"path/filepath"
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// TestPacksCompile loads every shipped pack as hooktap -check would, so that a pack cannot rot
// between e2e runs (this test needs no backend and always runs).
func TestPacksCompile(t *testing.T) {
	for _, name := range []string{"mediawiki", "tiddlywiki", "wordpress"} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load(filepath.Join("..", "packs", name+".toml"))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			m, err := rules.Compile(&f.File)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if m.Len() == 0 {
				t.Fatalf("compiled %d rules, want some", m.Len())
			}
		})
	}
}
