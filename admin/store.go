package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// storeFile is the name of the webhook store inside the data directory.
const storeFile = "admin-webhooks.json"

// storeVersion is written in every store file; a file with another version is refused.
const storeVersion = 1

// storeDoc is the store file's content: the webhooks made through the API (secrets included,
// which is why the file is 0600) and the ids given to the rules file's webhooks, so that an id
// stays the same across restarts and reorderings of the file.
type storeDoc struct {
	Version  int              `json:"version"`
	NextID   int64            `json:"nextId"`
	FileIDs  map[string]int64 `json:"fileIds"`
	Webhooks []storedHook     `json:"webhooks"`
}

// storedHook is one API-made webhook as kept on disk.
type storedHook struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
	// PreviousSecret is the secret being rotated out: deliveries carry a signature with each.
	PreviousSecret string   `json:"previousSecret,omitempty"`
	Events         []string `json:"events"`
	Active         bool     `json:"active"`
	Payload        string   `json:"payload,omitempty"`
	Created        int64    `json:"createdDate"`
	Updated        int64    `json:"updatedDate"`
}

// store reads and writes the store file. A zero path keeps nothing (memory only).
type store struct {
	path string // "" = not persisted
}

// load reads the store; a missing file is an empty store.
func (st store) load() (storeDoc, error) {
	doc := storeDoc{Version: storeVersion, NextID: 1, FileIDs: map[string]int64{}}
	if st.path == "" {
		return doc, nil
	}
	b, err := os.ReadFile(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("admin: reading webhook store: %w", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("admin: reading webhook store %s: %w", st.path, err)
	}
	if doc.Version != storeVersion {
		return doc, fmt.Errorf("admin: webhook store %s has version %d, want %d", st.path, doc.Version, storeVersion)
	}
	if doc.FileIDs == nil {
		doc.FileIDs = map[string]int64{}
	}
	if doc.NextID < 1 {
		doc.NextID = 1
	}
	return doc, nil
}

// save writes doc atomically: a temporary file in the same directory, written and synced,
// renamed over the store, then the directory synced so that the rename itself is durable.
func (st store) save(doc storeDoc) error {
	if st.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("admin: encoding webhook store: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(st.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("admin: creating data directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+storeFile+".*.tmp") // mode 0600: the file holds secrets
	if err != nil {
		return fmt.Errorf("admin: writing webhook store: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("admin: writing webhook store: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("admin: writing webhook store: %w", err)
	}
	if err := os.Rename(tmp, st.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("admin: writing webhook store: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("admin: syncing data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("admin: syncing data directory: %w", err)
	}
	return nil
}
