package dispatch

import (
	"errors"
	"testing"
)

func TestTargetPolicyRefuses(t *testing.T) {
	p, err := NewTargetPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{
		"169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal", "10.1.2.3",
		"192.168.0.1", "172.16.5.5", "0.0.0.0", "2130706433", "0x7f.1", "0177.0.0.1",
		"[::ffff:127.0.0.1]", "127.0.0.1", "[::1]", "[fe80::1]", "[fd12::1]", "127.1",
	} {
		if err := p.CheckHost(h); !errors.Is(err, ErrTargetRefused) {
			t.Errorf("CheckHost(%q) = %v, want refused", h, err)
		}
	}
	for _, h := range []string{"93.184.216.34", "example.com", "[2606:4700::1]", "8.8.8.8"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q) = %v, want allowed", h, err)
		}
	}
}

func TestTargetPolicyAllowList(t *testing.T) {
	p, err := NewTargetPolicy([]string{"127.0.0.1", "::1", "10.0.0.0/8", "metadata.google.internal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"127.0.0.1", "[::1]", "10.9.9.9", "2130706433", "metadata.google.internal"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q) = %v, want allowed", h, err)
		}
	}
	if err := p.CheckHost("192.168.1.1"); !errors.Is(err, ErrTargetRefused) {
		t.Errorf("192.168.1.1 not refused: %v", err)
	}
}
