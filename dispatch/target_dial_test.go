package dispatch

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestDialCheckedLocalhost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	deny, _ := NewTargetPolicy(nil)
	if _, err := deny.DialChecked(ctx, "localhost:"+port, 10*time.Second); !errors.Is(err, ErrTargetRefused) {
		t.Fatalf("localhost dial = %v, want refused", err)
	}
	allow, _ := NewTargetPolicy([]string{"127.0.0.1", "::1"})
	c, err := allow.DialChecked(ctx, "localhost:"+port, 10*time.Second)
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}
